package connectivity

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/e2e/harness"
	"tandem/e2e/netlab"
)

// TestDiagnosisVerdicts: the connection test (/diag) in headless Chromium
// inside a site that drops all UDP says that UDP is blocked and calls will
// go through the relay over TCP on the TURN port, and inside a site that
// passes only TCP to port 443, that only TLS on 443 works; in English and
// in Chinese, with a screenshot of each. Behind NATs, it tells a symmetric
// one (a new public port per destination) from one that keeps its port.
func TestDiagnosisVerdicts(t *testing.T) {
	netlab.Require(t)
	harness.NeedChromium(t)
	lab := netlab.Start(t, netlab.Options{})
	srv := startServer(t, lab)
	tests := []struct {
		kind    netlab.Kind
		verdict string
		words   map[string]string // what the verdict says, by language
		results map[string]string // by check
	}{
		{netlab.NoUDP, "relay-tcp",
			map[string]string{"en": fmt.Sprintf("relay over TCP on port %d; UDP is blocked", turnPort), "zh-CN": fmt.Sprintf("端口 %d 上的 TCP 中继", turnPort)},
			map[string]string{"websocket": "pass", "media": "pass", "stun": "fail", "nat": "skipped", "turn-udp": "fail", "turn-tcp": "pass", "turn-tls": "pass"}},
		{netlab.Only443, "relay-tls",
			map[string]string{"en": fmt.Sprintf("relay over TLS on port %d; UDP is blocked", webPort), "zh-CN": fmt.Sprintf("端口 %d 上的 TLS 中继", webPort)},
			map[string]string{"websocket": "pass", "media": "pass", "stun": "fail", "nat": "skipped", "turn-udp": "fail", "turn-tcp": "fail", "turn-tls": "pass"}},
	}
	allPass := map[string]string{"websocket": "pass", "media": "pass", "stun": "pass", "turn-udp": "pass", "turn-tcp": "pass", "turn-tls": "pass"}
	for kind, nat := range map[netlab.Kind]string{netlab.EasyNAT: "pass", netlab.HardNAT: "fail"} {
		results := maps.Clone(allPass)
		results["nat"] = nat
		tests = append(tests, struct {
			kind    netlab.Kind
			verdict string
			words   map[string]string
			results map[string]string
		}{kind, "ok", map[string]string{"en": "Calls from here will connect"}, results})
	}
	rows := map[netlab.Kind]string{}
	for _, tc := range tests {
		t.Run(tc.kind.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			site, err := lab.AddSite(ctx, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			tab := startChromium(t, lab, site.Host(), "chromium/"+tc.kind.String(), srv.certFile)
			for _, lang := range slices.Sorted(maps.Keys(tc.words)) {
				d, err := harness.Diagnose(tab, fmt.Sprintf("https://%s/diag?lang=%s", srv.ip, lang))
				if err != nil {
					t.Fatal(err)
				}
				shot := filepath.Join(harness.ScreenshotDir, fmt.Sprintf("diag-%v-%s.png", tc.kind, lang))
				if err := harness.Screenshot(tab, shot); err != nil {
					t.Error(err)
				}
				for _, check := range slices.Sorted(maps.Keys(tc.results)) {
					t.Logf("%s %-9s %-7s %s", lang, check, d.Results[check], d.Details[check])
					if d.Results[check] != tc.results[check] {
						t.Errorf("%s: %s: %s (%s), want %s", lang, check, d.Results[check], d.Details[check], tc.results[check])
					}
				}
				if d.Verdict != tc.verdict || !strings.Contains(d.Text, tc.words[lang]) {
					t.Errorf("%s: verdict %s: %q; want %s: …%s…", lang, d.Verdict, d.Text, tc.verdict, tc.words[lang])
				}
				if lang == "en" {
					row := fmt.Sprintf("| %v | `%s` |", tc.kind, d.Verdict)
					for _, check := range []string{"stun", "nat", "turn-udp", "turn-tcp", "turn-tls"} {
						row += " " + d.Results[check] + " |"
					}
					rows[tc.kind] = row + " " + d.Text + " |\n"
				}
			}
		})
	}
	var b strings.Builder
	b.WriteString(recorded("headless Chromium in a site of each kind, in English."))
	b.WriteString("| site | verdict | stun | nat | turn-udp | turn-tcp | turn-tls | what the page says |\n|---|---|---|---|---|---|---|---|\n")
	for _, kind := range netlab.Kinds() {
		b.WriteString(rows[kind])
	}
	writeDocs(t, "diag", b.String())
}
