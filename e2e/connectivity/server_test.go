package connectivity

import (
	"fmt"
	"net/netip"
	"testing"

	"tandem/bench/selfsigned"
	"tandem/e2e/harness"
	"tandem/e2e/netlab"
)

// Where the server listens in the lab: pages, signaling and TURN over TLS
// on the web port; TURN over UDP and TCP on turnPort; relays on the
// relayPorts range.
const (
	webPort    = 443
	turnPort   = 3478
	relayPorts = "50000-50999"
)

// labServer is a tandem process in the lab's server namespace.
type labServer struct {
	ip       netip.Addr
	certFile string // the self-signed certificate the peers trust (PEM)
}

// roomURL is the signaling WebSocket of room.
func (s *labServer) roomURL(room string) string {
	return fmt.Sprintf("wss://%s/ws/%s", s.ip, room)
}

// startServer starts tandem in the server namespace with a fresh
// self-signed certificate for its address and waits until it listens; it
// stops when t ends.
func startServer(t *testing.T, lab *netlab.Lab) *labServer {
	t.Helper()
	ns, ip := lab.Server()
	cert, err := selfsigned.New(ip.String())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := cert.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	harness.StartCommand(t, lab.Command(ns, string(tandem),
		"-addr", netip.AddrPortFrom(ip, webPort).String(),
		"-tls-cert", certFile, "-tls-key", keyFile,
		"-turn-addr", netip.AddrPortFrom(ip, turnPort).String(),
		"-turn-public-ip", ip.String(),
		"-turn-relay-ports", relayPorts,
		"-log-level", "info"))
	return &labServer{ip: ip, certFile: certFile}
}
