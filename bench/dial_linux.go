package bench

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT on a client socket bound to a
// chosen source address: the kernel then picks the source port at connect
// time, by the whole 4-tuple, instead of at bind time by scanning for a
// port no other socket uses, which grows slow with tens of thousands of
// connections and soon runs out.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var sockErr error
	if err := c.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return sockErr
}
