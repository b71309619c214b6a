package relay

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem/e2e/harness"
)

// needCoturnTools returns the paths of coturn's test client and echo peer
// (Debian's coturn package), or skips the test without them, except under
// CI=true.
func needCoturnTools(t *testing.T) (client, peer string) {
	t.Helper()
	client, err1 := exec.LookPath("turnutils_uclient")
	peer, err2 := exec.LookPath("turnutils_peer")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("coturn's turnutils_uclient and turnutils_peer are missing (apt-get install coturn)")
		}
		t.Skip("coturn's turnutils_uclient and turnutils_peer are not installed (apt-get install coturn)")
	}
	return client, peer
}

// TestCoturnClient drives Tandem's TURN with coturn's own test client, as a
// new user would, with coturn's echo peer on the relay's own address: when
// -turn-allow-peers opens that address every packet comes back; when it
// does not, the ChannelBind is refused with 403 rather than granted and
// then every packet lost. coturn's tools mint credentials for 24 hours,
// which the default -turn-credential-ttl (6h) refuses.
func TestCoturnClient(t *testing.T) {
	uclient, echoPeer := needCoturnTools(t)
	const secret = "coturn-shared-secret"
	peerPort := harness.FreePort(t)
	peer := exec.Command(echoPeer, "-L", "127.0.0.1", "-p", strconv.Itoa(peerPort))
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = peer.Process.Kill()
		_ = peer.Wait()
	})

	for _, tt := range []struct {
		name  string
		args  []string
		flags []string // of turnutils_uclient
		want  []string // in its output
	}{
		{"allowed, UDP", []string{"-turn-allow-peers", "127.0.0.0/8", "-turn-credential-ttl", "24h"}, nil,
			[]string{"tot_recv_msgs=40", "Total lost packets 0 (0.000000%)"}},
		{"allowed, TCP", []string{"-turn-allow-peers", "127.0.0.0/8", "-turn-credential-ttl", "24h"}, []string{"-t"},
			[]string{"tot_recv_msgs=40", "Total lost packets 0 (0.000000%)"}},
		{"not allowed, UDP", []string{"-turn-credential-ttl", "24h"}, nil,
			[]string{"channel bind: error 403"}},
		{"not allowed, TCP", []string{"-turn-credential-ttl", "24h"}, []string{"-t"},
			[]string{"channel bind: error 403"}},
		{"24h credentials, 6h TTL", []string{"-turn-allow-peers", "127.0.0.0/8"}, nil,
			[]string{"Cannot complete Allocation"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := tandem.StartServer(t, append([]string{"-turn-public-ip", "127.0.0.1", "-turn-secret", secret}, tt.args...)...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// -c: no RTCP allocation pairs (EVEN-PORT with RESERVATION-TOKEN),
			// which browsers never ask for; 2 clients, 20 messages each.
			args := append(append([]string{}, tt.flags...), "-c", "-e", "127.0.0.1", "-r", strconv.Itoa(peerPort),
				"-p", strconv.Itoa(srv.TURNPort), "-u", "tester", "-W", secret, "-n", "20", "-m", "2", "-l", "120", "127.0.0.1")
			out, _ := exec.CommandContext(ctx, uclient, args...).CombinedOutput()
			for _, want := range tt.want {
				if !strings.Contains(string(out), want) {
					t.Errorf("turnutils_uclient %s: output lacks %q:\n%s", strings.Join(args, " "), want, tail(string(out), 15))
				}
			}
		})
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
