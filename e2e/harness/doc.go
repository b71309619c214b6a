// Package harness is what the end-to-end tests share: a tandem binary
// built once per test binary and started as a process (Server), a proxy
// that cuts connections the way a network failure does (CutProxy), one
// TURN allocation (Allocate), and browser tabs of Chromium and Firefox
// behind one Page interface with the waits every test needs (Join,
// WaitState, RemoteVideoPlays, SelectedPair). Their signaling client is
// signaling/wire/wiretest.
//
// A test package uses it from its TestMain:
//
//	var tandem harness.Binary
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m, &tandem)) }
//
// Tests that need a browser, Redis or root skip without it, and fail
// instead under CI=true, where everything must run.
package harness
