//go:build linux

// Package bidi drives Debian's Firefox ESR over WebDriver BiDi, with no
// driver in between: Launch starts firefox-esr headless with a fresh
// profile and its remote agent on a free port, and speaks BiDi to it over a
// WebSocket. It covers what end-to-end tests of a web page need: tabs in
// their own user contexts, navigation, preload scripts, evaluation,
// clicks and keys, the viewport and screenshots.
package bidi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
)

// DefaultPath is the Firefox that Launch starts unless told otherwise:
// Debian's firefox-esr package.
const DefaultPath = "firefox-esr"

const (
	// closeTimeout bounds each step of Close: browser.close, then the exit.
	closeTimeout = 5 * time.Second
	// outputTail is how many lines of Firefox's output a failed start shows.
	outputTail = 20
)

// listeningRE finds the line Firefox prints on stderr once its remote agent
// listens, with the port it picked for --remote-debugging-port 0. (It also
// writes the address to WebDriverBiDiServer.json in the profile.)
var listeningRE = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// Options say how to start Firefox and reach it. The zero value starts
// firefox-esr from PATH with DefaultPrefs and dials it directly.
type Options struct {
	// Path is the Firefox binary: a path or a name looked up in PATH.
	// Empty means DefaultPath.
	Path string
	// Command comes before Firefox's command line, such as
	// []string{"ip", "netns", "exec", "ns1"}. It must exec Firefox (not
	// fork it into a new session) for Close to reach every process.
	Command []string
	// Args are more arguments for Firefox, after the ones Launch passes.
	Args []string
	// Env is Firefox's environment; nil means the environment of this
	// process. Launch adds MOZ_REMOTE_SETTINGS_DEVTOOLS=1 unless Env sets
	// it: without it, release builds ignore the remote settings server
	// that DefaultPrefs points nowhere, and fetch from Mozilla's.
	Env []string
	// Prefs are added to DefaultPrefs, replacing those of the same name,
	// such as "media.peerconnection.ice.loopback": true. A value is a bool,
	// an int or a string.
	Prefs map[string]any
	// TempDir is where the profile directory is made; empty means
	// os.TempDir.
	TempDir string
	// Dial connects to the address Firefox listens on (network "tcp" and
	// its host:port as Firefox sees it), for a Firefox that another network
	// namespace hides. Nil means a plain net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Output receives Firefox's stdout and stderr, line by line; nil
	// discards them.
	Output io.Writer
	// AcceptInsecureCerts lets pages load whose certificate Firefox does
	// not trust, such as a test server's self-signed one.
	AcceptInsecureCerts bool
	// OnEvent receives the events the session subscribes to (see
	// Browser.Subscribe). It runs on the goroutine that reads the
	// WebSocket: it must return quickly and must not call the Browser.
	// Close waits until it is no longer called.
	OnEvent func(Event)
}

// Browser is a Firefox process that Launch started, and the WebDriver BiDi
// session opened on it.
type Browser struct {
	// Static after Launch.
	cmd        *exec.Cmd
	profileDir string
	wsURL      string
	conn       *conn // nil until the session is connected

	exited    chan struct{} // closed when the process has exited, not yet reaped
	outputEOF chan struct{} // closed when every process closed the output pipe

	tailMu sync.Mutex
	tail   []string // guarded by tailMu: the last lines of output

	closeOnce sync.Once
	closeErr  error
}

// Launch starts Firefox headless with a fresh profile and opens a BiDi
// session on it. ctx bounds the start, not the life of the browser: Close
// ends it. An error wraps exec.ErrNotFound when Firefox is not installed.
func Launch(ctx context.Context, opts Options) (*Browser, error) {
	path := opts.Path
	if path == "" {
		path = DefaultPath
	}
	path, err := exec.LookPath(path)
	if err != nil {
		return nil, fmt.Errorf("bidi: firefox: %w", err)
	}
	profileDir, err := os.MkdirTemp(opts.TempDir, "bidi-firefox-")
	if err != nil {
		return nil, fmt.Errorf("bidi: profile: %w", err)
	}
	prefs := DefaultPrefs()
	maps.Copy(prefs, opts.Prefs)
	if err := writeUserJS(profileDir, prefs); err != nil {
		os.RemoveAll(profileDir)
		return nil, err
	}

	argv := append(append([]string{}, opts.Command...), path,
		"--headless", "--no-remote", "--profile", profileDir, "--remote-debugging-port", "0")
	argv = append(argv, opts.Args...)
	b := &Browser{
		cmd:        exec.Command(argv[0], argv[1:]...),
		profileDir: profileDir,
		exited:     make(chan struct{}),
		outputEOF:  make(chan struct{}),
	}
	b.cmd.Env = environment(opts.Env)
	// Its own process group, so that Close reaches Firefox's content
	// processes too; killed with this process if it dies first.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	addr, err := b.start(ctx, opts.Output)
	if err != nil {
		return nil, errors.Join(err, b.Close())
	}
	b.wsURL = addr + "/session"
	if err := b.connect(ctx, opts); err != nil {
		return nil, errors.Join(err, b.Close())
	}
	return b, nil
}

