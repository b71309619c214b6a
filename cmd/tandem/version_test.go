package main

import (
	"bytes"
	"encoding/json"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"tandem/e2e/harness"
)

// TestVersion: `tandem version` and /healthz report the same version.
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	printVersion(&out)
	fields := strings.Fields(out.String())
	if len(fields) != 4 || fields[0] != "tandem" || fields[1] != buildVersion() || fields[2] != runtime.Version() {
		t.Fatalf("tandem version printed %q", out.String())
	}
	srv := startServer(t)
	_, body := harness.Get(t, srv.URL+"/healthz")
	var health struct{ Status, Version string }
	if err := json.Unmarshal([]byte(body), &health); err != nil || health.Status != "ok" || health.Version != buildVersion() {
		t.Fatalf("/healthz said %s (err %v), want version %q", body, err, buildVersion())
	}
}

// TestHealthcheck: `tandem healthcheck` finds the server from the same
// flags and environment, over HTTP and HTTPS, and fails when nothing
// answers.
func TestHealthcheck(t *testing.T) {
	certFile, keyFile, _ := selfSignedCert(t)
	plain := startServer(t)
	secure := startServer(t, "-tls-cert", certFile, "-tls-key", keyFile)
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		ok   bool
	}{
		{"HTTP by flag", []string{"-addr", plain.addr()}, nil, true},
		{"HTTPS by environment", nil, map[string]string{"TANDEM_ADDR": secure.addr(), "TANDEM_TLS_CERT": certFile, "TANDEM_TLS_KEY": keyFile}, true},
		{"HTTP to the HTTPS port", []string{"-addr", secure.addr()}, nil, false},
		{"nothing there", []string{"-addr", "127.0.0.1:" + strconv.Itoa(harness.FreePort(t))}, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runHealthcheck(tt.args, env(tt.env), &out, io.Discard)
			if (err == nil) != tt.ok {
				t.Errorf("err %v, output %q; want ok %v", err, out.String(), tt.ok)
			}
			if tt.ok && !strings.Contains(out.String(), ": ok (rooms ok, version "+buildVersion()+")") {
				t.Errorf("output %q", out.String())
			}
		})
	}
}
