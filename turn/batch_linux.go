package turn

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listenerBatch is how many datagrams a TURN listener takes per system
// call: under load it finds several queued (5 to 7 on average at 50,000
// datagrams a second per socket). Relay sockets are read one datagram at a
// time: batching them cut system calls further but no CPU time measurably,
// for 8 KiB more per allocation.
const listenerBatch = 8

// batchBufSize holds any datagram pion/turn accepts (it drops those of
// 1600 bytes or more as possibly truncated).
const batchBufSize = 2048

// mmsghdr is struct mmsghdr of recvmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// batchReader reads a UDP socket with recvmmsg(2), several datagrams per
// system call, and hands them out one by one. It is owned by the one
// goroutine that reads the socket.
type batchReader struct {
	rc         syscall.RawConn
	msgs       []mmsghdr
	iovs       []unix.Iovec
	names      []unix.RawSockaddrInet6
	bufs       [][batchBufSize]byte
	next, have int // msgs[next:have] are still to be handed out

	// recv is b.recvmmsg, made once: a closure or method value made per
	// read would be allocated per read. It leaves its result in got and
	// errno.
	recv  func(fd uintptr) bool
	got   int
	errno syscall.Errno
}

// newBatchReader reads c up to n datagrams at a time.
func newBatchReader(c *net.UDPConn, n int) *batchReader {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	b := &batchReader{rc: rc, msgs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n), bufs: make([][batchBufSize]byte, n)}
	b.recv = b.recvmmsg
	for i := range b.msgs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(batchBufSize)
		b.msgs[i].hdr.Iov = &b.iovs[i]
		b.msgs[i].hdr.SetIovlen(1)
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	return b
}

// read copies the next datagram into p, truncating it as ReadFrom does.
func (b *batchReader) read(p []byte) (int, netip.AddrPort, error) {
	if b.next == b.have {
		if err := b.fill(); err != nil {
			return 0, netip.AddrPort{}, err
		}
	}
	m := &b.msgs[b.next]
	n := copy(p, b.bufs[b.next][:min(int(m.len), batchBufSize)])
	ap := sockaddrAddrPort(&b.names[b.next], m.hdr.Namelen)
	b.next++
	return n, ap, nil
}

func (b *batchReader) fill() error {
	for i := range b.msgs {
		b.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet6
	}
	err := b.rc.Read(b.recv)
	if err == nil && b.errno != 0 {
		err = &net.OpError{Op: "read", Net: "udp", Err: b.errno}
	}
	if err != nil {
		return err
	}
	b.next, b.have = 0, b.got
	return nil
}

// recvmmsg is the read function of b.rc.Read: false asks it to wait until
// the socket is readable.
func (b *batchReader) recvmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(len(b.msgs)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		b.got, b.errno = int(r), e
		if e != 0 {
			b.got = 0
		}
		return true
	}
}

// sockaddrAddrPort decodes a sockaddr_in or sockaddr_in6 written by the
// kernel.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6, n uint32) netip.AddrPort {
	port := func(p uint16) uint16 {
		b := (*[2]byte)(unsafe.Pointer(&p))
		return uint16(b[0])<<8 | uint16(b[1])
	}
	switch {
	case sa.Family == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port(sa4.Port))
	case sa.Family == unix.AF_INET6 && n >= unix.SizeofSockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			ip = ip.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(ip, port(sa.Port))
	}
	return netip.AddrPort{}
}
