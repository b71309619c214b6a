package bench

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// rawTURN is a minimal TURN client over UDP, TCP or TLS (RFC 8656): it
// allocates a relay with long-term credentials, binds one channel to one
// peer, and then sends and receives ChannelData on its connection
// directly. It does what a browser's data path does and no more, so that
// the load generator spends little CPU per datagram; pion's client hands
// every datagram through goroutines and channels, which on a small machine
// costs more than the server under test.
type rawTURN struct {
	conn   net.Conn      // connected to the server
	stream *bufio.Reader // reads conn over TCP and TLS, where frames must be found; nil over UDP
	user   string
	key    stun.MessageIntegrity // long-term key, once the realm is known
	realm  stun.Realm
	nonce  stun.Nonce
	relay  net.UDPAddr // the allocation's relayed address
}

// channel is the one channel number the bench binds.
const channel = 0x4000

var errTURN = errors.New("bench: TURN request failed")

// Transports a TURN client reaches its server over.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// dialTransport connects to a TURN server at host:port over transport.
func dialTransport(server, transport string) (net.Conn, error) {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	switch transport {
	case TransportUDP:
		conn, err := dialer.Dial("udp4", server)
		if err != nil {
			return nil, fmt.Errorf("bench: client socket: %w", err)
		}
		uc := conn.(*net.UDPConn) // Dial's documented type for "udp4"
		_ = uc.SetReadBuffer(1 << 20)
		_ = uc.SetWriteBuffer(1 << 20)
		return uc, nil
	case TransportTCP:
		conn, err := dialer.Dial("tcp4", server)
		if err != nil {
			return nil, fmt.Errorf("bench: TCP connection: %w", err)
		}
		return conn, nil
	case TransportTLS:
		// A benchmark measures; it does not authenticate the server, whose
		// certificate is self-signed.
		conn, err := tls.DialWithDialer(dialer, "tcp4", server, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec
		if err != nil {
			return nil, fmt.Errorf("bench: TLS connection: %w", err)
		}
		return conn, nil
	}
	return nil, fmt.Errorf("bench: unknown transport %q (udp, tcp or tls)", transport)
}

// dialTURN connects over transport and allocates a relay with TURN REST
// API credentials for user.
func dialTURN(server, transport, secret, user string) (*rawTURN, error) {
	username, password, err := turn.GenerateLongTermTURNRESTCredentials(secret, user, time.Hour)
	if err != nil {
		return nil, fmt.Errorf("bench: credentials: %w", err)
	}
	conn, err := dialTransport(server, transport)
	if err != nil {
		return nil, err
	}
	c := &rawTURN{conn: conn, user: username}
	if transport != TransportUDP {
		c.stream = bufio.NewReaderSize(conn, 64<<10)
	}

	// The first Allocate is refused with 401 and the realm and nonce.
	res, err := c.do(stun.MethodAllocate, nil, requestedUDP)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if res.Type.Class != stun.ClassErrorResponse || c.realm.GetFrom(res) != nil || c.nonce.GetFrom(res) != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%w: allocate without credentials: %s", errTURN, res.Type)
	}
	c.key = stun.NewLongTermIntegrity(username, c.realm.String(), password)
	res, err = c.do(stun.MethodAllocate, c.auth(), requestedUDP)
	if err == nil && res.Type.Class != stun.ClassSuccessResponse {
		err = fmt.Errorf("%w: allocate: %s", errTURN, errorText(res))
	}
	var relayed stun.XORMappedAddress
	if err == nil {
		err = relayed.GetFromAs(res, stun.AttrXORRelayedAddress)
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	c.relay = net.UDPAddr{IP: relayed.IP, Port: relayed.Port}
	return c, nil
}

// bind binds the channel to peer, which also permits it.
func (c *rawTURN) bind(peer *net.UDPAddr) error {
	res, err := c.do(stun.MethodChannelBind, c.auth(),
		stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{channel >> 8, channel & 0xff, 0, 0}},
		setterFunc(func(m *stun.Message) error {
			return stun.XORMappedAddress{IP: peer.IP, Port: peer.Port}.AddToAs(m, stun.AttrXORPeerAddress)
		}))
	if err != nil {
		return err
	}
	if res.Type.Class != stun.ClassSuccessResponse {
		return fmt.Errorf("%w: channel bind: %s", errTURN, errorText(res))
	}
	return nil
}

