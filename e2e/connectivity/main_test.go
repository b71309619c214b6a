package connectivity

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"tandem/e2e/netlab"
)

// tandemBin is the tandem binary TestMain built, or "" when the lab is
// unavailable (the tests then skip before they need it).
var tandemBin string

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
	dir, err := os.MkdirTemp("", "tandem-connectivity-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tandemBin = filepath.Join(dir, "tandem")
	build := exec.Command("go", "build", "-o", tandemBin, "tandem/cmd/tandem")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "connectivity: build tandem: %v\n", err)
		return 1
	}
	return m.Run()
}
