package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tandem/app/certs"
)

// config is every setting of the tandem command. Each is a flag with an
// environment twin: -turn-secret is also TANDEM_TURN_SECRET.
type config struct {
	addr           string
	httpAddr       string
	tlsCert        string
	tlsKey         string
	acme           acmeSettings
	allowedOrigins string
	turnAddr       string
	turnTLSAddr    string
	turnSecret     string
	turnPublicIP   string
	turnHost       string
	turnRelayPorts string
	turnAllowPeers string
	turnTTL        time.Duration
	turn           turnLimits
	logLevel       string
	logRooms       bool
	trustedProxies string
	redisURL       string
	iceServers     string
	signaling      signalingLimits
	pprofAddr      string
	metricsAddr    string
}

// acmeSettings are where certificates come from with -domain.
type acmeSettings struct {
	domains       string // comma-separated; empty: no ACME
	ca            string
	email         string
	caRoot        string
	dataDir       string
	renewInterval time.Duration
	hsts          bool
}

// turnLimits are the TURN server's quotas and rotation settings.
type turnLimits struct {
	previousSecret   string
	maxAllocsPerUser int
	maxAllocsPerIP   int
	maxBitrate       int
	maxLifetime      time.Duration
}

// signalingLimits are the abuse limits of the signaling server.
type signalingLimits struct {
	maxMessageSize      int
	messageRate         float64
	messageBurst        int
	maxConnsPerIP       int
	joinsPerIPPerMinute int
	maxConns            int
	maxRooms            int
}

