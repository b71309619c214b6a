// Package features tests what people do in a call besides talking, in
// headless Chromium: check the verification code (and catch a server in
// the middle), send files, switch to audio only or data saver, and record.
package features

import (
	"os"
	"testing"

	"tandem/e2e/harness"
)

// tandem is the binary TestMain built for the tests to start.
var tandem harness.Binary

func TestMain(m *testing.M) { os.Exit(harness.Main(m, &tandem)) }
