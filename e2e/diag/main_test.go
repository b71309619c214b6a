// Package diag tests the connection test page (/diag) in headless
// Chromium on this machine's loopback network, where every check must
// pass; its verdicts on networks that block UDP or pass only HTTPS are
// tested in package e2e/connectivity.
package diag

import (
	"os"
	"testing"

	"tandem/e2e/harness"
)

// tandem is the binary TestMain built for the tests to start.
var tandem harness.Binary

func TestMain(m *testing.M) { os.Exit(harness.Main(m, &tandem)) }
