// Package relay tests the bundled TURN relay of a whole Tandem with
// clients nobody here wrote: coturn's turnutils_uclient, and a call
// between two Pion peers forced through the relay.
package relay

import (
	"os"
	"testing"

	"tandem/e2e/harness"
)

// tandem is the binary TestMain built for the tests to start.
var tandem harness.Binary

func TestMain(m *testing.M) { os.Exit(harness.Main(m, &tandem)) }
