package turn

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpSocket is a UDP socket taken out of Go's poller, for the data plane
// to wait on with epoll and to read and write in batches. Its system calls
// never block (the socket is non-blocking): a datagram that does not fit
// the send buffer is dropped, as a router drops it.
type udpSocket struct {
	mu   sync.RWMutex // read-locked around every use of fd; write-locked to close it
	fd   int          // -1 once closed
	loop *pollLoop    // set by pollLoop.add, under mu

	// Static after construction.
	v6    bool         // AF_INET6: IPv4 peers are written IPv4-mapped
	local *net.UDPAddr // with a 16-byte IP (see addrCache)
}

// detach takes c's socket from Go's poller: it keeps a duplicate of the
// descriptor and closes c, which removes c's from the poller.
func detach(c *net.UDPConn) (*udpSocket, error) {
	defer c.Close()
	local := c.LocalAddr().(*net.UDPAddr)
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("turn: detach socket: %w", err)
	}
	fd, sockErr := -1, error(nil)
	if err := raw.Control(func(orig uintptr) {
		fd, sockErr = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("turn: detach socket: %w", err)
	}
	if sockErr != nil {
		return nil, fmt.Errorf("turn: detach socket: %w", sockErr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("turn: detach socket: %w", err)
	}
	s := &udpSocket{fd: fd, local: local}
	if ap := local.AddrPort(); ap.IsValid() {
		s.local = udpAddr(ap)
	}
	if sa, err := unix.Getsockname(fd); err == nil {
		_, s.v6 = sa.(*unix.SockaddrInet6)
	}
	return s, nil
}

// writeTo sends one datagram.
func (s *udpSocket) writeTo(b []byte, to netip.AddrPort) error {
	var sa unix.RawSockaddrInet6
	salen := putSockaddr(&sa, mapped(to, s.v6))
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return net.ErrClosed
	}
	_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(p), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&sa)), uintptr(salen))
	if errno != 0 && errno != unix.EAGAIN {
		return fmt.Errorf("turn: send: %w", errno)
	}
	return nil
}

// recvmmsg reads up to len(hdrs) datagrams without waiting. It reports
// whether the socket may hold more: it filled hdrs, or it failed other
// than for want of datagrams (a pending ICMP error, an interrupt), and
// must be read again.
func (s *udpSocket) recvmmsg(hdrs []unix.Mmsghdr) (n int, more bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return 0, false
	}
	r, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&hdrs[0])),
		uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno != unix.EAGAIN
	}
	return int(r), int(r) == len(hdrs)
}

// sendmmsg sends the datagrams of hdrs; what the send buffer cannot take
// is dropped.
func (s *udpSocket) sendmmsg(hdrs []unix.Mmsghdr) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for len(hdrs) > 0 && s.fd >= 0 {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&hdrs[0])),
			uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.ENOBUFS:
			return // the send buffer is full: the rest is dropped, as a full queue drops
		default:
			n = 1 // the first datagram's destination failed: drop it, send the rest
		}
		hdrs = hdrs[n:]
	}
}

// close stops the loop reading s, then closes it.
func (s *udpSocket) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	if s.loop != nil {
		s.loop.forget(s.fd)
	}
	err := unix.Close(s.fd)
	s.fd = -1
	if err != nil {
		return fmt.Errorf("turn: close socket: %w", err)
	}
	return nil
}

// putSockaddr writes ap into sa, in the family of ap's address, and
// returns its length.
func putSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort) uint32 {
	if ap.Addr().Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ap.Addr().As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:], ap.Port())
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ap.Addr().As16()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
	return unix.SizeofSockaddrInet6
}

// sockaddrAddrPort reads the address a datagram came from, unmapped.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6) (netip.AddrPort, bool) {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port), true
	case unix.AF_INET6:
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port), true
	}
	return netip.AddrPort{}, false
}
