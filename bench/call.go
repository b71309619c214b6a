package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// CallConfig is one call-setup benchmark: Runs calls, each in a fresh room
// that the first person has already joined; the clock starts when the
// second person opens the link and stops when both sides are connected and
// have received the first remote media. In a browser the link opens on a
// lobby (camera preview); the bench clicks Join as soon as it is enabled
// and reports that lobby time too.
type CallConfig struct {
	// URL is the server's base URL, http://127.0.0.1:8080.
	URL string
	// Relay forces relay-only ICE (the call page's ?relay=1).
	Relay bool
	// RelayTLS forces the relay, reached over TLS on the web port only
	// (turns:), as from a network that passes only HTTPS. Pion peers only.
	RelayTLS bool
	// TLS is the client configuration for an https:// URL and for TURN
	// over TLS; nil: the system's roots.
	TLS *tls.Config
	// Peer is who calls: "pion" (two Go peers speaking the signaling
	// protocol) or "chromium" (two headless browser tabs on the real call
	// page). Default pion.
	Peer string
	// Chromium is the browser binary for Peer "chromium".
	Chromium string
	// Runs is the number of calls. Default 10.
	Runs int
	// RunTimeout bounds one call. Default 15 s.
	RunTimeout time.Duration
	// Timeout bounds the whole run. Default 3 minutes.
	Timeout time.Duration
	// Progress receives a line per call; nil discards them.
	Progress io.Writer
}

func (c CallConfig) withDefaults() CallConfig {
	if c.Peer == "" {
		c.Peer = "pion"
	}
	if c.Chromium == "" {
		c.Chromium = "/usr/bin/chromium"
	}
	if c.Runs <= 0 {
		c.Runs = 10
	}
	if c.RunTimeout <= 0 {
		c.RunTimeout = 15 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Minute
	}
	return c
}

// path names what a CallConfig times.
func (c CallConfig) path() string {
	switch {
	case c.RelayTLS:
		return "relay-tls"
	case c.Relay:
		return "relay-only"
	}
	return "direct"
}

// callTiming is one call, measured from the second person opening the link.
type callTiming struct {
	Lobby      time.Duration // until Join could be clicked (browser only: the call page opens on a lobby)
	Connected  time.Duration // both sides' connection state is connected
	FirstFrame time.Duration // both sides have received remote media
}

// caller makes calls between two parties.
type caller interface {
	// call opens room for the first party and waits until it is waiting,
	// then opens it for the second and times the call's setup.
	call(ctx context.Context, room string, relay bool) (callTiming, error)
	close()
}

// CallResult is what a call-setup benchmark measured.
type CallResult struct {
	Config     CallConfig
	Lobby      Summary // opening the link to clicking Join, included in the others
	Connected  Summary
	FirstFrame Summary
	Failures   int
	FirstError error
}

// ErrUnknownPeer is returned for a CallConfig.Peer other than pion or chromium.
var ErrUnknownPeer = errors.New("bench: unknown call peer")

// RunCall runs a call-setup benchmark against cfg.URL.
func RunCall(ctx context.Context, cfg CallConfig) (*CallResult, error) {
	cfg = cfg.withDefaults()
	base, err := ParseTarget(cfg.URL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	log := newProgress(cfg.Progress)

	var c caller
	switch cfg.Peer {
	case "pion":
		scheme := "ws://"
		if base.Scheme == "https" {
			scheme = "wss://"
		}
		c = &pionCaller{wsBase: scheme + base.Host + "/ws/", tls: cfg.TLS, relayTLS: cfg.RelayTLS}
	case "chromium":
		if cfg.RelayTLS {
			return nil, fmt.Errorf("%w: chromium cannot be held to TURN over TLS", ErrUnknownPeer)
		}
		bc, err := newBrowserCaller(ctx, cfg.Chromium, base.String())
		if err != nil {
			return nil, err
		}
		c = bc
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownPeer, cfg.Peer)
	}
	defer c.close()

	res := &CallResult{Config: cfg}
	var lobby, connected, frames []time.Duration
	run := randomHex(4)
	// Call 0 warms up (the page's assets cached, code paths loaded) and
	// is not counted.
	for i := range cfg.Runs + 1 {
		if ctx.Err() != nil {
			break
		}
		runCtx, cancelRun := context.WithTimeout(ctx, cfg.RunTimeout)
		t, err := c.call(runCtx, fmt.Sprintf("call-%s-%d", run, i), cfg.Relay)
		cancelRun()
		if i == 0 {
			log.printf("%s %s warm-up call: %v %v", cfg.Peer, cfg.path(), t, err)
			continue
		}
		if err != nil {
			res.Failures++
			if res.FirstError == nil {
				res.FirstError = err
			}
			log.printf("%s %s call %d: %v", cfg.Peer, cfg.path(), i, err)
			continue
		}
		lobby, connected, frames = append(lobby, t.Lobby), append(connected, t.Connected), append(frames, t.FirstFrame)
		log.printf("%s %s call %d: connected %s ms, first remote frame %s ms", cfg.Peer, cfg.path(), i, ms(t.Connected), ms(t.FirstFrame))
	}
	res.Lobby, res.Connected, res.FirstFrame = summarize(lobby), summarize(connected), summarize(frames)
	if res.Connected.N == 0 {
		return res, fmt.Errorf("bench: no call connected: %w", res.FirstError)
	}
	return res, ctx.Err()
}

// WriteCallTable prints call-setup results as a table.
func WriteCallTable(w io.Writer, results []*CallResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "call setup\tpeers\tcalls\tlobby median\tconnected median\tp90\tfirst frame median\tp90\tfailed")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s ms\t%s ms\t%s ms\t%s ms\t%s ms\t%d\n", r.Config.path(), r.Config.Peer, r.Connected.N,
			ms(r.Lobby.P50), ms(r.Connected.P50), ms(r.Connected.P90), ms(r.FirstFrame.P50), ms(r.FirstFrame.P90), r.Failures)
	}
	_ = tw.Flush()
}
