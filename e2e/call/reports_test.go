package call

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem/e2e/harness"
)

// metricValue scrapes srv's /metrics for the sum of the values of the
// lines that start with series ("name{labels}", or a prefix of it such as
// `name{path="relay_`), as text; "" when there is none.
func metricValue(t *testing.T, srv *harness.Server, series string) (value, body string) {
	t.Helper()
	_, body = harness.Get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", srv.MetricsPort))
	sum, found := 0.0, false
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, series) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	if !found {
		return "", body
	}
	return strconv.FormatFloat(sum, 'f', -1, 64), body
}

// waitMetric waits until the lines that start with series sum to want.
func waitMetric(t *testing.T, srv *harness.Server, series, want string) string {
	t.Helper()
	deadline := time.Now().Add(harness.PageTimeout)
	for {
		got, body := metricValue(t, srv, series)
		if got == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s… = %q, want %q; /metrics:\n%s", series, got, want, grepLines(body, "tandem_calls"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// grepLines keeps the lines of s that hold word.
func grepLines(s, word string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, word) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestCallReportsInMetrics: the pages of a real call report it, and the
// server's metrics move: each side of a direct call, then of a call
// through the relay (over UDP or TCP), counts one connected call on its
// path and one setup time; hanging up counts the calls' durations. No
// metric names the room or an address.
func TestCallReportsInMetrics(t *testing.T) {
	harness.NeedChromium(t)
	srv := tandem.StartServer(t, "-metrics-addr", "127.0.0.1:0")
	rooms := []string{"secret-direct-7d2a", "secret-relayed-93be"}

	direct := harness.OpenCall(t, srv.RoomURL(rooms[0], ""))
	waitMetric(t, srv, `tandem_calls_connected_total{path="direct"}`, "2")
	waitMetric(t, srv, `tandem_call_setup_seconds_count`, "2")

	// Through the relay over UDP, or over TCP when that pair won (a busy
	// machine gathers slowly).
	relayed := harness.OpenCall(t, srv.RoomURL(rooms[1], "relay=1"))
	waitMetric(t, srv, `tandem_calls_connected_total{path="relay_`, "2")
	waitMetric(t, srv, `tandem_call_setup_seconds_count`, "4")

	for _, tabs := range [][2]*harness.Chromium{direct, relayed} {
		if err := harness.Click(tabs[0], "hang-up"); err != nil {
			t.Fatal(err)
		}
	}
	body := waitMetric(t, srv, `tandem_call_duration_seconds_count`, "4") // both sides of both calls
	if v, _ := metricValue(t, srv, `tandem_call_reports_dropped_total{reason="invalid"}`); v != "0" {
		t.Errorf("the pages' reports were dropped as invalid: %s", v)
	}
	for _, secret := range append(rooms, "127.0.0.1", "127.0.0.2") {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics holds %q", secret)
		}
	}
}
