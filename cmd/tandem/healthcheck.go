package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheckTimeout bounds `tandem healthcheck`.
const healthcheckTimeout = 3 * time.Second

// runHealthcheck is `tandem healthcheck [flags]`: it asks this machine's
// own web port, found from the same flags and environment as the server's,
// for /healthz and fails unless it answers 200. A container image built
// FROM scratch has no curl for its HEALTHCHECK.
func runHealthcheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme, serverName := "http", ""
	if cfg.tlsCert != "" || cfg.acme.domains != "" {
		scheme = "https"
		if ds := cfg.domains(); len(ds) > 0 {
			serverName = ds[0]
		}
	}
	client := &http.Client{
		Timeout: healthcheckTimeout,
		// Its own port, over loopback: the certificate is for the public
		// name, and what is asked is whether the process serves.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: serverName}},
	}
	url := scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	var h struct{ Status, Rooms, Version string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&h); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	fmt.Fprintf(stdout, "%s: %s (rooms %s, version %s)\n", url, h.Status, h.Rooms, h.Version)
	return nil
}
