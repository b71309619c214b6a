package certs

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mholt/acmez/v3/acme"
)

func TestHint(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string // in the hint; "" for none
	}{
		{"nil", nil, ""},
		{"port 80 closed", fmt.Errorf("solving challenge: %w", acme.Problem{Type: acme.ProblemTypeConnection,
			Detail: "203.0.113.10: Fetching http://call.example.com/.well-known/acme-challenge/x: Connection refused"}), "port 80"},
		{"DNS", acme.Problem{Type: acme.ProblemTypeDNS, Detail: "DNS problem: NXDOMAIN looking up A for call.example.com"}, "A (or AAAA) record"},
		{"another server", acme.Problem{Type: acme.ProblemTypeUnauthorized, Detail: "Invalid response from http://call.example.com/.well-known/acme-challenge/x: 404"}, "another server"},
		{"rate limit", acme.Problem{Type: acme.ProblemTypeRateLimited, Detail: "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s"}, "staging"},
		{"compound", acme.Problem{Type: acme.ProblemTypeCompound, Subproblems: []acme.Subproblem{{Problem: acme.Problem{Type: acme.ProblemTypeCAA}}}}, "CAA"},
		{"CA's root untrusted", errors.New(`registering account: Get "https://ca.internal/dir": tls: failed to verify certificate: x509: certificate signed by unknown authority`), "-acme-ca-root"},
		{"CA unreachable", errors.New(`Get "https://acme.example/dir": dial tcp 192.0.2.1:443: connect: connection refused`), "outbound HTTPS"},
		{"unknown", errors.New("something else"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Hint(tt.err)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("Hint(%v) = %q, want one with %q", tt.err, got, tt.want)
			}
		})
	}
}
