package connectivity

import (
	"flag"
	"os"
	"testing"

	"tandem/e2e/harness"
	"tandem/e2e/netlab"
)

// tandem is the binary TestMain built, or "" when the lab is unavailable
// (the tests then skip before they need it).
var tandem harness.Binary

// TestMain turns the test binary into a peer process when envPeer says so
// (see runPeer); otherwise it builds the tandem binary once, when a lab can
// be made, and runs the tests.
func TestMain(m *testing.M) {
	if roomURL := os.Getenv(envPeer); roomURL != "" {
		os.Exit(runPeer(roomURL))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() || netlab.Available() != nil {
		return m.Run() // every lab test skips, or fails under CI=true
	}
	return harness.Main(m, &tandem)
}
