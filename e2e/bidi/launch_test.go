//go:build linux

package bidi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// launchTimeout bounds a start of Firefox.
	launchTimeout = 60 * time.Second
	// callTimeout bounds each command of a test.
	callTimeout = 30 * time.Second
)

// requireFirefox skips the test when Firefox is not installed, except on
// CI (CI=true), where a missing browser is a failure.
func requireFirefox(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	if _, err := exec.LookPath(DefaultPath); err == nil {
		return
	}
	const msg = "no " + DefaultPath + " in PATH; install it with: apt-get install -y firefox-esr"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// launch starts Firefox with opts, logging its output to t, and closes it
// when the test ends.
func launch(t *testing.T, opts Options) *Browser {
	t.Helper()
	requireFirefox(t)
	if opts.Output == nil {
		opts.Output = &lineLogger{t: t, prefix: "firefox: "}
	}
	ctx, cancel := context.WithTimeout(context.Background(), launchTimeout)
	defer cancel()
	start := time.Now()
	b, err := Launch(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("firefox %d up in %v at %s", b.PID(), time.Since(start).Round(time.Millisecond), b.WebSocketURL())
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// lineLogger is an io.Writer that logs each line written to it to t.
type lineLogger struct {
	t      *testing.T
	prefix string
}

func (l *lineLogger) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		l.t.Log(l.prefix + sc.Text())
	}
	return len(p), nil
}

// groupMembers lists the processes whose process group is pgid.
func groupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	for _, file := range stats {
		b, err := os.ReadFile(file)
		if err != nil {
			continue // the process has gone
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 2 && fields[2] == strconv.Itoa(pgid) {
			members = append(members, strings.TrimSpace(s[:i+1]))
		}
	}
	return members
}

// TestLaunchNotInstalled checks that a missing Firefox is reported as
// exec.ErrNotFound and leaves no profile behind.
func TestLaunchNotInstalled(t *testing.T) {
	tmp := t.TempDir()
	_, err := Launch(context.Background(), Options{Path: "no-such-firefox", TempDir: tmp})
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Launch of a missing binary: %v, want exec.ErrNotFound", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("Launch left %d entries in its temp dir", len(entries))
	}
}

// TestLaunchExitsEarly checks that a binary that exits at once instead of
// listening fails Launch with its output, and that Close cleans up.
func TestLaunchExitsEarly(t *testing.T) {
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	// sh refuses Firefox's --headless and exits.
	_, err := Launch(ctx, Options{Path: "sh", TempDir: tmp})
	if err == nil || !strings.Contains(err.Error(), "exited before listening") {
		t.Fatalf("Launch of sh: %v, want an early exit", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("Launch left %d entries in its temp dir", len(entries))
	}
}

// TestClose checks that Close ends Firefox and every process it started,
// removes the profile, and fails later commands with ErrClosed.
func TestClose(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	b := launch(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := b.NewTab(ctx, ""); err != nil {
		t.Fatal(err)
	}
	pid := b.PID()
	if members := groupMembers(t, pid); len(members) < 2 {
		t.Logf("process group %d before Close: %q", pid, members)
	} else {
		t.Logf("process group %d before Close has %d processes", pid, len(members))
	}
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("closed in %v", time.Since(start).Round(time.Millisecond))
	if members := groupMembers(t, pid); len(members) > 0 {
		t.Errorf("processes of firefox %d left after Close: %q", pid, members)
	}
	if _, err := os.Stat(b.ProfileDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("profile %s after Close: %v, want it gone", b.ProfileDir(), err)
	}
	if _, err := b.NewTab(ctx, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("NewTab after Close: %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Close has waited for the goroutines that Launch started.
	if n := runtime.NumGoroutine(); n > goroutines {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before Launch:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
	}
}
