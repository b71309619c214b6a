package turn

import (
	"encoding/binary"
	"net"
)

// frameReadSize is how much a tcpConn asks the socket for at once.
const frameReadSize = 4096

// tcpFrames is the part of a TURN-over-TCP stream read from the socket and
// not yet handed to pion, split into frames the way pion's STUNConn splits
// it, so that whole STUN messages can be looked at. Owned by the reader.
type tcpFrames struct {
	store  []byte // the buffer, reused
	buf    []byte // the part of store read and not yet handed on
	ready  int    // buf[:ready] has been looked at and may be handed on
	broken bool   // the stream is not TURN framing: hand it on unexamined
}

// frameSize returns the size of the TURN frame at the start of b: a STUN
// message, or ChannelData padded to four bytes as on a stream. It returns
// 0 when b holds too little to tell, and -1 when b starts with neither.
func frameSize(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	length := int(binary.BigEndian.Uint16(b[2:4]))
	switch {
	case b[0]&0xC0 == 0:
		if len(b) < 8 {
			return 0
		}
		if binary.BigEndian.Uint32(b[4:8]) != 0x2112A442 {
			return -1
		}
		return 20 + length
	case b[0] >= 0x40 && b[0] <= 0x7F:
		return 4 + (length+3)&^3
	}
	return -1
}

// readFiltered reads the stream as pion would, less the ChannelBind
// requests that guard refuses: those are answered on conn and dropped.
// read reads from the socket.
func (f *tcpFrames) readFiltered(p []byte, conn net.Conn, guard *bindGuard, read func([]byte) (int, error)) (int, error) {
	for {
		if f.ready > 0 {
			n := copy(p, f.buf[:f.ready])
			f.consume(n)
			return n, nil
		}
		if f.broken && len(f.buf) > 0 {
			f.ready = len(f.buf)
			continue
		}
		if f.broken {
			return read(p)
		}
		if size := frameSize(f.buf); size < 0 {
			f.broken = true
			continue
		} else if size > 0 && len(f.buf) >= size {
			if reply := guard.refusal(f.buf[:size], conn.RemoteAddr()); reply != nil {
				_, _ = conn.Write(reply)
				f.consume(size)
				continue
			}
			f.ready = size
			continue
		}
		if err := f.fill(read); err != nil {
			return 0, err
		}
	}
}

// fill reads more of the stream into buf, moving it to the front of
// store, or to a larger store, when too little room is left behind it.
func (f *tcpFrames) fill(read func([]byte) (int, error)) error {
	if cap(f.buf)-len(f.buf) < frameReadSize {
		if len(f.buf)+frameReadSize > cap(f.store) {
			f.store = make([]byte, 0, len(f.buf)+frameReadSize)
		}
		f.buf = f.store[:copy(f.store[:len(f.buf)], f.buf)]
	}
	n, err := read(f.buf[len(f.buf):cap(f.buf)])
	f.buf = f.buf[:len(f.buf)+n]
	if n > 0 {
		return nil
	}
	return err
}

// consume drops the first n bytes of buf, all of them looked at.
func (f *tcpFrames) consume(n int) {
	f.buf = f.buf[n:]
	f.ready = max(f.ready-n, 0)
	if len(f.buf) == 0 {
		f.buf = f.store[:0]
	}
}
