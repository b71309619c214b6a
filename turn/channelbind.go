package turn

import (
	"net"
	"net/netip"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// bindGuard answers a ChannelBind request for a peer that the policy
// refuses on that port with 403 Forbidden, properly authenticated, instead
// of letting pion bind a channel whose every datagram would be dropped.
// pion's PermissionHandler sees only the peer's IP, and the server's own
// address is permitted on some ports and not others.
//
// Requests it cannot authenticate are left to pion, which answers them as
// usual (401 with a nonce, 400 and so on). Safe for concurrent use.
type bindGuard struct {
	policy *peerPolicy
	auth   turn.AuthHandler
}

// isChannelBindRequest reports whether b starts a STUN ChannelBind request,
// from its first two bytes: cheap enough for every datagram.
func isChannelBindRequest(b []byte) bool {
	return len(b) >= 20 && b[0] == 0x00 && b[1] == 0x09
}

// refusal returns the 403 answer to msg, a whole STUN message from src,
// when msg is an authenticated ChannelBind request for a peer the policy
// refuses; else nil.
func (g *bindGuard) refusal(msg []byte, src net.Addr) []byte {
	if !isChannelBindRequest(msg) {
		return nil
	}
	m := &stun.Message{Raw: append([]byte(nil), msg...)}
	if err := m.Decode(); err != nil || m.Type != stun.NewType(stun.MethodChannelBind, stun.ClassRequest) {
		return nil
	}
	var peer stun.XORMappedAddress
	if err := peer.GetFromAs(m, stun.AttrXORPeerAddress); err != nil {
		return nil
	}
	ip, ok := netip.AddrFromSlice(peer.IP)
	if !ok || ip.Unmap().Is4() != g.policy.self.Is4() {
		return nil // pion answers 443 Peer Address Family Mismatch
	}
	if g.policy.permitPeer(netip.AddrPortFrom(ip, uint16(peer.Port))) {
		return nil
	}
	var username stun.Username
	var realm stun.Realm
	if username.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		return nil
	}
	_, key, ok := g.auth(&turn.RequestAttributes{Username: username.String(), Realm: realm.String(),
		SrcAddr: src, Method: stun.MethodChannelBind})
	if !ok || stun.MessageIntegrity(key).Check(m) != nil {
		return nil
	}
	reply, err := stun.Build(
		stun.NewTransactionIDSetter(m.TransactionID),
		stun.NewType(stun.MethodChannelBind, stun.ClassErrorResponse),
		&stun.ErrorCodeAttribute{Code: stun.CodeForbidden, Reason: []byte("Forbidden: peer port not allowed")},
		stun.MessageIntegrity(key),
	)
	if err != nil {
		return nil
	}
	return reply.Raw
}
