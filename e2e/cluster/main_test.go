// Package cluster tests instances sharing rooms through a real Redis: a
// call across two instances, the race for a room's last seat, an instance
// killed, Redis restarted.
package cluster

import (
	"os"
	"testing"

	"tandem/e2e/harness"
)

// tandem is the binary TestMain built for the tests to start.
var tandem harness.Binary

func TestMain(m *testing.M) { os.Exit(harness.Main(m, &tandem)) }
