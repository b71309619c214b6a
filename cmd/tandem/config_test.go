package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(config) bool
		wantErr bool
	}{
		{"defaults", nil, nil, func(c config) bool {
			return c.addr == ":8080" && c.turnAddr == ":3478" && c.turnSecret == "" && c.turnTTL == 6*time.Hour
		}, false},
		{"env twin", nil, map[string]string{"TANDEM_ADDR": ":9000", "TANDEM_TURN_SECRET": "s3", "TANDEM_TURN_ALLOW_PEERS": "10.0.0.0/8"}, func(c config) bool {
			return c.addr == ":9000" && c.turnSecret == "s3" && c.turnAllowPeers == "10.0.0.0/8"
		}, false},
		{"flag beats env", []string{"-addr", ":7000"}, map[string]string{"TANDEM_ADDR": ":9000"}, func(c config) bool {
			return c.addr == ":7000"
		}, false},
		{"bad env value", nil, map[string]string{"TANDEM_TURN_CREDENTIAL_TTL": "soon"}, nil, true},
		{"cert without key", []string{"-tls-cert", "c.pem"}, nil, nil, true},
		{"stray argument", []string{"serve"}, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.check != nil && !tt.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestHelpListsEveryFlagWithItsEnvTwin(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{
		"-addr (TANDEM_ADDR)", `(default ":8080")`, "-turn-addr (TANDEM_TURN_ADDR)", `(default ":3478")`,
		"-turn-secret (TANDEM_TURN_SECRET)", "-turn-public-ip (TANDEM_TURN_PUBLIC_IP)",
		"-turn-allow-peers (TANDEM_TURN_ALLOW_PEERS)", "-tls-cert (TANDEM_TLS_CERT)", "-tls-key (TANDEM_TLS_KEY)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPortRangeAndPrefixes(t *testing.T) {
	if lo, hi, err := portRange("49152-65535"); err != nil || lo != 49152 || hi != 65535 {
		t.Errorf("portRange = %d, %d, %v", lo, hi, err)
	}
	for _, bad := range []string{"", "100", "0-10", "20-10", "1-70000", "a-b"} {
		if _, _, err := portRange(bad); err == nil {
			t.Errorf("portRange(%q) accepted", bad)
		}
	}
	p, err := prefixes(" 10.0.0.0/8, ,fd00::/8,192.168.1.7/24")
	if err != nil || len(p) != 3 || p[2].String() != "192.168.1.0/24" {
		t.Errorf("prefixes = %v, %v", p, err)
	}
	if _, err := prefixes("10.0.0.1"); err == nil {
		t.Error("prefixes accepted an address without a length")
	}
	h, err := hostsOrPrefixes("10.0.0.5, 10.1.0.0/16, ::ffff:192.0.2.1, fd00::1")
	if err != nil || len(h) != 4 || h[0].String() != "10.0.0.5/32" || h[1].String() != "10.1.0.0/16" ||
		h[2].String() != "192.0.2.1/32" || h[3].String() != "fd00::1/128" {
		t.Errorf("hostsOrPrefixes = %v, %v", h, err)
	}
	if _, err := hostsOrPrefixes("10.0.0.5, proxy.example.org"); err == nil {
		t.Error("hostsOrPrefixes accepted a host name")
	}
}
