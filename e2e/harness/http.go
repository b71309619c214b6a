package harness

import (
	"io"
	"net/http"
	"net/url"
	"testing"
)

// noRedirect is an HTTP client that shows redirects instead of following.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Get fetches u, without following redirects, and returns the response
// and its body.
func Get(t testing.TB, u string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Get(u)
	return readResponse(t, resp, err)
}

// PostForm posts form to u, without following redirects, and returns the
// response and its body.
func PostForm(t testing.TB, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.PostForm(u, form)
	return readResponse(t, resp, err)
}

func readResponse(t testing.TB, resp *http.Response, err error) (*http.Response, string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}
