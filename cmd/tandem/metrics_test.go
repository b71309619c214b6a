package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"tandem/e2e/harness"
	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// TestMetrics: -metrics-addr serves the counters after real use (joins,
// a full room, messages, a TURN allocation) in the Prometheus text format,
// on a port of its own, and no line names a room, a peer or an address.
func TestMetrics(t *testing.T) {
	srv, l := startServerListening(t, "-metrics-addr", "127.0.0.1:0")
	if l.Metrics == 0 {
		t.Fatal("no metrics port")
	}
	const room = "secret-room-4f1c"
	alice := wiretest.Dial(t, srv.wsURL(room), nil)
	created := alice.MustExpect(wire.TypeCreated)
	bob := wiretest.Dial(t, srv.wsURL(room), nil)
	joined := bob.MustExpect(wire.TypeJoined)
	alice.MustExpect(wire.TypePeerJoined)
	wiretest.Dial(t, srv.wsURL(room), nil).MustExpect(wire.TypeFull)
	for range 3 {
		alice.MustSignal(`{"n":1}`)
		bob.MustExpect(wire.TypeSignal)
	}
	var user, pass string
	for _, ice := range joined.ICEServers {
		if ice.Username != "" {
			user, pass = ice.Username, ice.Credential
		}
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := harness.Allocate(conn, fmt.Sprintf("127.0.0.1:%d", srv.TURNPort), user, pass); err != nil {
		t.Fatal(err)
	}

	resp, body := harness.Get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", l.Metrics))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`tandem_joins_total{result="created"} 1`,
		`tandem_joins_total{result="joined"} 1`,
		`tandem_joins_total{result="full"} 1`,
		`tandem_signaling_connections 2`,
		`tandem_rooms 1`,
		`tandem_signaling_messages_total 3`,
		`tandem_turn_allocations_total{transport="udp"} 1`,
		`tandem_limit_refusals_total{limit="too_many_joins"} 0`,
		`tandem_turn_relayed_bytes_total{direction="to_peer"} 0`,
		`tandem_room_store_up 1`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, "\n"+want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, secret := range []string{room, created.Peer, joined.Peer, "127.0.0.1", created.Seat, user} {
		if secret != "" && strings.Contains(body, secret) {
			t.Errorf("/metrics holds %q", secret)
		}
	}
	// The web port does not serve them.
	if resp, _ := harness.Get(t, srv.URL+"/metrics"); resp.StatusCode != 404 {
		t.Errorf("the web port answers /metrics with %d", resp.StatusCode)
	}
}

// TestMetricsDocs: the Grafana dashboard and the alert rules in docs/
// parse, and every metric their expressions name is one the server
// exports (a histogram's _bucket, _sum and _count included).
func TestMetricsDocs(t *testing.T) {
	_, l := startServerListening(t, "-metrics-addr", "127.0.0.1:0")
	_, body := harness.Get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", l.Metrics))
	exported := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			exported[f[2]] = true
			if f[3] == "histogram" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					exported[f[2]+suffix] = true
				}
			}
		}
	}

	var exprs []string
	data, err := os.ReadFile("../../docs/grafana/tandem-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	for _, p := range dashboard.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
		}
	}
	data, err = os.ReadFile("../../docs/prometheus/tandem-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.For == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %+v lacks a name, a for, a severity or a summary", r)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("found %d expressions in the dashboard and the rules", len(exprs))
	}
	name := regexp.MustCompile(`\btandem_[a-z_]+\b`)
	for _, e := range exprs {
		names := name.FindAllString(e, -1)
		if len(names) == 0 {
			t.Errorf("%q names no Tandem metric", e)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("%q names %s, which the server does not export", e, n)
			}
		}
	}
}
