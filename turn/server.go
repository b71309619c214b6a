// Package turn runs Tandem's bundled TURN server (pion/turn) and mints the
// ephemeral "TURN REST API" credentials that browsers use with it.
package turn

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v5"
)

// Config configures the TURN server. The zero value of every field but Secret
// has a working default (see withDefaults).
type Config struct {
	// Addr is where TURN listens, on both UDP and TCP. Default ":3478".
	Addr string
	// Secret is the shared secret of the TURN REST API credentials. An
	// external coturn with use-auth-secret and the same secret accepts them.
	Secret string
	// RelayIP is the address announced in relay candidates. Default
	// 127.0.0.1, which is enough when both people relay; set the public IP
	// for deployments.
	RelayIP netip.Addr
	// RelayBind is the address relay sockets bind to. Default: RelayIP when
	// it is loopback, else all interfaces (the public IP is often NATed).
	RelayBind string
	// Host is the host name written into iceServers URLs for the TURN port
	// and, when set, for TLSAddr. Default: RelayIP when it is not
	// loopback, else the host the page was loaded from.
	Host string
	// RelayMinPort and RelayMaxPort bound the relay sockets. Default
	// 49152-65535.
	RelayMinPort, RelayMaxPort uint16
	// AllowPeers are networks that relays may reach even though the default
	// policy forbids them (LAN deployments, tests).
	AllowPeers []netip.Prefix
	// CredentialTTL is how long minted credentials stay valid. Default 6h.
	CredentialTTL time.Duration
	// Realm is the TURN realm. Default "tandem".
	Realm string
	// ExtraURLs are more STUN/TURN servers for browsers ("stun:host:port",
	// "turn:host:port?transport=udp"), such as a coturn pool. TURN entries
	// get the same credentials, so those servers must share Secret.
	ExtraURLs []string
	// PreviousSecret, during a secret rotation, keeps credentials minted
	// before this process started (with the old secret) working until they
	// expire, so calls are not dropped.
	PreviousSecret string
	// MaxAllocsPerUser and MaxAllocsPerIP bound live allocations per
	// credential user (one peer) and per client address. Defaults 10 and
	// 200; negative means no limit.
	MaxAllocsPerUser, MaxAllocsPerIP int
	// MaxTCPConns bounds the TURN-over-TCP connections open at once; from
	// one address they are bounded by MaxAllocsPerIP, as each carries one
	// allocation. Default 10,000; negative means no limit.
	MaxTCPConns int
	// MaxAllocationLifetime closes a relay after this long, refreshes or
	// not. Default 12h.
	MaxAllocationLifetime time.Duration
	// MaxBitrate caps each allocation's relayed bits per second in each
	// direction; what exceeds it is dropped. Default 20 Mbit/s; negative
	// means no cap. Under minBitrate it is refused: no call fits, and a
	// figure such as 20 is more likely meant in Mbit/s.
	MaxBitrate int
	// WebListener, when set, yields the TURN connections that arrive on
	// the web server's port (see package portmux), with any TLS already
	// removed. ICEServers then names the web port, as the page reached it.
	WebListener net.Listener
	// TLSAddr, when set, is a TLS listener of TURN's own (a second IP's 443,
	// or 5349), with the certificate of TLS.
	TLSAddr string
	// TLS is the server certificate configuration for TLSAddr.
	TLS *tls.Config
	// UDPListeners is how many UDP sockets share the TURN port (with
	// SO_REUSEPORT, where the system has it; the kernel spreads clients
	// over them by address), each with a data plane loop of its own. A
	// loop takes one core at most, and every loop more costs wake-ups at
	// light load (docs/performance.md). Default: a loop per 4 cores, at
	// least one.
	UDPListeners int

	// channelLifetime, when set, is the lifetime of channel bindings and
	// permissions (pion's default: 10 minutes), for tests of their expiry.
	channelLifetime time.Duration
}

