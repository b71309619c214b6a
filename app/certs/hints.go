package certs

import (
	"errors"
	"strings"

	"github.com/mholt/acmez/v3/acme"
)

// hints name, in words, what an ACME failure most likely means, by the
// problem type the CA gave (RFC 8555 §6.7) or, before the CA answered, by
// what went wrong reaching it.
var hints = []struct {
	match, hint string
}{
	{acme.ProblemTypeConnection, "the CA could not connect to this server: port 80 (HTTP-01) or 443 (TLS-ALPN-01) is closed by a firewall or not forwarded here, or the domain points elsewhere"},
	{acme.ProblemTypeDNS, "the domain does not resolve for the CA: give it an A (or AAAA) record pointing at this server"},
	{acme.ProblemTypeUnauthorized, "another server answered the challenge: the domain points at another machine, or a proxy in front of ports 80/443 answers instead of Tandem"},
	{acme.ProblemTypeIncorrectResponse, "another server answered the challenge: the domain points at another machine, or a proxy in front of ports 80/443 answers instead of Tandem"},
	{acme.ProblemTypeTLS, "the TLS-ALPN-01 handshake failed: something in front of port 443 ends TLS itself; open port 80 for HTTP-01 instead"},
	{acme.ProblemTypeRateLimited, "the CA's rate limit: wait until the time it names; try set-ups against -acme-ca " + LetsEncryptStaging},
	{acme.ProblemTypeCAA, "a CAA record of the domain forbids this CA to issue for it"},
	{acme.ProblemTypeRejectedIdentifier, "the CA does not issue for this name (an IP address, or a reserved or blocked domain)"},
	{acme.ProblemTypeExternalAccountRequired, "the CA requires an external account binding, which Tandem does not configure"},
	{"certificate signed by unknown authority", "cannot trust the CA's API: give its root with -acme-ca-root"},
	{"no such host", "cannot resolve the CA's host: check -acme-ca and this server's DNS"},
	{"connection refused", "cannot reach the CA's directory (-acme-ca): outbound HTTPS blocked, or a wrong URL"},
	{"i/o timeout", "cannot reach the CA's directory (-acme-ca): outbound HTTPS blocked, or a wrong URL"},
}

// Hint says what err, a failure to obtain or renew a certificate, most
// likely means, or "" when it does not know.
func Hint(err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	var p acme.Problem
	if errors.As(err, &p) {
		text = p.Type + " " + text
		for _, sub := range p.Subproblems {
			text += " " + sub.Type
		}
	}
	for _, h := range hints {
		if strings.Contains(text, h.match) {
			return h.hint
		}
	}
	return ""
}
