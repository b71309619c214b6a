package certs

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Lookup resolves a host name; net.DefaultResolver.LookupNetIP("ip", …)
// is one.
type Lookup func(ctx context.Context, host string) ([]netip.Addr, error)

// DNSFinding is what CheckDNS found for one domain: OK, or a warning that
// says what to fix.
type DNSFinding struct {
	Domain string
	Addrs  []netip.Addr
	OK     bool
	Say    string
}

// CheckDNS looks each domain up and compares its answer with this
// server's public address (given or guessed; zero when unknown) and its
// interfaces' addresses, so that the log names a wrong DNS record before
// the CA does.
func CheckDNS(ctx context.Context, lookup Lookup, domains []string, public netip.Addr, local []netip.Addr) []DNSFinding {
	var out []DNSFinding
	for _, d := range domains {
		f := DNSFinding{Domain: d}
		addrs, err := lookup(ctx, d)
		for _, a := range addrs {
			f.Addrs = append(f.Addrs, a.Unmap())
		}
		switch {
		case err != nil || len(f.Addrs) == 0:
			f.Say = fmt.Sprintf("%s does not resolve (%v): no certificate until its A record points at this server", d, err)
		case public.IsValid() && !slices.Contains(f.Addrs, public):
			f.Say = fmt.Sprintf("%s resolves to %s, not to this server's public address %s: the CA and the callers go there", d, joinAddrs(f.Addrs), public)
		case public.IsValid() || containsAny(local, f.Addrs):
			f.OK = true
			f.Say = fmt.Sprintf("%s resolves to this server (%s)", d, joinAddrs(f.Addrs))
		default:
			f.OK = true // most clouds: a public address that no interface has (1:1 NAT)
			f.Say = fmt.Sprintf("%s resolves to %s, which no interface here has: right behind 1:1 NAT (most clouds), else fix its DNS", d, joinAddrs(f.Addrs))
		}
		out = append(out, f)
	}
	return out
}

// LocalAddrs are the addresses of this machine's interfaces.
func LocalAddrs() ([]netip.Addr, error) {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("certs: interface addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range ifAddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}

func containsAny(have, want []netip.Addr) bool {
	for _, a := range want {
		if slices.Contains(have, a) {
			return true
		}
	}
	return false
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
