package harness

import (
	"bytes"
	"sync"
)

// LogBuffer collects a process's output: safe for one writer and
// concurrent readers.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail is the last few kilobytes written, for error messages.
func (b *LogBuffer) Tail() string {
	s := b.String()
	if len(s) > 4096 {
		s = "…" + s[len(s)-4096:]
	}
	return s
}
