// Package ui tests the call experience in headless Chromium: lobby,
// controls, what the other side sees, chat, screen share, devices,
// quality, languages, phone layout, and the screenshots in
// test-output/screenshots.
package ui

import (
	"os"
	"testing"

	"tandem/e2e/harness"
)

// tandem is the binary TestMain built for the tests to start.
var tandem harness.Binary

func TestMain(m *testing.M) { os.Exit(harness.Main(m, &tandem)) }
