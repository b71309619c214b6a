package harness

import "testing"

func TestParseListening(t *testing.T) {
	for _, tt := range []struct {
		line string
		want listening
		ok   bool
	}{
		{`time=2026-12-07T03:00:00.000Z level=INFO msg=listening version=devel http=127.0.0.1:41234 tls=false turn=3478 turn_tls=0 plain_http=0`,
			listening{http: "127.0.0.1:41234", turn: 3478}, true},
		{`time=2026-12-07T03:00:00.000Z level=INFO msg=listening http=[::1]:443 tls=true turn=3478 turn_tls=5349 plain_http=80`,
			listening{http: "[::1]:443", tls: true, turn: 3478, turnTLS: 5349, plainHTTP: 80}, true},
		{`time=2026-12-07T03:00:00.000Z level=INFO msg="rooms are shared through Redis"`, listening{}, false},
		{`time=2026-12-07T03:00:00.000Z level=INFO msg=listening http=127.0.0.1:1 tls=false turn=x turn_tls=0 plain_http=0`, listening{}, false},
		{`level=WARN msg=other http=127.0.0.1:1 turn=1 turn_tls=0 plain_http=0`, listening{}, false},
	} {
		got, ok := parseListening(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseListening(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}
