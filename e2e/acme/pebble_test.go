package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"tandem/bench/selfsigned"
	"tandem/e2e/harness"
)

// pebbleOptions say where Pebble validates (Tandem's ports, or a closed
// one to rule a challenge out) and how long its certificates last.
type pebbleOptions struct {
	httpPort, tlsPort int
	validity          time.Duration // 0: Pebble's 90 days
}

// pebble is a running Pebble and its DNS (pebble-challtestsrv), which
// answers 127.0.0.1 for every name.
type pebble struct {
	dirURL   string // the ACME directory
	rootFile string // PEM root of Pebble's own HTTPS API, for -acme-ca-root
	mgmt     string // https://host:port of its management interface
	apiRoots *x509.CertPool
	logs     *harness.LogBuffer
	cmd      *exec.Cmd // Pebble's process
}

// startPebble runs pebble-challtestsrv and Pebble on free loopback ports
// until t ends.
func startPebble(t *testing.T, opts pebbleOptions) *pebble {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no Pebble")
	}
	dir := t.TempDir()
	dnsPort, challMgmt := harness.FreePort(t), harness.FreePort(t)
	logs := &harness.LogBuffer{}
	start(t, logs, exec.Command(challBin,
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", // else Pebble dials ::1 first
		"-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort),
		"-management", "127.0.0.1:"+strconv.Itoa(challMgmt),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", ""))

	apiCert, err := selfsigned.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := apiCert.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	apiPort, mgmtPort := harness.FreePort(t), harness.FreePort(t)
	validity := int64(opts.validity / time.Second)
	if validity == 0 {
		validity = 90 * 24 * 3600
	}
	config := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(apiPort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       opts.httpPort,
		"tlsPort":                        opts.tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"profiles": map[string]any{"default": map[string]any{
			"description": "tandem's tests", "validityPeriod": validity}},
	}}
	configFile := filepath.Join(dir, "pebble.json")
	data, _ := json.Marshal(config)
	if err := os.WriteFile(configFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pebbleBin, "-config", configFile, "-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort), "-strict=false")
	cmd.Env = append(os.Environ(),
		"PEBBLE_VA_NOSLEEP=1",      // validate at once
		"PEBBLE_WFE_NONCEREJECT=0", // no random bad nonces
		"PEBBLE_AUTHZREUSE=0")      // every order validates afresh
	start(t, logs, cmd)

	p := &pebble{
		cmd:      cmd,
		dirURL:   fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort),
		rootFile: certFile,
		mgmt:     fmt.Sprintf("https://127.0.0.1:%d", mgmtPort),
		apiRoots: apiCert.Pool,
		logs:     logs,
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := p.get("/dir", p.dirURL); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("Pebble does not serve %s: %v; log:\n%s", p.dirURL, err, logs.Tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Pebble's log:\n%s", logs.Tail())
		}
	})
	return p
}

// stop ends Pebble, as a CA that is down or unreachable.
func (p *pebble) stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// issuingRoots are the roots Pebble signs with, new at each start.
func (p *pebble) issuingRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := p.get("root", p.mgmt+"/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("Pebble's /roots/0 is no PEM:\n%s", pem)
	}
	return pool
}

func (p *pebble) get(what, url string) ([]byte, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.apiRoots}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", what, resp.Status)
	}
	return body, err
}

// start runs cmd with its output in logs and kills it, by its PID, when t
// ends.
func start(t *testing.T, logs *harness.LogBuffer, cmd *exec.Cmd) {
	t.Helper()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

// closedPort is a loopback port nothing listens on: where a challenge
// type is sent to fail.
func closedPort(t *testing.T) int { return harness.FreePort(t) }

// dialer connects every name to 127.0.0.1, as the test DNS does.
func dialer(ctx context.Context, network, addr string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, "127.0.0.1:"+port)
}
