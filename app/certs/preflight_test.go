package certs

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckDNS(t *testing.T) {
	records := map[string][]netip.Addr{
		"here.example":  {netip.MustParseAddr("203.0.113.10")},
		"nat.example":   {netip.MustParseAddr("198.51.100.7")},
		"other.example": {netip.MustParseAddr("192.0.2.99")},
		"v4in6.example": {netip.MustParseAddr("::ffff:203.0.113.10")},
	}
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if a, ok := records[host]; ok {
			return a, nil
		}
		return nil, errors.New("no such host")
	}
	local := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("203.0.113.10")}
	none := netip.Addr{}
	for _, tt := range []struct {
		name   string
		domain string
		public netip.Addr
		ok     bool
		say    string
	}{
		{"points at an interface", "here.example", none, true, "resolves to this server"},
		{"points at the given address", "nat.example", netip.MustParseAddr("198.51.100.7"), true, "resolves to this server"},
		{"1:1 NAT, address not given", "nat.example", none, true, "1:1 NAT"},
		{"points elsewhere", "other.example", netip.MustParseAddr("203.0.113.10"), false, "not to this server's public address 203.0.113.10"},
		{"does not resolve", "missing.example", none, false, "does not resolve"},
		{"IPv4 in IPv6", "v4in6.example", netip.MustParseAddr("203.0.113.10"), true, "resolves to this server (203.0.113.10)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := CheckDNS(context.Background(), lookup, []string{tt.domain}, tt.public, local)
			if len(f) != 1 || f[0].OK != tt.ok || !strings.Contains(f[0].Say, tt.say) {
				t.Errorf("%+v, want ok %v saying %q", f, tt.ok, tt.say)
			}
		})
	}
}
