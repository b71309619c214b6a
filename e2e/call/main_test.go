// Package call tests calls between real browsers (Chromium and Firefox)
// through a whole Tandem: directly and through the relay, after reloads,
// and across failures (signaling cut, server restart, a peer vanishing, a
// lost offer, a duplicated tab).
package call

import (
	"os"
	"testing"

	"tandem/e2e/harness"
)

// tandem is the binary TestMain built for the tests to start.
var tandem harness.Binary

func TestMain(m *testing.M) { os.Exit(harness.Main(m, &tandem)) }
