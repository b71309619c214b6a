package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace a lab creates. The full run
// prefix is Prefix, the creating process's PID and a random hex word:
// tnl-4242-9f3a.
const Prefix = "tnl-"

// netnsDir is where ip netns keeps its named namespaces.
const netnsDir = "/run/netns"

// The public internet: the bridge (everyone's default gateway), the server,
// and the first address handed to sites.
var (
	internetNet = netip.MustParsePrefix("203.0.113.0/24")
	gatewayIP   = netip.MustParseAddr("203.0.113.1")
	serverIP    = netip.MustParseAddr("203.0.113.10")
	firstPublic = netip.MustParseAddr("203.0.113.20")
)

// ErrUnavailable is wrapped by the errors of Available: this machine cannot
// build a lab (not root, a tool missing, no network namespaces).
var ErrUnavailable = errors.New("netlab: network namespaces unavailable")

// Options configure a lab. The zero value is fine.
type Options struct {
	// Logf, when set, is told every command the lab runs.
	Logf func(format string, args ...any)
}

// Lab is one small internet: the internet namespace with its bridge, the
// server namespace, and the sites added since. Its methods are safe for
// concurrent use.
type Lab struct {
	// Static after New.
	id     string // run prefix, tnl-<pid>-<hex>
	logf   func(format string, args ...any)
	inet   string
	server string

	mu         sync.Mutex // guards the fields below
	namespaces []string   // in creation order
	siteCount  int
	nextPublic netip.Addr
	forwards   map[*forwarder]struct{}
	closed     bool
}

// Start builds a lab for t and closes it when t ends. When this machine
// cannot build one, t is skipped, except under CI=true, where it fails.
func Start(t testing.TB, opts Options) *Lab {
	t.Helper()
	Require(t)
	l, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// Require skips t when this machine cannot build a lab (see Available),
// except under CI=true, where it fails t.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no network namespaces")
	}
	err := Available()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%v; the lab needs root and: apt-get install -y iproute2 nftables conntrack", err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Available reports whether this machine can build a lab: root, the ip, nft
// and conntrack commands, and a kernel that makes network namespaces. Its
// errors wrap ErrUnavailable.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root", ErrUnavailable)
	}
	for _, tool := range []string{"ip", "nft", "conntrack"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	// Make a namespace on a locked thread and come back, the way Do enters
	// one. Where coming back fails the thread stays locked, and Go never
	// runs anything else on it.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := probeUnshare()
		if !errors.Is(err, errRestore) {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// probeUnshare makes a new network namespace for the current, locked
// thread and brings the thread back.
func probeUnshare() error {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return fmt.Errorf("current namespace: %w", err)
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("%w: %w", errRestore, err)
	}
	return nil
}

// New builds the internet and server namespaces. It first sweeps the
// namespaces left by labs of processes that no longer run. Close removes
// everything New and AddSite created.
func New(ctx context.Context, opts Options) (*Lab, error) {
	var word [2]byte
	if _, err := rand.Read(word[:]); err != nil {
		return nil, fmt.Errorf("netlab: run prefix: %w", err)
	}
	id := fmt.Sprintf("%s%d-%s", Prefix, os.Getpid(), hex.EncodeToString(word[:]))
	l := &Lab{
		id:         id,
		logf:       opts.Logf,
		inet:       id + "-inet",
		server:     id + "-srv",
		nextPublic: firstPublic,
		forwards:   make(map[*forwarder]struct{}),
	}
	if l.logf == nil {
		l.logf = func(string, ...any) {}
	}
	l.sweep(ctx)
	if err := l.build(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("netlab: build %s: %w", id, err), l.Close())
	}
	return l, nil
}

func (l *Lab) build(ctx context.Context) error {
	if err := l.addNamespace(ctx, l.inet, true); err != nil {
		return err
	}
	gw := netip.PrefixFrom(gatewayIP, internetNet.Bits()).String()
	if err := l.ip(ctx, "-n", l.inet, "link", "add", "br0", "type", "bridge"); err != nil {
		return err
	}
	if err := l.ip(ctx, "-n", l.inet, "addr", "add", gw, "dev", "br0"); err != nil {
		return err
	}
	if err := l.ip(ctx, "-n", l.inet, "link", "set", "br0", "up"); err != nil {
		return err
	}
	if err := l.addNamespace(ctx, l.server, false); err != nil {
		return err
	}
	return l.plugIn(ctx, l.server, "srv", "eth0", serverIP)
}

// Server returns the server's namespace and its public address.
func (l *Lab) Server() (ns string, ip netip.Addr) { return l.server, serverIP }

// Internet returns the internet namespace, which holds the bridge br0 and
// the gateway address 203.0.113.1. Captures there (tcpdump -i br0) see all
// public traffic.
func (l *Lab) Internet() string { return l.inet }

