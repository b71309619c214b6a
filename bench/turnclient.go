package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// rawTURN is a minimal TURN client over UDP (RFC 8656): it allocates a
// relay with long-term credentials, binds one channel to one peer, and then
// sends and receives ChannelData on its socket directly. It does what a
// browser's data path does and no more, so that the load generator spends
// little CPU per datagram; pion's client hands every datagram through
// goroutines and channels, which on a small machine costs more than the
// server under test.
type rawTURN struct {
	conn  *net.UDPConn // connected to the server
	user  string
	key   stun.MessageIntegrity // long-term key, once the realm is known
	realm stun.Realm
	nonce stun.Nonce
	relay net.UDPAddr // the allocation's relayed address
}

// channel is the one channel number the bench binds.
const channel = 0x4000

var errTURN = errors.New("bench: TURN request failed")

// dialTURN opens a socket and allocates a relay with TURN REST API
// credentials for user.
func dialTURN(server *net.UDPAddr, secret, user string) (*rawTURN, error) {
	username, password, err := turn.GenerateLongTermTURNRESTCredentials(secret, user, time.Hour)
	if err != nil {
		return nil, fmt.Errorf("bench: credentials: %w", err)
	}
	conn, err := net.DialUDP("udp4", nil, server)
	if err != nil {
		return nil, fmt.Errorf("bench: client socket: %w", err)
	}
	_ = conn.SetReadBuffer(1 << 20)
	_ = conn.SetWriteBuffer(1 << 20)
	c := &rawTURN{conn: conn, user: username}

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

// do sends one request, retransmitting it as RFC 8489 §6.2.1 says, and
// returns its response. Datagrams that are not that response are dropped.
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
	rto := 200 * time.Millisecond
	for range 6 {
		if _, err := c.conn.Write(req.Raw); err != nil {
			return nil, fmt.Errorf("bench: send %s: %w", method, err)
		}
		deadline := time.Now().Add(rto)
		rto *= 2
		_ = c.conn.SetReadDeadline(deadline)
		for {
			n, err := c.conn.Read(buf)
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
