package harness

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Binary is the path of a tandem binary built for the tests.
type Binary string

// Main builds tandem into a temporary directory, stores its path in bin,
// runs the tests and removes the build; it returns the exit code. Under
// -short nothing is built: every test that starts a server skips.
func Main(m *testing.M, bin *Binary) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "tandem-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	path, err := Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*bin = Binary(path)
	return m.Run()
}

// statSources looks at every file tandem is built from. go test caches a
// package's result by what its test binary is built from and by the files
// its tests looked at (from m.Run on, not before); tandem is built at run
// time, so without this a change to the server would leave a stale
// cached result. StartCommand calls it.
func statSources() error {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if and .Module .Module.Main}}{{.Dir}}{{end}}", "tandem/cmd/tandem").Output()
	if err != nil {
		return fmt.Errorf("harness: list tandem's packages: %w", err)
	}
	for _, dir := range strings.Fields(string(out)) {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != dir && !strings.Contains(path, string(filepath.Separator)+"static") {
				return filepath.SkipDir // a package of its own, or not part of this one
			}
			_, err = os.Stat(path)
			return err
		})
		if err != nil {
			return fmt.Errorf("harness: %w", err)
		}
	}
	return nil
}

// Build compiles tandem/cmd/tandem into dir and returns the binary's path.
// A test binary built with -race gets a tandem built with -race.
func Build(dir string) (string, error) {
	return BuildCommand(dir, "tandem/cmd/tandem", raceEnabled)
}

// BuildCommand compiles the command pkg, tandem's or a tool that go.mod
// pins (Pebble), into dir and returns the binary's path.
func BuildCommand(dir, pkg string, race bool) (string, error) {
	path := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", path}
	if race {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, pkg)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return path, nil
}

// need skips t under -short or when bin was not built.
func (bin Binary) need(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no server process")
	}
	if bin == "" {
		t.Fatal("no tandem binary: call harness.Main from TestMain")
	}
}