// ID returns the run prefix shared by all the lab's namespace names.
func (l *Lab) ID() string { return l.id }

// Namespaces lists the namespaces the lab has created and not yet removed.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.namespaces...)
}

// Command returns a command that runs name inside namespace ns, through
// ip netns exec (which also mounts a /sys showing that namespace's
// interfaces). Its PID is the program's own: ip execs it.
func (l *Lab) Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// CommandContext is Command with a context that kills the process.
func (l *Lab) CommandContext(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Close stops the lab's forwards and removes its namespaces, with their
// interfaces, addresses and firewall rules. Processes still running in a
// namespace are not ended (they are the caller's); Close names them in its
// error. Closing twice is harmless.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	forwards := make([]*forwarder, 0, len(l.forwards))
	for f := range l.forwards {
		forwards = append(forwards, f)
	}
	namespaces := l.namespaces
	l.mu.Unlock()

	for _, f := range forwards {
		f.stop()
	}
	// A fresh context: Close runs in cleanups, after the test's is done.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for i := len(namespaces) - 1; i >= 0; i-- {
		ns := namespaces[i]
		if out, err := l.output(ctx, "ip", "netns", "pids", ns); err == nil && len(bytes.TrimSpace(out)) > 0 {
			errs = append(errs, fmt.Errorf("netlab: processes still in %s: %s", ns, strings.Fields(string(out))))
		}
		if err := l.ip(ctx, "netns", "del", ns); err != nil {
			errs = append(errs, err)
			continue
		}
		l.mu.Lock()
		l.namespaces = l.namespaces[:i]
		l.mu.Unlock()
	}
	return errors.Join(errs...)
}

// sweep removes, best effort, the namespaces of labs whose process is gone.
func (l *Lab) sweep(ctx context.Context) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return // no namespace at all yet
	}
	for _, e := range entries {
		if pid, ok := stalePID(e.Name()); ok {
			l.logf("netlab: removing %s, left by process %d", e.Name(), pid)
			if err := l.ip(ctx, "netns", "del", e.Name()); err != nil {
				l.logf("netlab: %v", err)
			}
		}
	}
}

// stalePID reports whether name is a lab namespace whose process no longer
// exists, and that process's PID.
func stalePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// addNamespace creates ns with its loopback up, IPv6 off and, for routers,
// forwarding on, and records it for Close.
func (l *Lab) addNamespace(ctx context.Context, ns string, forward bool) error {
	if err := l.ip(ctx, "netns", "add", ns); err != nil {
		return err
	}
	l.mu.Lock()
	l.namespaces = append(l.namespaces, ns)
	l.mu.Unlock()
	sysctls := []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"}
	if forward {
		sysctls = append(sysctls, "net/ipv4/ip_forward")
	}
	err := l.Do(ns, func() error {
		for _, key := range sysctls {
			if err := os.WriteFile("/proc/sys/"+key, []byte("1"), 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sysctl in %s: %w", ns, err)
	}
	return l.ip(ctx, "-n", ns, "link", "set", "lo", "up")
}

// plugIn connects ns to the internet bridge through a veth pair, port on
// the bridge's side and dev in ns, and gives ns the public address ip and a
// default route through the gateway.
func (l *Lab) plugIn(ctx context.Context, ns, port, dev string, ip netip.Addr) error {
	steps := [][]string{
		{"-n", l.inet, "link", "add", port, "type", "veth", "peer", "name", dev, "netns", ns},
		{"-n", l.inet, "link", "set", port, "master", "br0", "up"},
		{"-n", ns, "addr", "add", netip.PrefixFrom(ip, internetNet.Bits()).String(), "dev", dev},
		{"-n", ns, "link", "set", dev, "up"},
		{"-n", ns, "route", "add", "default", "via", gatewayIP.String(), "dev", dev},
	}
	for _, args := range steps {
		if err := l.ip(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// allocPublic hands out the next free public address.
func (l *Lab) allocPublic() (netip.Addr, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ip := l.nextPublic
	if !internetNet.Contains(ip) || ip.As4()[3] == 255 {
		return netip.Addr{}, errors.New("netlab: out of public addresses")
	}
	l.nextPublic = ip.Next()
	return ip, nil
}

// ip runs the ip command.
func (l *Lab) ip(ctx context.Context, args ...string) error {
	_, err := l.output(ctx, "ip", args...)
	return err
}

// output runs a command and returns its standard output; its error holds
// the command line and what the command wrote to standard error.
func (l *Lab) output(ctx context.Context, name string, args ...string) ([]byte, error) {
	return l.outputStdin(ctx, nil, name, args...)
}

func (l *Lab) outputStdin(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	l.logf("netlab: %s %s", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}
