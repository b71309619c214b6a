// Package acme tests certificates obtained by Tandem itself with -domain,
// against Pebble, Let's Encrypt's test CA (pinned as a tool in go.mod),
// with pebble-challtestsrv as the DNS that points the test domain at
// 127.0.0.1: HTTP-01 and TLS-ALPN-01, the redirect from http://, a restart
// that reuses the stored certificate, renewal under a live WebSocket, and
// a browser call over the certificate.
package acme

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"tandem/e2e/harness"
)

var (
	// tandem, pebbleBin and challBin are built by TestMain.
	tandem              harness.Binary
	pebbleBin, challBin string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		dir, err := os.MkdirTemp("", "tandem-pebble-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pebbleBin, err = harness.BuildCommand(dir, "github.com/letsencrypt/pebble/v2/cmd/pebble", false)
		if err == nil {
			challBin, err = harness.BuildCommand(dir, "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv", false)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		code := harness.Main(m, &tandem)
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(harness.Main(m, &tandem))
}
