package certs

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Redirect is what the plain-HTTP port (80) serves: the CA's HTTP-01
// requests when acme is not nil, and for everything else a permanent
// redirect to the same path over HTTPS on httpsPort (443: none in the
// URL). The redirect keeps the host asked for when it is one of domains,
// or any sane host name when domains is empty (certificate files).
func Redirect(acme *ACME, domains []string, httpsPort int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if acme != nil && acme.HandleHTTPChallenge(w, r) {
			return
		}
		host := strings.ToLower(hostOnly(r.Host))
		switch {
		case len(domains) > 0 && !slices.Contains(domains, host):
			host = domains[0]
		case len(domains) == 0 && !saneHost(host):
			http.Error(w, "use HTTPS", http.StatusBadRequest)
			return
		}
		if httpsPort != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(httpsPort))
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]" // an IPv6 address
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// hostOnly is the host of a Host header, without its port or brackets.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// saneHost accepts a DNS name or an IP address, nothing that could turn
// the redirect into a link elsewhere.
func saneHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
