package connectivity

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"tandem/e2e/netlab"
	"tandem/signaling/wire"
)

const (
	// cellTimeout bounds one call of the matrix, both peers included.
	cellTimeout = 30 * time.Second
	// cellsAtOnce is how many calls run at the same time: each is two
	// peer processes, and the machine may have two cores.
	cellsAtOnce = 3
)

// cell is one call of the matrix: a peer in a site of kind a, first in
// the room (it answers), and a peer in a site of kind b, who joins and
// offers (ICE's controlling agent).
type cell struct {
	a, b netlab.Kind
	// relay: the call cannot go direct and must use the relay.
	relay bool
}

func (c cell) String() string { return fmt.Sprintf("%v-%v", c.a, c.b) }

// matrix is every unordered pair of site kinds, with what the call must
// do. A symmetric NAT (hardnat) gives every destination its own port, so
// only a peer that accepts packets from anyone (open) can answer the port
// it sees; behind an address-and-port-dependent filter (easynat, or
// another hardnat) hole punching cannot work. A site without UDP, or with
// only TCP 443, can only reach TURN over TCP or TLS.
func matrix() []cell {
	const o, e, h, u, w = netlab.Open, netlab.EasyNAT, netlab.HardNAT, netlab.NoUDP, netlab.Only443
	return []cell{
		{o, o, false}, {o, e, false}, {o, h, false}, {o, u, true}, {o, w, true},
		{e, e, false}, {e, h, true}, {e, u, true}, {e, w, true},
		{h, h, true}, {h, u, true}, {h, w, true},
		{u, u, true}, {u, w, true},
		{w, w, true},
	}
}

// relayProtocols are the ways a side of kind k may reach its relay: the
// firewalled kinds must use a relay of their own, over TCP or TLS. Other
// kinds may use anything.
func relayProtocols(k netlab.Kind) []string {
	switch k {
	case netlab.NoUDP:
		return []string{"tcp", "tls"} // TURN over TCP on 3478 or over TLS on 443
	case netlab.Only443:
		return []string{"tls"}
	}
	return nil
}

// side is one peer of a finished cell.
type side struct {
	kind netlab.Kind
	peerEvent
	stderr string // the tail of what the peer process logged
	exit   error  // how the peer process ended, when not well
}

// cellResult is what a cell's call did.
type cellResult struct {
	cell
	a, b side // a answered, b offered
	// elapsed is from b's join (the second person opening the link) to
	// the later of the two ICE connections.
	elapsed time.Duration
	err     error
}

// TestNetworkMatrix calls between two Pion peers through Tandem, across
// every pair of site kinds, and checks which calls go direct and which
// through the relay. With TANDEM_WRITE_DOCS=1 it rewrites the table in
// docs/connectivity.md.
func TestNetworkMatrix(t *testing.T) {
	start := time.Now()
	lab := netlab.Start(t, netlab.Options{})
	srv := startServer(t, lab)
	sites := addSites(t, lab)
	t.Logf("lab %s and server ready in %v", lab.ID(), time.Since(start).Round(time.Millisecond))

	t.Run("nat-behaviour", func(t *testing.T) { checkNATBehaviour(t, lab, sites) })

	cells := matrix()
	if err := coversAllPairs(cells); err != nil {
		t.Fatal(err)
	}
	results := runCells(t.Context(), lab, srv, sites, cells)
	for _, r := range results {
		t.Run(r.cell.String(), func(t *testing.T) { checkCell(t, r) })
	}
	t.Logf("connectivity matrix:\n%s\n%s", markdownTable(results), addressTable(results))
	writeDocs(t, "matrix", recorded(fmt.Sprintf("%d calls at a time; \"first\" joined the room first and answered, \"second\" offered (ICE's controlling side).", cellsAtOnce))+
		markdownTable(results))
	t.Logf("whole matrix in %v", time.Since(start).Round(time.Millisecond))
}

// coversAllPairs checks that cells name every unordered pair of kinds
// exactly once.
func coversAllPairs(cells []cell) error {
	seen := make(map[[2]netlab.Kind]bool)
	for _, c := range cells {
		key := [2]netlab.Kind{min(c.a, c.b), max(c.a, c.b)}
		if seen[key] {
			return fmt.Errorf("cell %v twice", c)
		}
		seen[key] = true
	}
	kinds := netlab.Kinds()
	for i, a := range kinds {
		for _, b := range kinds[i:] {
			if !seen[[2]netlab.Kind{a, b}] {
				return fmt.Errorf("no cell for %v-%v", a, b)
			}
		}
	}
	return nil
}

