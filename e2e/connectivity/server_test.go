package connectivity

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"tandem/bench/selfsigned"
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
// self-signed certificate for its address, waits until it serves, and
// stops it (SIGTERM, then SIGKILL, by its PID) when t ends.
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
	cmd := lab.Command(ns, tandemBin,
		"-addr", netip.AddrPortFrom(ip, webPort).String(),
		"-tls-cert", certFile, "-tls-key", keyFile,
		"-turn-addr", netip.AddrPortFrom(ip, turnPort).String(),
		"-turn-public-ip", ip.String(),
		"-turn-relay-ports", relayPorts,
		"-log-level", "warn")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no TANDEM_* from the test's environment
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error // written before exited is closed
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("tandem's log:\n%s", logs.tail())
		}
	})

	client := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return lab.DialContext(ctx, ns, network, addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: cert.Pool},
		},
	}
	defer client.CloseIdleConnections()
	healthz := fmt.Sprintf("https://%s/healthz", ip)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(healthz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-exited:
			t.Fatalf("tandem exited: %v; log:\n%s", waitErr, logs.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tandem does not serve %s: %v; log:\n%s", healthz, err, logs.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &labServer{ip: ip, certFile: certFile}
}