// start runs the process and waits until it prints its BiDi address. Its
// stdout and stderr go to one pipe, read until every process that holds it
// has exited.
func (b *Browser) start(ctx context.Context, output io.Writer) (string, error) {
	if output == nil {
		output = io.Discard
	}
	r, w, err := os.Pipe()
	if err != nil {
		close(b.exited)
		close(b.outputEOF)
		return "", fmt.Errorf("bidi: %w", err)
	}
	b.cmd.Stdout, b.cmd.Stderr = w, w
	err = b.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		close(b.exited)
		close(b.outputEOF)
		return "", fmt.Errorf("bidi: start firefox: %w", err)
	}
	go b.waitExit()

	found := make(chan string, 1)
	go func() {
		defer close(b.outputEOF)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(output, line)
			b.tailMu.Lock()
			b.tail = append(b.tail, line)
			if len(b.tail) > outputTail {
				b.tail = b.tail[len(b.tail)-outputTail:]
			}
			b.tailMu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()

	select {
	case addr := <-found:
		return addr, nil
	case <-b.outputEOF:
		return "", fmt.Errorf("bidi: firefox exited before listening; its output ended with:\n%s", b.outputTail())
	case <-ctx.Done():
		return "", fmt.Errorf("bidi: firefox not listening: %w; its output ended with:\n%s", ctx.Err(), b.outputTail())
	}
}

// connect dials the session WebSocket and starts a BiDi session.
func (b *Browser) connect(ctx context.Context, opts Options) error {
	dialer := websocket.Dialer{NetDialContext: opts.Dial}
	if dialer.NetDialContext == nil {
		var d net.Dialer
		dialer.NetDialContext = d.DialContext
	}
	ws, _, err := dialer.DialContext(ctx, b.wsURL, nil)
	if err != nil {
		return fmt.Errorf("bidi: dial %s: %w", b.wsURL, err)
	}
	b.conn = newConn(ws, opts.OnEvent)
	caps := map[string]any{}
	if opts.AcceptInsecureCerts {
		caps["acceptInsecureCerts"] = true
	}
	params := map[string]any{"capabilities": map[string]any{"alwaysMatch": caps}}
	return b.conn.call(ctx, "session.new", params, nil)
}

// environment is env, or this process's environment if env is nil, with
// remote settings overrides allowed.
func environment(env []string) []string {
	if env == nil {
		env = os.Environ()
	}
	const devtools = "MOZ_REMOTE_SETTINGS_DEVTOOLS"
	for _, kv := range env {
		if strings.HasPrefix(kv, devtools+"=") {
			return env
		}
	}
	return append(slices.Clip(env), devtools+"=1")
}

// outputTail is the last lines Firefox printed.
func (b *Browser) outputTail() string {
	b.tailMu.Lock()
	defer b.tailMu.Unlock()
	return strings.Join(b.tail, "\n")
}

// PID is the process id of Firefox, which is also its process group id.
func (b *Browser) PID() int { return b.cmd.Process.Pid }

// ProfileDir is the profile directory that Close removes.
func (b *Browser) ProfileDir() string { return b.profileDir }

// WebSocketURL is the address of the BiDi session, as Firefox sees it.
func (b *Browser) WebSocketURL() string { return b.wsURL }

// Close ends the session, then Firefox: it asks the browser to close, and
// kills its process group if it has not exited within a few seconds. It
// waits for the process, removes the profile directory and returns the
// first error. It is safe to call more than once.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.close() })
	return b.closeErr
}

func (b *Browser) close() error {
	var errs []error
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		// Firefox may close the WebSocket before it answers: any error is
		// fine as long as the process exits.
		_ = b.conn.call(ctx, "browser.close", nil, nil)
		cancel()
		if err := b.conn.close(); err != nil {
			errs = append(errs, fmt.Errorf("bidi: close the WebSocket: %w", err))
		}
	}
	if b.cmd.Process != nil {
		select {
		case <-b.exited:
		case <-time.After(closeTimeout):
		}
		// The process is not reaped yet, so its group id is still ours:
		// this reaches its children, and nothing else.
		if err := syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("bidi: kill firefox: %w", err))
		}
		<-b.exited
		_ = b.cmd.Wait() // killed or not, its exit status is no news
		if err := waitGroupGone(b.cmd.Process.Pid, closeTimeout); err != nil {
			errs = append(errs, err)
		}
		select {
		case <-b.outputEOF:
		case <-time.After(closeTimeout):
			errs = append(errs, errors.New("bidi: firefox's output still open after it was killed"))
		}
	}
	if err := os.RemoveAll(b.profileDir); err != nil {
		errs = append(errs, fmt.Errorf("bidi: remove the profile: %w", err))
	}
	return errors.Join(errs...)
}
