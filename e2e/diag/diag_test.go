package diag

import (
	"path/filepath"
	"strings"
	"testing"

	"tandem/bench/selfsigned"
	"tandem/e2e/harness"
)

// TestDiagnosisPasses: on a loopback network with nothing blocked, over
// HTTPS (so that TURN over TLS on the web port is offered), every check of
// /diag passes, in English and in Chinese, and the report says so.
func TestDiagnosisPasses(t *testing.T) {
	harness.NeedChromium(t)
	cert, err := selfsigned.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := cert.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := tandem.StartServer(t, "-tls-cert", certFile, "-tls-key", keyFile)
	tab := harness.StartChromium(t, "diag", harness.TrustCert(t, certFile))
	checks := []string{"websocket", "media", "stun", "nat", "turn-udp", "turn-tcp", "turn-tls"}
	for _, tc := range []struct {
		lang, verdictWords string
	}{
		{"en", "Calls from here will connect"},
		{"zh-CN", "从这里通话能连通"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			d, err := harness.Diagnose(tab, srv.URL+"/diag?lang="+tc.lang)
			if err != nil {
				t.Fatal(err)
			}
			shot := filepath.Join(harness.ScreenshotDir, "diag-loopback-"+tc.lang+".png")
			if err := harness.Screenshot(tab, shot); err != nil {
				t.Error(err)
			}
			for _, check := range checks {
				t.Logf("%-9s %-7s %s", check, d.Results[check], d.Details[check])
				if d.Results[check] != "pass" {
					t.Errorf("%s: %s (%s), want pass", check, d.Results[check], d.Details[check])
				}
			}
			if d.Verdict != "ok" || !strings.Contains(d.Text, tc.verdictWords) {
				t.Errorf("verdict %q: %q, want ok: %q…", d.Verdict, d.Text, tc.verdictWords)
			}
			if !strings.Contains(d.Report, d.Text) || strings.Count(d.Report, "\n[") != len(checks) {
				t.Errorf("the report lacks the verdict or a line per check:\n%s", d.Report)
			}
		})
	}
}
