//go:build !linux

package turn

import "syscall"

// reusePortSupported says whether several UDP sockets can share the TURN
// port here: on this system the server uses one.
const reusePortSupported = false

func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
