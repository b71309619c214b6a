package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Waits on a page are bounded by PageTimeout and look again every
// pollInterval; one evaluation is bounded by evalTimeout.
const (
	PageTimeout  = 30 * time.Second
	pollInterval = 100 * time.Millisecond
	evalTimeout  = 10 * time.Second
	// minNewFrames is how many more frames the remote video must show to
	// count as playing: a third of a second of the fake camera's 30 fps.
	minNewFrames = 10
)

// Page is the call page in a browser tab, whichever browser it is.
type Page interface {
	String() string // the tab's name, for messages
	Navigate(ctx context.Context, url string) error
	// Eval runs a JavaScript expression, waits for the promise it returns,
	// if any, and decodes its value into out.
	Eval(ctx context.Context, expr string, out any) error
	// Click clicks the element with this id with the mouse, which counts as
	// a user gesture (getDisplayMedia needs one).
	Click(ctx context.Context, id string) error
	// Screenshot writes a PNG of the page to file, creating its directory.
	Screenshot(ctx context.Context, file string) error
}

// Eval evaluates expr in p and decodes its value into a T.
func Eval[T any](p Page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), evalTimeout)
	defer cancel()
	var v T
	if err := p.Eval(ctx, expr, &v); err != nil {
		return v, fmt.Errorf("%s: evaluate: %w", p, err)
	}
	return v, nil
}

// Poll evaluates expr in p until done accepts its value, for at most
// PageTimeout, and returns the last value. Failed evaluations, as while a
// page reloads, only end the wait when it times out.
func Poll[T any](p Page, expr string, done func(T) bool) (T, error) {
	deadline := time.Now().Add(PageTimeout)
	var (
		last    T
		lastErr error
	)
	for {
		v, err := Eval[T](p, expr)
		if err == nil {
			last, lastErr = v, nil
			if done(v) {
				return v, nil
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("%s: condition not met within %v", p, PageTimeout)
			if lastErr != nil {
				err = fmt.Errorf("%w; last error: %w", err, lastErr)
			}
			return last, err
		}
		time.Sleep(pollInterval)
	}
}

// WaitFor polls the boolean expression expr in p until it is true.
func WaitFor(p Page, what, expr string) error {
	if _, err := Poll(p, expr, func(ok bool) bool { return ok }); err != nil {
		return fmt.Errorf("%s: waiting for %s: %w", p, what, err)
	}
	return nil
}

// Load opens url in p and stops there: on a call page, in the lobby.
func Load(p Page, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), PageTimeout)
	defer cancel()
	if err := p.Navigate(ctx, url); err != nil {
		return fmt.Errorf("%s: open %s: %w", p, url, err)
	}
	return nil
}

// Join opens url in p and, on a call page's lobby, clicks Join as a person
// does. A page that goes straight into the call (a reload) or is not a
// call page is left as it is.
func Join(p Page, url string) error {
	if err := Load(p, url); err != nil {
		return err
	}
	return JoinFromLobby(p)
}

// JoinFromLobby clicks Join when p shows a lobby, until the page leaves it:
// a click that lands while the lobby lays itself out can be lost.
func JoinFromLobby(p Page) error {
	phase, err := Poll(p, PhaseJS, func(s string) bool { return s != "starting" })
	if err != nil {
		return fmt.Errorf("%s: lobby not ready (%q): %w", p, phase, err)
	}
	if phase != "lobby" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), PageTimeout)
	defer cancel()
	for range 3 {
		if err := p.Click(ctx, "join"); err != nil {
			return fmt.Errorf("%s: click Join: %w", p, err)
		}
		for wait := time.Now().Add(3 * time.Second); time.Now().Before(wait); time.Sleep(pollInterval) {
			if p.Eval(ctx, PhaseJS, &phase) == nil && phase != "lobby" {
				return nil
			}
		}
	}
	return fmt.Errorf("%s: still in the lobby after 3 clicks on Join", p)
}

// WaitState waits until the data-state of the page's #status is want.
func WaitState(p Page, want string) error {
	s, err := Poll(p, StatusJS, func(s Status) bool { return s.State == want })
	if err != nil {
		return fmt.Errorf("%s: status is %q (%q), want %q: %w", p, s.State, s.Text, want, err)
	}
	return nil
}

// RemoteVideoPlays checks that #remote-video shows a picture that moves:
// it has a size, and it shows new frames as its time advances.
func RemoteVideoPlays(p Page) error {
	start, err := Poll(p, remoteVideoJS, func(v VideoProgress) bool { return v.Width > 0 })
	if err != nil {
		return fmt.Errorf("%s: remote video has no picture (%+v): %w", p, start, err)
	}
	end, err := Poll(p, remoteVideoJS, func(v VideoProgress) bool {
		return v.Frames >= start.Frames+minNewFrames && v.Time > start.Time
	})
	if err != nil {
		return fmt.Errorf("%s: remote video does not play: from %+v to %+v: %w", p, start, end, err)
	}
	return nil
}

// SelectedPair describes the ICE candidate pair selected by the page's
// newest connected RTCPeerConnection.
func SelectedPair(p Page) (CandidatePair, error) {
	pair, err := Poll(p, SelectedPairJS, func(CandidatePair) bool { return true })
	if err != nil {
		return pair, fmt.Errorf("%s: selected candidate pair: %w", p, err)
	}
	return pair, nil
}

// Screenshot saves a PNG of p to file.
func Screenshot(p Page, file string) error {
	ctx, cancel := context.WithTimeout(context.Background(), PageTimeout)
	defer cancel()
	if err := p.Screenshot(ctx, file); err != nil {
		return fmt.Errorf("%s: screenshot: %w", p, err)
	}
	return nil
}

// RoomName is a room name unique to the running (sub)test.
func RoomName(t testing.TB) string {
	return strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
}

// Click clicks the element with this id in p.
func Click(p Page, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), PageTimeout)
	defer cancel()
	if err := p.Click(ctx, id); err != nil {
		return fmt.Errorf("%s: click #%s: %w", p, id, err)
	}
	return nil
}
