package bench

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcStats is what /proc says about a process at one moment.
type ProcStats struct {
	RSS int64         // resident memory, bytes
	CPU time.Duration // user plus system time since it started
}

// ReadProc reads the resident memory and CPU time of process pid from
// /proc/<pid>/status and /proc/<pid>/stat.
func ReadProc(pid int) (ProcStats, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ProcStats{}, fmt.Errorf("bench: %w", err)
	}
	var st ProcStats
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			if err != nil {
				return ProcStats{}, fmt.Errorf("bench: VmRSS of %d: %w", pid, err)
			}
			st.RSS = kb << 10
		}
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcStats{}, fmt.Errorf("bench: %w", err)
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ProcStats{}, fmt.Errorf("bench: /proc/%d/stat: no command name", pid)
	}
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 13 {
		return ProcStats{}, fmt.Errorf("bench: /proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return ProcStats{}, fmt.Errorf("bench: /proc/%d/stat: bad CPU times", pid)
	}
	st.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	return st, nil
}

// procMeter reads a process's stats when it has a pid, and reports zeros
// otherwise, so that runs without a known server still work.
type procMeter struct{ pid int }

func (m procMeter) read() ProcStats {
	if m.pid <= 0 {
		return ProcStats{}
	}
	st, err := ReadProc(m.pid)
	if err != nil {
		return ProcStats{}
	}
	return st
}

// rssMedian samples RSS n times, gap apart, and returns the median, so a
// garbage collection in progress does not decide the figure.
func (m procMeter) rssMedian(n int, gap time.Duration) int64 {
	v := make([]int64, 0, n)
	for i := range n {
		v = append(v, m.read().RSS)
		if i < n-1 {
			time.Sleep(gap)
		}
	}
	slices.Sort(v)
	return v[len(v)/2]
}