// minBitrate is the lowest MaxBitrate accepted: one audio stream with
// its packet overhead.
const minBitrate = 100_000

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = ":3478"
	}
	if !c.RelayIP.IsValid() {
		c.RelayIP = netip.MustParseAddr("127.0.0.1")
	}
	if c.RelayBind == "" {
		c.RelayBind = "0.0.0.0"
		if c.RelayIP.IsLoopback() {
			c.RelayBind = c.RelayIP.String()
		}
	}
	if c.Host == "" && !c.RelayIP.IsLoopback() {
		c.Host = c.RelayIP.String()
	}
	if c.RelayMinPort == 0 && c.RelayMaxPort == 0 {
		c.RelayMinPort, c.RelayMaxPort = 49152, 65535
	}
	if c.CredentialTTL == 0 {
		c.CredentialTTL = 6 * time.Hour
	}
	if c.Realm == "" {
		c.Realm = "tandem"
	}
	c.MaxAllocsPerUser = orDefault(c.MaxAllocsPerUser, 10)
	c.MaxAllocsPerIP = orDefault(c.MaxAllocsPerIP, 200)
	c.MaxTCPConns = orDefault(c.MaxTCPConns, 10_000)
	c.MaxBitrate = orDefault(c.MaxBitrate, 20_000_000)
	if c.MaxAllocationLifetime == 0 {
		c.MaxAllocationLifetime = 12 * time.Hour
	}
	if c.UDPListeners <= 0 || !reusePortSupported {
		c.UDPListeners = 1
		if reusePortSupported {
			c.UDPListeners = max(1, runtime.GOMAXPROCS(0)/4)
		}
	}
	return c
}

// orDefault maps 0 to d and a negative value to 0, which means "off".
func orDefault(v, d int) int {
	switch {
	case v == 0:
		return d
	case v < 0:
		return 0
	}
	return v
}

func (c Config) validate() error {
	if c.Secret == "" {
		return ErrNoSecret
	}
	if c.RelayMinPort == 0 || c.RelayMinPort > c.RelayMaxPort {
		return fmt.Errorf("%w: %d-%d", ErrBadPortRange, c.RelayMinPort, c.RelayMaxPort)
	}
	if c.TLSAddr != "" && c.TLS == nil {
		return ErrTLSWithoutCertificate
	}
	if c.MaxBitrate > 0 && c.MaxBitrate < minBitrate {
		return fmt.Errorf("%w: %d, under %d", ErrBitrateTooLow, c.MaxBitrate, minBitrate)
	}
	for _, u := range c.ExtraURLs {
		if err := checkICEURL(u); err != nil {
			return err
		}
	}
	return nil
}

// checkICEURL accepts the forms of RFC 7064 (stun:, stuns:) and RFC 7065
// (turn:, turns:, with ?transport=udp|tcp): a URL browsers refuse would
// make every call page fail to build its connection.
func checkICEURL(u string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %q: %s", ErrBadICEURL, u, why) }
	scheme, rest, _ := strings.Cut(u, ":")
	if scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns" {
		return bad("no stun:, stuns:, turn: or turns: scheme")
	}
	hostport, query, hasQuery := strings.Cut(rest, "?")
	if hasQuery {
		transport, ok := strings.CutPrefix(query, "transport=")
		if !ok || strings.HasPrefix(scheme, "stun") || (transport != "udp" && transport != "tcp") {
			return bad("the only query is ?transport=udp or tcp, on turn: and turns: URLs")
		}
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if inner, ok := strings.CutPrefix(hostport, "["); ok {
		host, _ = strings.CutSuffix(inner, "]") // an IPv6 address, no port
	}
	if host == "" || strings.ContainsAny(host, "/@ []") {
		return bad("no host")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad("bad port")
		}
	}
	return nil
}

// RandomSecret returns a fresh shared secret, for runs that set none.
func RandomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ICEServer has the shape of the browser's RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Page is where a browser loaded the call page from: ICEServers names the
// web port with it.
type Page struct {
	// Host is the page's host name or address, without a port.
	Host string
	// Port is the TCP port the browser reached the page on; 0 when the
	// page came through a reverse proxy, which carries no TURN.
	Port int
	// TLS is whether the page was loaded over HTTPS.
	TLS bool
}