// addSites adds two sites of every kind, so that a cell can pair a kind
// with itself.
func addSites(t *testing.T, lab *netlab.Lab) map[netlab.Kind][2]*netlab.Site {
	t.Helper()
	type added struct {
		kind netlab.Kind
		i    int
		site *netlab.Site
		err  error
	}
	var wg sync.WaitGroup
	ch := make(chan added, 2*len(netlab.Kinds()))
	for _, k := range netlab.Kinds() {
		for i := range 2 {
			wg.Go(func() {
				s, err := lab.AddSite(t.Context(), k)
				ch <- added{k, i, s, err}
			})
		}
	}
	wg.Wait()
	close(ch)
	sites := make(map[netlab.Kind][2]*netlab.Site)
	for a := range ch {
		if a.err != nil {
			t.Fatal(a.err)
		}
		pair := sites[a.kind]
		pair[a.i] = a.site
		sites[a.kind] = pair
	}
	return sites
}

// checkNATBehaviour asks two STUN servers on two ports of the server's
// address, from one socket in each site, which address they see: the same
// behind an endpoint-independent mapping, two different ports behind
// hardnat's symmetric one, no answer where UDP is blocked.
func checkNATBehaviour(t *testing.T, lab *netlab.Lab, sites map[netlab.Kind][2]*netlab.Site) {
	ns, ip := lab.Server()
	var servers []netip.AddrPort
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, port := range []uint16{3490, 3491} {
		addr := netip.AddrPortFrom(ip, port)
		pc, err := lab.ListenPacket(ns, "udp4", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		wg.Go(func() {
			if err := netlab.ServeSTUN(pc); err != nil {
				t.Error(err)
			}
		})
		servers = append(servers, addr)
	}

	tests := []struct {
		kind netlab.Kind
		udp  bool // STUN answers
		same bool // both servers see one address: endpoint-independent mapping
	}{
		{netlab.Open, true, true},
		{netlab.EasyNAT, true, true},
		{netlab.HardNAT, true, false},
		{netlab.NoUDP, false, false},
		{netlab.Only443, false, false},
	}
	type answer struct {
		mapped []netip.AddrPort
		err    error
	}
	answers := make(map[*netlab.Site]*answer)
	var asked sync.WaitGroup
	for _, tc := range tests {
		for _, s := range sites[tc.kind] {
			a := &answer{}
			answers[s] = a
			asked.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				a.mapped, a.err = s.MappedAddrs(ctx, servers...)
			})
		}
	}
	asked.Wait()
	for _, tc := range tests {
		for i, s := range sites[tc.kind] {
			a := answers[s]
			name := fmt.Sprintf("%v#%d", tc.kind, i+1)
			if !tc.udp {
				if !errors.Is(a.err, netlab.ErrNoResponse) {
					t.Errorf("%s: STUN answered (%v, %v), want no UDP through", name, a.mapped, a.err)
				}
				continue
			}
			if a.err != nil {
				t.Errorf("%s: %v", name, a.err)
				continue
			}
			m := a.mapped
			if m[0].Addr() != s.PublicIP() || m[1].Addr() != s.PublicIP() {
				t.Errorf("%s: mapped to %v, want the site's public address %v", name, m, s.PublicIP())
			}
			if same := m[0] == m[1]; same != tc.same {
				t.Errorf("%s: STUN servers on two ports see %v and %v; want the same mapping: %v", name, m[0], m[1], tc.same)
			}
			t.Logf("%s (public %v): %v sees %v, %v sees %v", name, s.PublicIP(), servers[0], m[0], servers[1], m[1])
		}
	}
}

// runCells runs the cells, cellsAtOnce at a time, each bounded by
// cellTimeout. A cell pairs the first site of kind a with the second of
// kind b.
func runCells(ctx context.Context, lab *netlab.Lab, srv *labServer, sites map[netlab.Kind][2]*netlab.Site, cells []cell) []cellResult {
	results := make([]cellResult, len(cells))
	sem := make(chan struct{}, cellsAtOnce)
	var wg sync.WaitGroup
	for i, c := range cells {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(ctx, cellTimeout)
			defer cancel()
			results[i] = runCell(ctx, lab, srv, c, sites[c.a][0], sites[c.b][1])
		})
	}
	wg.Wait()
	return results
}

