package harness

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Browser tests of different packages would otherwise run at once (go test
// runs packages in parallel), each starting browsers on a machine that may
// have two cores, until their waits time out. A top-level test that starts
// a browser, in itself or in its subtests, holds a lock that every test
// binary on the machine shares, until the last of them that asked ends.
var browsers = struct {
	sync.Mutex
	holders map[string]int      // guarded by the mutex: tests holding, by top-level test
	files   map[string]*os.File // guarded by the mutex: the locked file, by top-level test
}{holders: map[string]int{}, files: map[string]*os.File{}}

// holdBrowsers takes the machine's browser lock for t's top-level test
// (a subtest shares its parent's), and gives it back when the last test
// of that tree that asked ends.
func holdBrowsers(t testing.TB) {
	t.Helper()
	top, _, _ := strings.Cut(t.Name(), "/")
	browsers.Lock()
	defer browsers.Unlock()
	if browsers.holders[top] == 0 {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "tandem-e2e-browsers.lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		// Waiting here blocks other tests of this binary from asking, which
		// is fine: they run one after another anyway.
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			t.Fatalf("browser lock: %v", err)
		}
		browsers.files[top] = f
	}
	browsers.holders[top]++
	t.Cleanup(func() {
		browsers.Lock()
		defer browsers.Unlock()
		if browsers.holders[top]--; browsers.holders[top] == 0 {
			browsers.files[top].Close() // releases the lock
			delete(browsers.files, top)
			delete(browsers.holders, top)
		}
	})
}
