package main

import (
	"bytes"
	"encoding/json"
	"runtime"
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
