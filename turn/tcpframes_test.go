package turn

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// trickle reads its data in pieces of at most n bytes.
type trickle struct {
	data []byte
	n    int
}

func (r *trickle) read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// replies is a net.Conn that keeps what is written to it.
type replies struct {
	net.Conn
	written bytes.Buffer
}

func (c *replies) Write(p []byte) (int, error) { return c.written.Write(p) }
func (c *replies) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 40000}
}

// TestTCPFramesFilter: whatever pieces the stream arrives in, pion gets it
// whole but for the refused ChannelBind, which is answered instead.
func TestTCPFramesFilter(t *testing.T) {
	key := stun.NewLongTermIntegrity("alice", "tandem", "pass")
	guard := &bindGuard{
		policy: newPeerPolicy(netip.MustParseAddr("203.0.113.10"), nil),
		auth: func(*turn.RequestAttributes) (string, []byte, bool) {
			return "alice", key, true
		},
	}
	channelBind := func(ip string, port int) []byte {
		m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
			stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{0x40, 0x01, 0, 0}}, peer(ip, port),
			stun.NewUsername("alice"), stun.NewRealm("tandem"), stun.NewNonce("n"), key)
		return m.Raw
	}
	binding := stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw
	channelData := []byte{0x40, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0} // padded to 4
	allowed := channelBind("198.51.100.9", 5000)
	refused := channelBind("203.0.113.10", 3478) // the server's own address, no relay there

	for _, tt := range []struct {
		name     string
		stream   [][]byte
		want     [][]byte
		answered int
	}{
		{"frames pass", [][]byte{binding, channelData, allowed}, [][]byte{binding, channelData, allowed}, 0},
		{"refused bind answered", [][]byte{binding, refused, channelData}, [][]byte{binding, channelData}, 1},
		{"not TURN: passed on unexamined", [][]byte{[]byte("\xff\xfe garbage"), refused}, [][]byte{[]byte("\xff\xfe garbage"), refused}, 0},
	} {
		for _, piece := range []int{1, 3, 7, 4096} {
			var f tcpFrames
			src := &trickle{data: bytes.Join(tt.stream, nil), n: piece}
			conn := &replies{}
			var got []byte
			buf := make([]byte, 100)
			for {
				n, err := f.readFiltered(buf, conn, guard, src.read)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			if want := bytes.Join(tt.want, nil); !bytes.Equal(got, want) {
				t.Errorf("%s, pieces of %d: pion got %x, want %x", tt.name, piece, got, want)
			}
			answers := 0
			for rest := conn.written.Bytes(); len(rest) >= 20; answers++ {
				m := &stun.Message{Raw: rest}
				if err := m.Decode(); err != nil {
					t.Fatal(err)
				}
				if errorCode(m) != 403 {
					t.Errorf("%s: answered %d, want 403", tt.name, errorCode(m))
				}
				rest = rest[20+int(m.Length):]
			}
			if answers != tt.answered {
				t.Errorf("%s, pieces of %d: %d answers, want %d", tt.name, piece, answers, tt.answered)
			}
		}
	}
}
