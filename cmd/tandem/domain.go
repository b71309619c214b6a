package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"tandem/app/certs"
)

// dnsTimeout bounds the start's look at the domain's DNS.
const dnsTimeout = 3 * time.Second

// prepareDomain runs at a start with -domain. It logs which ports must be
// open and whether the domain's DNS points here; unless -turn-public-ip is
// given, it announces the relays on the domain's IPv4 address (the one a
// VPS's DNS record names), waiting for the lookup. With the address given,
// the look at DNS only logs, in the background.
func prepareDomain(ctx context.Context, cfg *config, logger *slog.Logger) {
	logger.Info("with -domain, open these ports to the internet",
		"http", portOrOff(cfg.httpAddr)+"/tcp (ACME HTTP-01, redirect to HTTPS)",
		"https", portOrOff(cfg.addr)+"/tcp (HTTPS, ACME TLS-ALPN-01, TURN over TLS)",
		"turn", portOrOff(cfg.turnAddr)+"/udp+tcp",
		"relays", cfg.turnRelayPorts+"/udp")
	check := func() []certs.DNSFinding {
		ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
		defer cancel()
		public, _ := netip.ParseAddr(cfg.turnPublicIP) // zero when not given
		local, err := certs.LocalAddrs()
		if err != nil {
			logger.Warn("cannot list this machine's addresses", "err", err)
		}
		lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
		findings := certs.CheckDNS(ctx, lookup, cfg.domains(), public, local)
		for _, f := range findings {
			if f.OK {
				logger.Info(f.Say)
			} else {
				logger.Warn(f.Say)
			}
		}
		return findings
	}
	if cfg.turnPublicIP != "" {
		go check()
		return
	}
	for _, a := range check()[0].Addrs {
		if a.Is4() {
			cfg.turnPublicIP = a.String()
			logger.Info("TURN relays are announced on the address the domain resolves to; set -turn-public-ip if that is not this server's",
				"turn_public_ip", cfg.turnPublicIP)
			return
		}
	}
	logger.Warn("the domain has no IPv4 address: TURN relays are announced on 127.0.0.1, where they only reach each other; set -turn-public-ip")
}

// portOrOff is the port of a listen address, or "off".
func portOrOff(addr string) string {
	if addr == "" {
		return "off"
	}
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return port
	}
	return fmt.Sprint(addr)
}
