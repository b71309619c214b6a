// Package deploy tests what docs/deploy.md gives operators: the container
// image that deploy/build-image.sh builds FROM scratch, and the systemd
// unit. podman here can build images but not run them (cgroups, rlimits),
// so the test takes the binary out of the image and runs that.
package deploy

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/e2e/harness"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = "../.."

// need skips t without the command name, or fails it under CI=true.
func need(t *testing.T, name, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no " + name)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		harness.Unavailable(t, fmt.Sprintf("no %s; install it with: apt-get install -y %s", name, pkg))
	}
	return path
}

// run runs a command and returns its combined output, failing t on error.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// imageConfig is what the test reads of `podman image inspect`.
type imageConfig struct {
	Config struct {
		User         string
		ExposedPorts map[string]struct{}
		Env          []string
		Entrypoint   []string
		Volumes      map[string]struct{}
	}
	HealthCheck *struct{ Test []string }
}

// TestContainerImage builds the image, checks its configuration (non-root
// user, /data volume, every port exposed, a health check), takes its
// binary out, and checks that the binary is static, stamped with the
// version, and serves /healthz with it.
func TestContainerImage(t *testing.T) {
	podman := need(t, "podman", "podman")
	version := fmt.Sprintf("test-%d", time.Now().UnixNano())
	image := "localhost/tandem-test:" + version
	run(t, []string{"IMAGE=" + image, "VERSION=" + version}, filepath.Join(repoRoot, "deploy/build-image.sh"))
	t.Cleanup(func() { _ = exec.Command(podman, "rmi", "-f", image).Run() })

	var inspected []imageConfig
	if err := json.Unmarshal([]byte(run(t, nil, podman, "image", "inspect", image)), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	cfg := inspected[0]
	if cfg.Config.User == "" || strings.HasPrefix(cfg.Config.User, "0") || cfg.Config.User == "root" {
		t.Errorf("runs as %q, want a non-root user", cfg.Config.User)
	}
	for _, port := range []string{"80/tcp", "443/tcp", "3478/udp", "3478/tcp", "49152-65535/udp"} {
		if _, ok := cfg.Config.ExposedPorts[port]; !ok {
			t.Errorf("port %s not exposed (%v)", port, cfg.Config.ExposedPorts)
		}
	}
	if _, ok := cfg.Config.Volumes["/data"]; !ok || !slices.Contains(cfg.Config.Env, "TANDEM_DATA_DIR=/data") {
		t.Errorf("volumes %v, environment %v: want /data as the data directory", cfg.Config.Volumes, cfg.Config.Env)
	}
	if cfg.HealthCheck == nil || !slices.Contains(cfg.HealthCheck.Test, "healthcheck") {
		t.Errorf("health check %+v, want tandem healthcheck", cfg.HealthCheck)
	}

	container := "tandem-test-" + version
	run(t, nil, podman, "create", "--name", container, image)
	t.Cleanup(func() { _ = exec.Command(podman, "rm", "-f", container).Run() })
	bin := filepath.Join(t.TempDir(), "tandem")
	run(t, nil, podman, "cp", container+":/tandem", bin)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked: a scratch image has no loader")
		}
	}
	f.Close()
	if out := run(t, nil, bin, "version"); !strings.Contains(out, " "+version+" ") {
		t.Errorf("tandem version says %q, want %s", out, version)
	}

	srv := harness.StartCommand(t, exec.Command(bin, harness.LoopbackArgs...))
	_, body := harness.Get(t, srv.URL+"/healthz")
	if !strings.Contains(body, `"version":"`+version+`"`) {
		t.Errorf("/healthz of the image's binary: %s", body)
	}
	if out := run(t, nil, bin, "healthcheck", "-addr", srv.Addr); !strings.Contains(out, ": ok") {
		t.Errorf("tandem healthcheck: %s", out)
	}
	t.Logf("image %s: %s", image, strings.TrimSpace(run(t, nil, podman, "image", "ls", "--format", "{{.Size}}", image)))
}

// TestSystemdUnit: systemd accepts deploy/tandem.service, pointed at a
// built binary and at the example environment file.
func TestSystemdUnit(t *testing.T) {
	analyze := need(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	bin, err := harness.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(repoRoot, "deploy/tandem.service"))
	if err != nil {
		t.Fatal(err)
	}
	envFile, err := filepath.Abs(filepath.Join(repoRoot, "deploy/tandem.env"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(
		"ExecStart=/usr/local/bin/tandem", "ExecStart="+bin,
		"EnvironmentFile=/etc/tandem/tandem.env", "EnvironmentFile="+envFile,
	).Replace(string(unit))
	if !strings.Contains(text, "ExecStart="+bin) {
		t.Fatal("the unit's ExecStart is not /usr/local/bin/tandem")
	}
	path := filepath.Join(dir, "tandem.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "tandem.service:") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Its exposure, 0 (locked down) to 10, must stay at 2 or below.
	out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", path).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	} else {
		t.Log(lines[len(lines)-1])
	}
}
