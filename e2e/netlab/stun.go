package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pion/stun/v4"
)

// ErrNoResponse is wrapped by MappedAddr's error when no STUN answer came
// back in time: the path drops UDP.
var ErrNoResponse = errors.New("netlab: no STUN response")

// stunRetransmit is the time between two Binding requests of MappedAddr;
// defaultSTUNTimeout its deadline when the context has none.
const (
	stunRetransmit     = 200 * time.Millisecond
	defaultSTUNTimeout = 3 * time.Second
)

// ServeSTUN answers the STUN Binding requests that arrive on pc with the
// sender's address, as a STUN server does, until pc is closed. Other
// packets are ignored. Its error is nil after a Close.
func ServeSTUN(pc net.PacketConn) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("netlab: STUN server: %w", err)
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		udp, ok := from.(*net.UDPAddr)
		if req.Decode() != nil || req.Type != stun.BindingRequest || !ok {
			continue
		}
		resp, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: udp.IP, Port: udp.Port}, stun.Fingerprint)
		if err != nil {
			return fmt.Errorf("netlab: STUN server: %w", err)
		}
		if _, err := pc.WriteTo(resp.Raw, from); errors.Is(err, net.ErrClosed) {
			return nil
		}
	}
}

// MappedAddr asks the STUN server at server, from pc, which address pc's
// packets come from, as a NAT maps them. It sends Binding requests until
// an answer comes or ctx is done (after 3 s when ctx has no deadline);
// without an answer its error wraps ErrNoResponse. pc must not be read by
// anyone else meanwhile.
func MappedAddr(ctx context.Context, pc net.PacketConn, server netip.AddrPort) (netip.AddrPort, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultSTUNTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	defer pc.SetReadDeadline(time.Time{})

	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("netlab: STUN request: %w", err)
	}
	to := net.UDPAddrFromAddrPort(server)
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		if _, err := pc.WriteTo(req.Raw, to); err != nil {
			return netip.AddrPort{}, fmt.Errorf("netlab: STUN request to %s: %w", server, err)
		}
		wait := time.Now().Add(stunRetransmit)
		if deadline.Before(wait) {
			wait = deadline
		}
		_ = pc.SetReadDeadline(wait)
		for {
			n, from, err := pc.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break // send again
			}
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("netlab: STUN response from %s: %w", server, err)
			}
			if addr, ok := from.(*net.UDPAddr); !ok || addr.AddrPort() != server {
				continue
			}
			var resp stun.Message
			if stun.Decode(buf[:n], &resp) != nil || resp.TransactionID != req.TransactionID {
				continue
			}
			var mapped stun.XORMappedAddress
			if err := mapped.GetFrom(&resp); err != nil {
				return netip.AddrPort{}, fmt.Errorf("netlab: STUN response from %s: %w", server, err)
			}
			ip, _ := netip.AddrFromSlice(mapped.IP)
			return netip.AddrPortFrom(ip.Unmap(), uint16(mapped.Port)), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("%w from %s", ErrNoResponse, server)
}

// MappedAddrs asks every server in turn, from one new UDP socket in the
// site's host, which address its packets come from. Behind an EasyNAT all
// answers are the same; behind a HardNAT each server sees its own port.
// The first server that does not answer ends it, with an error wrapping
// ErrNoResponse.
func (s *Site) MappedAddrs(ctx context.Context, servers ...netip.AddrPort) ([]netip.AddrPort, error) {
	pc, err := s.lab.ListenPacket(s.host, "udp4", "0.0.0.0:0")
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	mapped := make([]netip.AddrPort, 0, len(servers))
	for _, server := range servers {
		addr, err := MappedAddr(ctx, pc, server)
		if err != nil {
			return mapped, err
		}
		mapped = append(mapped, addr)
	}
	return mapped, nil
}