// envName is the environment twin of a flag.
func envName(flagName string) string {
	return "TANDEM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads flags, then fills every flag not given on the command
// line from its environment twin.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("tandem", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.addr, "addr", ":8080", "HTTP(S) listen address (default :443 with -domain); it carries TURN over TLS (over TCP without a certificate) too")
	fs.StringVar(&c.httpAddr, "http-addr", "", "plain-HTTP listen address that redirects to HTTPS and answers ACME HTTP-01 (default :80 with -domain, else off; \"off\": none)")
	fs.StringVar(&c.acme.domains, "domain", "", "serve HTTPS for these comma-separated names with certificates obtained and renewed from -acme-ca (ACME)")
	fs.StringVar(&c.acme.ca, "acme-ca", certs.LetsEncrypt, "ACME directory URL; Let's Encrypt's staging, for trying a set-up: "+certs.LetsEncryptStaging)
	fs.StringVar(&c.acme.email, "acme-email", "", "e-mail address the CA may write to about the certificates (optional)")
	fs.StringVar(&c.acme.caRoot, "acme-ca-root", "", "PEM file of root certificates to trust for the ACME CA's API (a private CA such as step-ca); default: the system's")
	fs.StringVar(&c.acme.dataDir, "data-dir", "", "where ACME account keys and certificates are kept, created 0700 (default: $STATE_DIRECTORY under systemd, /var/lib/tandem as root, else ~/.local/share/tandem)")
	fs.DurationVar(&c.acme.renewInterval, "acme-renew-interval", 10*time.Minute, "how often certificates are checked for renewal (they renew a third of their lifetime before expiry, or when the CA says so)")
	fs.BoolVar(&c.acme.hsts, "hsts", true, "with -domain, send Strict-Transport-Security (one year) so browsers come back over HTTPS only")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS when set with -tls-key; a replaced file is picked up within "+certs.ReloadInterval.String())
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.allowedOrigins, "allowed-origins", "", "comma-separated origins, besides the page's own, allowed to open the signaling WebSocket")
	fs.StringVar(&c.turnAddr, "turn-addr", ":3478", "TURN listen address, UDP and TCP")
	fs.StringVar(&c.turnTLSAddr, "turn-tls-addr", "", "a TLS listener of TURN's own, e.g. :5349 (default: off; the web port carries TURN over TLS already when -tls-cert is set)")
	fs.StringVar(&c.turnSecret, "turn-secret", "", "TURN REST API shared secret (default: a random one at each start)")
	fs.StringVar(&c.turnPublicIP, "turn-public-ip", "", "public IP announced for TURN relays (default: the address -domain resolves to, else 127.0.0.1: relay-to-relay only)")
	fs.StringVar(&c.turnHost, "turn-host", "", "host name of the TURN server given to browsers (default: the first -domain, else the public IP, else the page's host)")
	fs.StringVar(&c.turnRelayPorts, "turn-relay-ports", "49152-65535", "UDP port range for TURN relays")
	fs.StringVar(&c.turnAllowPeers, "turn-allow-peers", "", "comma-separated CIDRs TURN may relay to although private (e.g. 10.0.0.0/8)")
	fs.DurationVar(&c.turnTTL, "turn-credential-ttl", 6*time.Hour, "lifetime of the TURN credentials handed to browsers; longer ones are refused, so a system that shares -turn-secret and mints longer credentials (coturn's tools: 24h) needs a matching value")
	fs.StringVar(&c.turn.previousSecret, "turn-previous-secret", "", "the secret before a rotation: credentials minted with it before this start keep working until they expire")
	fs.IntVar(&c.turn.maxAllocsPerUser, "turn-max-allocs-per-user", 10, "live TURN allocations per credential (one person); -1: no limit")
	fs.IntVar(&c.turn.maxAllocsPerIP, "turn-max-allocs-per-ip", 200, "live TURN allocations per client address; -1: no limit")
	fs.IntVar(&c.turn.maxBitrate, "turn-max-bitrate", 20_000_000, "bits per second each TURN allocation may relay in each direction (at least 100000); -1: no cap")
	fs.DurationVar(&c.turn.maxLifetime, "turn-max-lifetime", 12*time.Hour, "a TURN relay is closed after this long, refreshed or not")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.redisURL, "redis", "", "share rooms with other instances through this Redis, e.g. redis://127.0.0.1:6379/0 (default: rooms in memory)")
	fs.StringVar(&c.iceServers, "ice-servers", "", "comma-separated extra STUN/TURN URLs for browsers (e.g. turn:turn2.example.org:3478); TURN ones get the same REST credentials, so they must share -turn-secret")
	fs.BoolVar(&c.logRooms, "log-rooms", false, "write room names and client addresses to logs in clear (default: a keyed hash)")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "", "comma-separated reverse proxies (addresses or CIDRs) whose X-Forwarded-For is believed: its right-most entry that is not one of them is the client")
	fs.IntVar(&c.signaling.maxMessageSize, "max-message-size", 64<<10, "largest signaling frame in bytes; larger closes the connection with 1009")
	fs.Float64Var(&c.signaling.messageRate, "message-rate", 50, "signaling messages per second allowed per connection (sustained)")
	fs.IntVar(&c.signaling.messageBurst, "message-burst", 200, "signaling messages a connection may send in a burst")
	fs.IntVar(&c.signaling.maxConnsPerIP, "max-conns-per-ip", 500, "concurrent signaling connections per client address")
	fs.IntVar(&c.signaling.joinsPerIPPerMinute, "joins-per-ip-per-minute", 1200, "room joins per client address per minute")
	fs.IntVar(&c.signaling.maxConns, "max-conns", 100000, "concurrent signaling connections on the server")
	fs.IntVar(&c.signaling.maxRooms, "max-rooms", 50000, "rooms open at once on the server")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at /metrics on this address of their own, e.g. 127.0.0.1:9090 (default: off)")
	fs.StringVar(&c.pprofAddr, "pprof", "", "serve net/http/pprof on this loopback address, e.g. 127.0.0.1:6060 (default: off)")
	fs.Usage = func() {
		fmt.Fprintf(output, "Usage: tandem [flags]\n\nTandem serves 1:1 video calls: web pages, signaling and TURN in one binary.\nEvery flag can also be set through the environment variable shown.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(output, "  -%s (%s)\n    \t%s", f.Name, envName(f.Name), f.Usage)
			if f.DefValue != "" {
				fmt.Fprintf(output, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(output)
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{} // on the command line or in the environment
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !given[f.Name] {
			given[f.Name] = true
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
		}
	})
	errs = append(errs, c.applyDomain(given, getenv))
	if c.pprofAddr != "" {
		if err := checkPprofAddr(c.pprofAddr); err != nil {
			errs = append(errs, fmt.Errorf("-pprof: %w", err))
		}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		errs = append(errs, errors.New("-tls-cert and -tls-key go together"))
	}
	return c, errors.Join(errs...)
}

// applyDomain checks -domain and gives the settings it changes their
// defaults: HTTPS on :443, HTTP on :80, the domain as TURN's host name,
// and a data directory.
func (c *config) applyDomain(given map[string]bool, getenv func(string) string) error {
	if c.httpAddr == "off" {
		c.httpAddr = ""
	}
	if c.acme.domains == "" {
		return nil
	}
	var errs []error
	if c.tlsCert != "" {
		errs = append(errs, errors.New("-domain and -tls-cert exclude each other: ACME obtains the certificate"))
	}
	for _, d := range c.domains() {
		if err := checkDomain(d); err != nil {
			errs = append(errs, fmt.Errorf("-domain: %w", err))
		}
	}
	if !given["addr"] {
		c.addr = ":443"
	}
	if !given["http-addr"] {
		c.httpAddr = ":80"
	}
	if !given["turn-host"] {
		c.turnHost = c.domains()[0]
	}
	if c.acme.dataDir == "" {
		c.acme.dataDir = defaultDataDir(getenv)
	}
	return errors.Join(errs...)
}

// domains is -domain as a list of lower-case names.
func (c *config) domains() []string {
	return splitList(strings.ToLower(c.acme.domains))
}

// checkDomain accepts a DNS name a public CA can validate over HTTP-01
// or TLS-ALPN-01: no wildcard, no IP address, no port.
func checkDomain(d string) error {
	if _, err := netip.ParseAddr(d); err == nil {
		return fmt.Errorf("%q is an IP address: ACME needs a DNS name", d)
	}
	if len(d) > 253 || !strings.Contains(d, ".") {
		return fmt.Errorf("%q is not a fully qualified DNS name", d)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("%q is not a valid DNS name", d)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q is not a valid DNS name (wildcards need DNS-01, which Tandem does not do)", d)
			}
		}
	}
	return nil
}