// runCell makes one call: a peer process in site sa joins the room first,
// then one in sb joins and offers. Both stay in the call until both have
// reported.
func runCell(ctx context.Context, lab *netlab.Lab, srv *labServer, c cell, sa, sb *netlab.Site) (r cellResult) {
	r = cellResult{cell: c, a: side{kind: c.a}, b: side{kind: c.b}}
	url := srv.roomURL("matrix-" + c.String())
	// The peers give up a little before the cell does, to report why.
	peerTimeout := cellTimeout - 3*time.Second
	if d, ok := ctx.Deadline(); ok {
		peerTimeout = time.Until(d) - 3*time.Second
	}
	var peers []*peerProc
	defer func() {
		exits := stopAll(peers)
		for i, p := range peers {
			s := []*side{&r.a, &r.b}[i]
			s.stderr, s.exit = p.stderr.Tail(), exits[i]
		}
	}()

	for _, s := range []struct {
		site       *netlab.Site
		name, role string
	}{{sa, c.a.String() + " (answers)", wire.TypeCreated}, {sb, c.b.String() + " (offers)", wire.TypeJoined}} {
		p, err := startPeer(lab, s.site.Host(), s.name, url, srv.certFile, peerTimeout)
		if err != nil {
			r.err = err
			return r
		}
		peers = append(peers, p)
		hello, err := p.next(ctx, "hello")
		if err == nil && hello.Role != s.role {
			err = fmt.Errorf("%s: server said %q, want %q", s.name, hello.Role, s.role)
		}
		if err != nil {
			r.err = err
			return r
		}
	}
	var errs []error
	for i, out := range []*side{&r.a, &r.b} {
		ev, err := peers[i].next(ctx, "result")
		if err == nil && !ev.Connected {
			err = fmt.Errorf("%s: %s", peers[i].name, ev.Error)
		}
		out.peerEvent = ev
		errs = append(errs, err)
	}
	r.err = errors.Join(errs...)
	if r.a.ICEConnected > 0 && r.b.ICEConnected > 0 {
		r.elapsed = time.Duration(max(r.a.ICEConnected, r.b.ICEConnected) - r.b.Joined)
	}
	return r
}

// stopAll stops peers at the same time and returns how each ended.
func stopAll(peers []*peerProc) []error {
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() { errs[i] = p.stop() })
	}
	wg.Wait()
	return errs
}

// checkCell checks a cell's outcome against its expectations.
func checkCell(t *testing.T, r cellResult) {
	defer func() {
		if t.Failed() {
			t.Logf("first peer's log:\n%s\nsecond peer's log:\n%s", r.a.stderr, r.b.stderr)
		}
	}()
	for _, s := range []side{r.a, r.b} {
		if s.exit != nil {
			t.Errorf("peer process: %v", s.exit)
		}
	}
	if r.err != nil {
		t.Fatalf("call did not connect: %v", r.err)
	}
	for _, s := range []side{r.a, r.b} {
		if s.Pair == nil {
			t.Fatalf("%v side: no selected pair", s.kind)
		}
	}
	if relayed := r.relayed(); relayed != r.relay {
		t.Errorf("went through the relay: %v, want %v (%v: %s; %v: %s)", relayed, r.relay,
			r.a.kind, pairTypes(r.a), r.b.kind, pairTypes(r.b))
	}
	for _, s := range []side{r.a, r.b} {
		want := relayProtocols(s.kind)
		if want == nil {
			continue
		}
		if l := s.Pair.Local; l.Type != "relay" || !slices.Contains(want, l.RelayProtocol) {
			t.Errorf("%v side's local candidate is %s, want a relay over %v", s.kind, candidateText(l), want)
		}
	}
}

// relayed reports whether either side's selected pair has a relay end.
func (r cellResult) relayed() bool {
	for _, s := range []side{r.a, r.b} {
		if s.Pair != nil && (s.Pair.Local.Type == "relay" || s.Pair.Remote.Type == "relay") {
			return true
		}
	}
	return false
}
