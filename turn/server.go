// Package turn runs Tandem's bundled TURN server (pion/turn) and mints the
// ephemeral "TURN REST API" credentials that browsers use with it.
package turn

import (
	"crypto/rand"
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
	// Host is the host name written into iceServers URLs. Default: RelayIP
	// when it is not loopback, else the host the page was loaded from.
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
	// UDPListeners is how many UDP sockets share the TURN port (with
	// SO_REUSEPORT, where the system has it; the kernel spreads clients
	// over them by address). pion/turn drains each socket with one
	// goroutine, which tops out at some 50,000 datagrams a second; more
	// sockets use more cores. Default: GOMAXPROCS.
	UDPListeners int
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
			c.UDPListeners = runtime.GOMAXPROCS(0)
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
	if c.MaxBitrate > 0 && c.MaxBitrate < minBitrate {
		return fmt.Errorf("%w: %d, under %d", ErrBitrateTooLow, c.MaxBitrate, minBitrate)
	}
	for _, u := range c.ExtraURLs {
		scheme, _, _ := strings.Cut(u, ":")
		if scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns" {
			return fmt.Errorf("%w: %q", ErrBadICEURL, u)
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

// Server is a running TURN server.
type Server struct {
	// Static after construction.
	cfg    Config
	log    *slog.Logger
	port   int
	turn   *turn.Server
	quotas *quotas
}

// New starts a TURN server listening on cfg.Addr over UDP and TCP.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	udps, tcp, err := listen(cfg.Addr, cfg.UDPListeners)
	if err != nil {
		return nil, err
	}
	closeListeners := func() {
		for _, u := range udps {
			_ = u.Close()
		}
		_ = tcp.Close()
	}
	port := udps[0].LocalAddr().(*net.UDPAddr).Port
	if port >= int(cfg.RelayMinPort) && port <= int(cfg.RelayMaxPort) {
		closeListeners()
		return nil, fmt.Errorf("%w: %d", ErrPortInRelayRange, port)
	}

	policy := peerPolicy{self: cfg.RelayIP.Unmap(), allow: cfg.AllowPeers}
	relays := func() turn.RelayAddressGenerator {
		return &relayGenerator{
			inner: &turn.RelayAddressGeneratorPortRange{
				RelayAddress: net.IP(cfg.RelayIP.AsSlice()),
				Address:      cfg.RelayBind,
				MinPort:      cfg.RelayMinPort,
				MaxPort:      cfg.RelayMaxPort,
			},
			self:        policy.self,
			maxBitrate:  cfg.MaxBitrate,
			maxLifetime: cfg.MaxAllocationLifetime,
		}
	}
	permit := func(_ net.Addr, peerIP net.IP) bool { return policy.permit(peerIP) }
	log := logger.With("component", "turn")
	loggers := &pionLoggerFactory{log: log}
	q := newQuotas(cfg.MaxAllocsPerUser, cfg.MaxAllocsPerIP)
	// One config per UDP socket: pion drains each with its own goroutine.
	packetConns := make([]turn.PacketConnConfig, len(udps))
	for i, u := range udps {
		packetConns[i] = turn.PacketConnConfig{PacketConn: newListenerConn(u), RelayAddressGenerator: relays(), PermissionHandler: permit}
	}

	ts, err := turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   authHandler(cfg.Secret, cfg.PreviousSecret, time.Now().Add(cfg.CredentialTTL), log, loggers),
		QuotaHandler:  q.allow,
		LoggerFactory: loggers,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, _ net.Addr, _, userID, _ string, _ net.Addr, _ int) { q.created(src, userID) },
			OnAllocationDeleted: func(src, _ net.Addr, _, userID, _ string) { q.deleted(src, userID) },
		},
		PacketConnConfigs: packetConns,
		ListenerConfigs: []turn.ListenerConfig{{
			Listener:              newTCPListener(tcp, cfg.MaxAllocsPerIP, cfg.MaxTCPConns, log),
			RelayAddressGenerator: relays(),
			PermissionHandler:     permit,
		}},
	})
	if err != nil {
		closeListeners()
		return nil, fmt.Errorf("turn: start server: %w", err)
	}
	logger.Info("TURN listening", "addr", udps[0].LocalAddr().String(), "udp_sockets", len(udps),
		"relay_ip", cfg.RelayIP.String(), "relay_ports", fmt.Sprintf("%d-%d", cfg.RelayMinPort, cfg.RelayMaxPort))
	return &Server{cfg: cfg, log: log, port: port, turn: ts, quotas: q}, nil
}

// Allocations is the number of live allocations.
func (s *Server) Allocations() int { return s.quotas.live() }

// Port is the UDP and TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Secret is the shared secret credentials are minted with.
func (s *Server) Secret() string { return s.cfg.Secret }

// ICEServers returns the STUN and TURN entries for one peer, with fresh
// credentials bound to peerID. pageHost is the host the page was loaded from,
// used when no TURN host is configured.
func (s *Server) ICEServers(peerID, pageHost string) []ICEServer {
	host := s.cfg.Host
	if host == "" {
		host = pageHost
	}
	hostPort := net.JoinHostPort(host, strconv.Itoa(s.port))
	username, password, err := turn.GenerateLongTermTURNRESTCredentials(s.cfg.Secret, peerID, s.cfg.CredentialTTL)
	if err != nil {
		s.log.Error("mint TURN credentials", "err", err)
		return []ICEServer{{URLs: []string{"stun:" + hostPort}}}
	}
	stuns := []string{"stun:" + hostPort}
	turns := []string{"turn:" + hostPort + "?transport=udp", "turn:" + hostPort + "?transport=tcp"}
	for _, u := range s.cfg.ExtraURLs {
		if strings.HasPrefix(u, "stun:") || strings.HasPrefix(u, "stuns:") {
			stuns = append(stuns, u)
		} else {
			turns = append(turns, u)
		}
	}
	return []ICEServer{
		{URLs: stuns},
		{URLs: turns, Username: username, Credential: password},
	}
}

// Close stops the server and closes every allocation.
func (s *Server) Close() error {
	if err := s.turn.Close(); err != nil {
		return fmt.Errorf("turn: close: %w", err)
	}
	return nil
}
