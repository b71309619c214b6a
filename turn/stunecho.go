package turn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/pion/stun/v4"
)

// stunEcho is a second STUN server on one port of the relay range (which
// deployments open to the internet for relays anyway). A NAT that maps
// one socket to two different public ports for two destinations, the TURN
// port and this one, is symmetric: direct calls through it mostly fail.
// It answers Binding requests only, and remembers their source ports as
// the TURN port does (bindingLog).
type stunEcho struct {
	conn *net.UDPConn
	port int
	seen bindingLog
	done chan struct{} // closed when serve returns
}

// listenSTUNEcho binds a free port of minPort-maxPort on bind.
func listenSTUNEcho(bind string, minPort, maxPort uint16) (*stunEcho, error) {
	var err error
	for range 20 {
		port := int(minPort) + rand.IntN(int(maxPort)-int(minPort)+1)
		var pc net.PacketConn
		pc, err = net.ListenPacket("udp", net.JoinHostPort(bind, strconv.Itoa(port)))
		if err == nil {
			e := &stunEcho{conn: pc.(*net.UDPConn), port: port, done: make(chan struct{})}
			go e.serve()
			return e, nil
		}
	}
	return nil, fmt.Errorf("turn: listen for the second STUN port in %d-%d: %w", minPort, maxPort, err)
}

func (e *stunEcho) serve() {
	defer close(e.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := e.conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || !isBindingRequest(buf[:n]) {
			continue
		}
		reply, err := bindingSuccess(buf[:n], from)
		if err != nil {
			continue
		}
		e.seen.add(from.Port(), time.Now())
		_, _ = e.conn.WriteToUDPAddrPort(reply, from)
	}
}

// bindingSuccess is the answer to the Binding request req from from.
func bindingSuccess(req []byte, from netip.AddrPort) ([]byte, error) {
	m := &stun.Message{Raw: append([]byte(nil), req...)}
	if err := m.Decode(); err != nil {
		return nil, err
	}
	if m.Type != stun.BindingRequest {
		return nil, errors.New("not a Binding request")
	}
	reply, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: from.Addr().Unmap().AsSlice(), Port: int(from.Port())}, stun.Fingerprint)
	if err != nil {
		return nil, err
	}
	return reply.Raw, nil
}

func (e *stunEcho) close() error {
	err := e.conn.Close()
	<-e.done
	return err
}
