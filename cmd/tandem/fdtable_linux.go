package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// maxFDTable bounds the table growFDTable asks for: 65,536 descriptors
// take the kernel 512 KiB.
const maxFDTable = 1 << 16

// growFDTable has the kernel size this process's file descriptor table for
// as many descriptors as it may open (up to maxFDTable), now. Linux doubles
// the table as descriptors are opened, at 256, 512, 1,024 and so on, and in
// a multithreaded process each doubling waits for an RCU grace period
// (10-20 ms here) with the table locked: every accept and dial in the
// process stalls, and the joins in flight take that long. The table never
// shrinks, so a descriptor duplicated to the top of it, and closed again,
// pays for all the doublings at once, before anyone is waiting.
func growFDTable() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("fd table: %w", err)
	}
	top := int(min(lim.Cur, maxFDTable)) - 1
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC) // any descriptor will do
	if err != nil {
		return fmt.Errorf("fd table: %w", err)
	}
	defer unix.Close(fd)
	if fd >= top {
		return nil
	}
	// F_DUPFD takes the lowest free descriptor from top on, so it never
	// replaces one that is open (dup2 would).
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, top)
	if err != nil {
		return fmt.Errorf("fd table: dup to %d: %w", top, err)
	}
	return unix.Close(dup)
}
