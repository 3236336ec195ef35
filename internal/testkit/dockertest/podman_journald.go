package dockertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Podman writes its events to journald on hosts run by systemd (Fedora,
// RHEL, Debian and Ubuntu with systemd), and to a file elsewhere, such as
// this test machine. DOCKERHOSTS_PODMAN_EVENTS=journald gives the test
// binary's Podman service a systemd-journald of its own, so the benchmarks
// measure what those hosts do: journald and the service run in a private
// mount namespace with their own tmpfs over journald's directories (its
// sockets and its volatile and persistent journals), and the machine's are
// untouched, whether or not it runs a journald itself.
const podmanEventsEnv = "DOCKERHOSTS_PODMAN_EVENTS"

// podmanEventsLogger is the service's events_logger: "file" (the default)
// or "journald".
func podmanEventsLogger() (string, error) {
	switch v := os.Getenv(podmanEventsEnv); v {
	case "", "file":
		return "file", nil
	case "journald":
		return v, nil
	default:
		return "", fmt.Errorf("%s=%q: want file or journald", podmanEventsEnv, v)
	}
}

// journaldSetup runs in the new mount namespace, then becomes journald.
// Storage=volatile keeps the journal in the namespace's /run/log; the kernel
// log is the machine's business.
const journaldSetup = `set -e
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
mkdir -p /run/systemd/journal /run/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToWall=no\n' >/run/systemd/journald.conf.d/dockertest.conf
mount -t tmpfs -o mode=0755 tmpfs /run/log
if [ -d /var/log/journal ]; then mount -t tmpfs -o mode=0755 tmpfs /var/log/journal; fi
exec %s
`

// journaldPrograms are where Debian and Fedora install systemd-journald.
var journaldPrograms = []string{"/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald"}

// startJournald starts systemd-journald in a mount namespace of its own and
// returns it once its socket is there; the Podman service joins that
// namespace (nsenterArgs).
func startJournald() (*exec.Cmd, error) {
	program := ""
	for _, p := range journaldPrograms {
		if _, err := os.Stat(p); err == nil {
			program = p
			break
		}
	}
	if program == "" {
		return nil, fmt.Errorf("%s=journald: no systemd-journald in %v", podmanEventsEnv, journaldPrograms)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", fmt.Sprintf(journaldSetup, program))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start journald: %w", err)
	}
	socket := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "root/run/systemd/journal/socket")
	for deadline := time.Now().Add(podmanStartTimeout); ; {
		if _, err := os.Stat(socket); err == nil {
			return cmd, nil
		}
		if time.Now().After(deadline) {
			stopJournald(cmd)
			return nil, fmt.Errorf("journald: no socket after %s", podmanStartTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nsenterArgs run a program in journald's mount namespace.
func nsenterArgs(journald *exec.Cmd) []string {
	return []string{"nsenter", "--target", strconv.Itoa(journald.Process.Pid), "--mount", "--"}
}

// stopJournald ends journald; its namespace, tmpfs and journal go with the
// last process in it.
func stopJournald(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