// close deletes the allocation (a Refresh with lifetime 0) and the socket.
func (c *rawTURN) close() {
	_ = c.conn.SetReadDeadline(time.Time{})
	_, _ = c.do(stun.MethodRefresh, c.auth(), stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}})
	_ = c.conn.Close()
}

// auth are the attributes of an authenticated request, but for the
// integrity, which must come last.
func (c *rawTURN) auth() []stun.Setter {
	return []stun.Setter{stun.NewUsername(c.user), c.realm, c.nonce}
}

// readFrame reads one datagram over UDP, or one whole TURN frame (a STUN
// message, or ChannelData with its padding) over TCP and TLS.
func (c *rawTURN) readFrame(buf []byte) (int, error) {
	if c.stream == nil {
		return c.conn.Read(buf)
	}
	hdr, err := c.stream.Peek(4)
	if err != nil {
		return 0, err
	}
	size := 4 + (int(binary.BigEndian.Uint16(hdr[2:]))+3)&^3 // ChannelData
	if hdr[0]&0xC0 == 0 {
		size = 20 + int(binary.BigEndian.Uint16(hdr[2:])) // STUN
	}
	if size > len(buf) {
		return 0, fmt.Errorf("%w: a %d-byte frame", errTURN, size)
	}
	return io.ReadFull(c.stream, buf[:size])
}

// do sends one request, retransmitting it over UDP as RFC 8489 §6.2.1
// says, and returns its response. What is not that response is dropped.
func (c *rawTURN) do(method stun.Method, auth []stun.Setter, attrs ...stun.Setter) (*stun.Message, error) {
	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
	setters = append(setters, auth...)
	if auth != nil {
		setters = append(setters, c.key)
	}
	req, err := stun.Build(append(setters, stun.Fingerprint)...)
	if err != nil {
		return nil, fmt.Errorf("bench: build %s: %w", method, err)
	}
	buf := make([]byte, 1500)
	rto, tries := 200*time.Millisecond, 6
	if c.stream != nil {
		rto, tries = 5*time.Second, 1 // a stream loses nothing
	}
	for range tries {
		if _, err := c.conn.Write(req.Raw); err != nil {
			return nil, fmt.Errorf("bench: send %s: %w", method, err)
		}
		deadline := time.Now().Add(rto)
		rto *= 2
		_ = c.conn.SetReadDeadline(deadline)
		for {
			n, err := c.readFrame(buf)
			if err != nil {
				break // timed out: retransmit
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if res.Decode() == nil && res.TransactionID == req.TransactionID {
				_ = c.conn.SetReadDeadline(time.Time{})
				return res, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s: no answer", errTURN, method)
}

// channelData frames payload for the bound channel into buf, which must
// have room for 4 more bytes and the padding to a multiple of 4.
func channelData(buf, payload []byte) []byte {
	binary.BigEndian.PutUint16(buf[0:], channel)
	binary.BigEndian.PutUint16(buf[2:], uint16(len(payload)))
	n := 4 + copy(buf[4:], payload)
	for n%4 != 0 {
		buf[n] = 0
		n++
	}
	return buf[:n]
}

// channelPayload returns the payload of a ChannelData message of the bound
// channel, or false for anything else.
func channelPayload(msg []byte) ([]byte, bool) {
	if len(msg) < 4 || binary.BigEndian.Uint16(msg) != channel {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(msg[2:]))
	if 4+n > len(msg) {
		return nil, false
	}
	return msg[4 : 4+n], true
}

var requestedUDP = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

type setterFunc func(m *stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

func errorText(m *stun.Message) string {
	var ec stun.ErrorCodeAttribute
	if ec.GetFrom(m) != nil {
		return m.Type.String()
	}
	return fmt.Sprintf("%d %s", ec.Code, ec.Reason)
}