// Server is a running TURN server.
type Server struct {
	// Static after construction.
	cfg      Config
	log      *slog.Logger
	port     int
	tlsPort  int    // 0: no TLS listener of its own
	tlsHost  string // names tlsPort when set; else the page's host
	turn     *turn.Server
	quotas   *quotas
	drops    *drops
	counters *counters
	policy   *peerPolicy
	bindings *bindingLog // Binding requests on the TURN port
	echo     *stunEcho
	plane    *dataPlane
	channels *channels
	internal string // the TURN URL this process reaches itself on
}

// New starts a TURN server listening on cfg.Addr over UDP and TCP.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	tlsHost := cfg.Host // a configured name, which a certificate can be for
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	udps, tcp, err := listen(cfg.Addr, cfg.UDPListeners)
	if err != nil {
		return nil, err
	}
	port := udps[0].LocalAddr().(*net.UDPAddr).Port
	internal := internalURL(udps[0])
	socks, err := detachAll(udps)
	if err != nil {
		_ = tcp.Close()
		return nil, err
	}
	closeListeners := func() {
		for _, s := range socks {
			_ = s.close()
		}
		_ = tcp.Close()
	}
	if port >= int(cfg.RelayMinPort) && port <= int(cfg.RelayMaxPort) {
		closeListeners()
		return nil, fmt.Errorf("%w: %d", ErrPortInRelayRange, port)
	}
	echo, err := listenSTUNEcho(cfg.RelayBind, cfg.RelayMinPort, cfg.RelayMaxPort)
	if err != nil {
		closeListeners()
		return nil, err
	}
	plane, err := newDataPlane(socks)
	if err != nil {
		closeListeners()
		_ = echo.close()
		return nil, err
	}
	closeListeners = func() {
		for _, s := range socks {
			_ = s.close()
		}
		plane.close() // elsewhere than Linux, it waits for the readers of the sockets
		_ = tcp.Close()
		_ = echo.close()
	}

	log := logger.With("component", "turn")
	policy := newPeerPolicy(cfg.RelayIP, cfg.AllowPeers)
	dropped := &drops{log: log}
	counted := &counters{tlsPorts: map[int]bool{}}
	chans := newChannels()
	relays := func() turn.RelayAddressGenerator {
		return &relayGenerator{
			inner: &turn.RelayAddressGeneratorPortRange{
				RelayAddress: net.IP(cfg.RelayIP.AsSlice()),
				Address:      cfg.RelayBind,
				MinPort:      cfg.RelayMinPort,
				MaxPort:      cfg.RelayMaxPort,
			},
			plane:       plane,
			channels:    chans,
			policy:      policy,
			drops:       dropped,
			counters:    counted,
			maxBitrate:  cfg.MaxBitrate,
			maxLifetime: cfg.MaxAllocationLifetime,
		}
	}
	permit := func(_ net.Addr, peerIP net.IP) bool { return policy.permit(peerIP) }
	loggers := &pionLoggerFactory{log: log}
	auth := authHandler(cfg.Secret, cfg.PreviousSecret, time.Now(), cfg.CredentialTTL, log, loggers)
	guard := &bindGuard{policy: policy, auth: auth}
	q := newQuotas(cfg.MaxAllocsPerUser, cfg.MaxAllocsPerIP)
	bindings := &bindingLog{}
	// One config per UDP socket: pion drains each with its own goroutine.
	packetConns := make([]turn.PacketConnConfig, len(socks))
	for i, sock := range socks {
		l := newListenerConn(sock, guard, bindings, chans, dropped)
		if err := plane.watch(sock, l); err != nil {
			closeListeners()
			return nil, err
		}
		packetConns[i] = turn.PacketConnConfig{PacketConn: l, RelayAddressGenerator: relays(), PermissionHandler: permit}
	}
	// Stream listeners share the TCP connection limits.
	limits := newTCPLimits(cfg.MaxAllocsPerIP, cfg.MaxTCPConns)
	streams := []net.Listener{tcp}
	tlsPort := 0
	if cfg.TLSAddr != "" {
		tl, err := net.Listen("tcp", cfg.TLSAddr)
		if err != nil {
			closeListeners()
			return nil, fmt.Errorf("turn: listen TLS %s: %w", cfg.TLSAddr, err)
		}
		tlsPort = tl.Addr().(*net.TCPAddr).Port
		counted.tlsPorts[tlsPort] = true
		streams = append(streams, tls.NewListener(tl, cfg.TLS))
	}
	if cfg.WebListener != nil {
		streams = append(streams, cfg.WebListener)
		if ta, ok := cfg.WebListener.Addr().(*net.TCPAddr); ok && cfg.TLS != nil {
			counted.tlsPorts[ta.Port] = true
		}
	}
	listenerConns := make([]turn.ListenerConfig, len(streams))
	for i, l := range streams {
		listenerConns[i] = turn.ListenerConfig{
			Listener:              newTCPListener(l, limits, guard, log),
			RelayAddressGenerator: relays(),
			PermissionHandler:     permit,
		}
	}

	ts, err := turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   auth,
		QuotaHandler:  q.allow,
		LoggerFactory: loggers,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, server net.Addr, _, userID, _ string, relay net.Addr, _ int) {
				q.created(src, userID)
				counted.allocated(src, server)
				chans.allocated(src, relay)
			},
			OnChannelCreated: func(src, _ net.Addr, _, _, _ string, relay, peer net.Addr, number uint16) {
				chans.bound(src, relay, peer, number)
			},
			OnChannelDeleted: func(src, _ net.Addr, _, _, _ string, relay, _ net.Addr, number uint16) {
				chans.unbound(src, relay, number)
			},
			OnAllocationDeleted: func(src, server net.Addr, _, userID, _ string) {
				q.deleted(src, userID)
				counted.released(src, server)
			},
			OnAuth: func(_, _ net.Addr, _, _, _, _ string, ok bool) {
				if !ok {
					counted.authFailures.Add(1)
				}
			},
		},
		PacketConnConfigs:  packetConns,
		ListenerConfigs:    listenerConns,
		ChannelBindTimeout: cfg.channelLifetime,
		PermissionTimeout:  cfg.channelLifetime,
	})
	if err != nil {
		for _, l := range streams[1:] {
			_ = l.Close()
		}
		closeListeners()
		return nil, fmt.Errorf("turn: start server: %w", err)
	}
	logger.Info("TURN listening", "addr", socks[0].local.String(), "udp_sockets", len(socks),
		"tls_addr", cfg.TLSAddr, "on_web_port", cfg.WebListener != nil,
		"relay_ip", cfg.RelayIP.String(), "relay_ports", fmt.Sprintf("%d-%d", cfg.RelayMinPort, cfg.RelayMaxPort),
		"second_stun_port", echo.port)
	return &Server{cfg: cfg, log: log, port: port, tlsPort: tlsPort, tlsHost: tlsHost, turn: ts, quotas: q, drops: dropped,
		counters: counted, policy: policy, bindings: bindings, echo: echo, plane: plane, channels: chans, internal: internal}, nil
}

// Allocations is the number of live allocations.
func (s *Server) Allocations() int { return s.quotas.live() }

// Port is the UDP and TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Secret is the shared secret credentials are minted with.
func (s *Server) Secret() string { return s.cfg.Secret }

// Dropped returns how many datagrams relays have dropped, by reason.
func (s *Server) Dropped() map[string]uint64 { return s.drops.snapshot() }

// TLSPort is the port of the TLS listener of TURN's own; 0 when none.
func (s *Server) TLSPort() int { return s.tlsPort }

// Close stops the server and closes every allocation.
func (s *Server) Close() error {
	_ = s.echo.close()
	err := s.turn.Close() // closes the listeners and every relay
	s.plane.close()
	if err != nil {
		return fmt.Errorf("turn: close: %w", err)
	}
	return nil
}
