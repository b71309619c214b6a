package netlab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestLabBuildsAndTearsDown builds a lab with a site of every kind, checks
// every namespace is set up as the package documentation says, and that
// Close leaves none behind.
func TestLabBuildsAndTearsDown(t *testing.T) {
	l := Start(t, Options{})
	sites := make(map[string]*Site) // by router and host namespace
	for _, k := range Kinds() {
		s, err := l.AddSite(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		sites[s.Host()] = s
		if s.Router() != "" {
			sites[s.Router()] = s
		}
	}

	namespaces := l.Namespaces()
	if want := 2 + 2*len(Kinds()) - 1; len(namespaces) != want { // inet, server, Open's host, 4 × (router, host)
		t.Fatalf("%d namespaces, want %d: %v", len(namespaces), want, namespaces)
	}
	wantID := Prefix + strconv.Itoa(os.Getpid()) + "-"
	if !strings.HasPrefix(l.ID(), wantID) {
		t.Errorf("run prefix %q does not start with %q", l.ID(), wantID)
	}
	for _, ns := range namespaces {
		t.Run(strings.TrimPrefix(ns, l.ID()+"-"), func(t *testing.T) {
			if !strings.HasPrefix(ns, l.ID()+"-") {
				t.Errorf("namespace %q lacks the run prefix %q", ns, l.ID())
			}
			router := ns == l.Internet() || (sites[ns] != nil && sites[ns].Router() == ns)
			checkSysctl(t, l, ns, "net/ipv6/conf/all/disable_ipv6", "1")
			forward := "0"
			if router {
				forward = "1"
			}
			checkSysctl(t, l, ns, "net/ipv4/ip_forward", forward)
			if out := run(t, "ip", "-n", ns, "-6", "addr", "show"); out != "" {
				t.Errorf("IPv6 addresses:\n%s", out)
			}
			if out := run(t, "ip", "-n", ns, "-o", "link", "show", "lo"); !strings.Contains(out, "UP") {
				t.Errorf("loopback is not up: %s", out)
			}
			if ns != l.Internet() {
				if out := run(t, "ip", "-n", ns, "route", "show", "default"); out == "" {
					t.Error("no default route")
				}
			}
		})
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
			t.Errorf("namespace %s is still there after Close", ns)
		}
	}
	if left := l.Namespaces(); len(left) != 0 {
		t.Errorf("Namespaces after Close: %v", left)
	}
}

// TestSweep checks that New removes the namespaces of labs whose process
// is gone, and only those.
func TestSweep(t *testing.T) {
	Require(t)
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d-dead-inet", Prefix, done.Process.Pid)
	live := fmt.Sprintf("%s%d-beef-inet", Prefix, os.Getpid())
	for _, ns := range []string{stale, live} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
				_ = exec.Command("ip", "netns", "del", ns).Run()
			}
		})
	}

	Start(t, Options{})

	if _, err := os.Stat(filepath.Join(netnsDir, stale)); err == nil {
		t.Errorf("%s, left by a process that is gone, was not swept", stale)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, live)); err != nil {
		t.Errorf("%s, of a process that runs, was swept: %v", live, err)
	}
}

func TestStalePID(t *testing.T) {
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	dead := done.Process.Pid
	tests := []struct {
		name  string
		stale bool
	}{
		{fmt.Sprintf("tnl-%d-ab12-inet", dead), true},
		{fmt.Sprintf("tnl-%d-ab12-h3-hardnat", dead), true},
		{fmt.Sprintf("tnl-%d-ab12-inet", os.Getpid()), false},
		{fmt.Sprintf("other-%d-ab12-inet", dead), false},
		{"tnl-abc-inet", false},
		{"tnl-0-inet", false},
		{"tnl-", false},
	}
	for _, tt := range tests {
		if _, stale := stalePID(tt.name); stale != tt.stale {
			t.Errorf("stalePID(%q) = %v, want %v", tt.name, stale, tt.stale)
		}
	}
}

// TestDoComesBack checks that after many Do calls, in and out of lab
// namespaces, every thread of this process is back in its own namespace.
func TestDoComesBack(t *testing.T) {
	l := Start(t, Options{})
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ns, _ := l.Server()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			var inside string
			if err := l.Do(ns, func() (err error) {
				inside, err = os.Readlink("/proc/thread-self/ns/net")
				return err
			}); err != nil {
				t.Error(err)
			}
			if inside == own {
				t.Errorf("Do ran in this process's namespace %s, not in %s", own, ns)
			}
		})
	}
	wg.Wait()
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if got, err := os.Readlink(task); err == nil && got != own {
			t.Errorf("%s is %s, want %s", task, got, own)
		}
	}
}

func TestDoRefusesPaths(t *testing.T) {
	var l Lab
	for _, ns := range []string{"", ".", "..", "../x", "a/b"} {
		if err := l.Do(ns, func() error { return nil }); err == nil {
			t.Errorf("Do(%q) ran", ns)
		}
	}
}

// checkSysctl fails t unless key (as under /proc/sys) reads want inside ns.
func checkSysctl(t *testing.T, l *Lab, ns, key, want string) {
	t.Helper()
	var got []byte
	err := l.Do(ns, func() (err error) {
		got, err = os.ReadFile("/proc/sys/" + key)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != want {
		t.Errorf("%s = %s, want %s", key, strings.TrimSpace(string(got)), want)
	}
}

// run runs a command and returns its trimmed output, failing t on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
