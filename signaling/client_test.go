package signaling

import (
	"testing"

	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// pair joins two clients to room and returns them after the handshake.
func pair(t *testing.T, base, room string) (first, second *wiretest.Client, firstID, secondID string) {
	t.Helper()
	first = wiretest.Dial(t, base+room, nil)
	created := first.MustExpect(wire.TypeCreated)
	second = wiretest.Dial(t, base+room, nil)
	joined := second.MustExpect(wire.TypeJoined)
	pj := first.MustExpect(wire.TypePeerJoined)
	if len(joined.Peers) != 1 || joined.Peers[0] != created.Peer || pj.Peer != joined.Peer {
		t.Fatalf("ids do not match: created %+v, joined %+v, peer-joined %+v", created, joined, pj)
	}
	return first, second, created.Peer, joined.Peer
}
