package connectivity

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"

	"tandem/e2e/harness"
	"tandem/e2e/netlab"
)

// startChromium runs a headless Chromium inside the namespace ns and
// returns its tab. It trusts the server's self-signed certificate
// (harness.TrustCert). chromedp talks to it over a pipe (fds 3 and 4),
// which crosses namespaces as sockets would not. The browser ends with t.
func startChromium(t *testing.T, lab *netlab.Lab, ns, name, certFile string) *harness.Chromium {
	t.Helper()
	return harness.StartChromium(t, name,
		harness.TrustCert(t, certFile),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			inNS := lab.Command(ns, cmd.Path, cmd.Args[1:]...)
			cmd.Path, cmd.Args = inNS.Path, inNS.Args
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		}),
	)
}
