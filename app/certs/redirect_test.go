package certs

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRedirect(t *testing.T) {
	for _, tt := range []struct {
		name      string
		domains   []string
		httpsPort int
		host, uri string
		wantCode  int
		wantTo    string
	}{
		{"domain", []string{"call.example.com"}, 443, "call.example.com", "/r/team?x=1", 308, "https://call.example.com/r/team?x=1"},
		{"domain with port", []string{"call.example.com"}, 443, "CALL.example.com:80", "/", 308, "https://call.example.com/"},
		{"other host goes to the domain", []string{"call.example.com"}, 443, "evil.example", "/r/a", 308, "https://call.example.com/r/a"},
		{"HTTPS on another port", []string{"call.example.com"}, 8443, "call.example.com:8080", "/", 308, "https://call.example.com:8443/"},
		{"files: any host", nil, 443, "203.0.113.10", "/", 308, "https://203.0.113.10/"},
		{"files: IPv6", nil, 443, "[2001:db8::1]:80", "/", 308, "https://[2001:db8::1]/"},
		{"files: IPv6, port", nil, 8443, "[2001:db8::1]", "/", 308, "https://[2001:db8::1]:8443/"},
		{"files: hostile host", nil, 443, "a.example@evil.example", "/", 400, ""},
		{"files: no host", nil, 443, "", "/", 400, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://placeholder"+tt.uri, nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			Redirect(nil, tt.domains, tt.httpsPort).ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || rec.Header().Get("Location") != tt.wantTo {
				t.Errorf("%d to %q, want %d to %q", rec.Code, rec.Header().Get("Location"), tt.wantCode, tt.wantTo)
			}
		})
	}
}
