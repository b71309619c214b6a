//go:build linux

package bidi

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// groupPollInterval is how often waitGroupGone looks for the group again.
const groupPollInterval = 20 * time.Millisecond

// waitExit closes b.exited when Firefox has exited, without reaping it:
// until cmd.Wait reaps it, its process id and group id cannot be reused,
// so Close can still signal the group safely.
func (b *Browser) waitExit() {
	defer close(b.exited)
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, b.cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// waitGroupGone waits until no process is left in process group pgid, for
// at most timeout. Linux does not reuse a group id while a process of the
// group exists, so the signal 0 that probes it reaches no stranger.
func waitGroupGone(pgid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Kill(-pgid, 0)
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bidi: processes of firefox's group %d still there %v after it was killed (%v)", pgid, timeout, err)
		}
		time.Sleep(groupPollInterval)
	}
}