// defaultDataDir is where state lives when -data-dir is not given:
// systemd's StateDirectory, /var/lib/tandem for root, else the user's
// data directory.
func defaultDataDir(getenv func(string) string) string {
	if dir, _, _ := strings.Cut(getenv("STATE_DIRECTORY"), ":"); dir != "" {
		return dir
	}
	if os.Geteuid() == 0 {
		return "/var/lib/tandem"
	}
	if dir := getenv("XDG_DATA_HOME"); dir != "" {
		return filepath.Join(dir, "tandem")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "share", "tandem")
	}
	return "tandem-data"
}

// portRange parses "min-max".
func portRange(s string) (uint16, uint16, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("port range %q: want min-max", s)
	}
	min, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	max, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err := errors.Join(err1, err2); err != nil || min == 0 || min > max {
		return 0, 0, fmt.Errorf("port range %q: want min-max with 0 < min <= max <= 65535", s)
	}
	return uint16(min), uint16(max), nil
}

// prefixes parses a comma-separated list of CIDRs.
func prefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range splitList(s) {
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("network %q: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// hostsOrPrefixes parses a comma-separated list of addresses and CIDRs; an
// address stands for itself alone.
func hostsOrPrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range splitList(s) {
		if a, err := netip.ParseAddr(part); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a network: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
