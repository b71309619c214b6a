package netlab

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// TestForward reaches an HTTP server that listens on 127.0.0.1 inside a
// site's host, the way a test reaches a browser's DevTools port there.
func TestForward(t *testing.T) {
	l := Start(t, Options{})
	site, err := l.AddSite(t.Context(), EasyNAT)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := l.Listen(site.Host(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "inside "+site.Host())
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})

	// Nothing listens on a port the listener has just given back.
	closed, err := l.Listen(site.Host(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()

	tests := []struct {
		name   string
		target string
		want   string // the body; "" for a failed request
	}{
		{"listening", ln.Addr().String(), "inside " + site.Host()},
		{"nothing there", closed.Addr().String(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			addr, stop, err := l.Forward(site.Host(), tt.target)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for range 2 { // a fresh connection, then (keep-alive) the same one
				body, err := get(client, "http://"+addr+"/")
				if tt.want == "" {
					if err == nil {
						t.Errorf("GET through a forward to nothing: %q, want an error", body)
					}
					continue
				}
				if err != nil || body != tt.want {
					t.Errorf("GET through the forward: %q, %v; want %q", body, err, tt.want)
				}
			}

			stop()
			stop() // harmless
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Errorf("%s still accepts after stop", addr)
			}
			client.CloseIdleConnections()
			checkGoroutines(t, before)
		})
	}
}

func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// checkGoroutines fails t if, within a second, the goroutines are not
// back to the count before.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
