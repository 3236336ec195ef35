package dockertest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A rootless dockerd of the test's own, as a user runs one: Docker's
// dockerd-rootless.sh, which puts dockerd under RootlessKit in the user's
// namespaces with slirp4netns for their network, run as a test user
// (rootlessUser, shared with rootless Podman) with its data, exec root,
// runtime directory and socket in one directory of the test's. Its
// default bridge (172.17.0.0/16, like the machine's) exists only in its
// namespace; ports it publishes are opened on this machine by RootlessKit.

// rootlessDockerScripts are where Docker's rootless launcher is installed:
// docker-ce puts it on PATH, Debian's docker.io under contrib.
var rootlessDockerScripts = []string{"dockerd-rootless.sh", "/usr/share/docker.io/contrib/dockerd-rootless.sh"}

// rootlessPath is a PATH the user can search: the test's may hold
// directories of root's (a Go toolchain under /root) it cannot read.
const rootlessPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// StartRootlessDocker starts a rootless dockerd for t and returns an Engine
// driving it with the docker CLI (its images too: HostnameImage imports into
// it). It skips without dockerd, the launcher, rootlesskit, slirp4netns,
// newuidmap or root; with DOCKERHOSTS_REQUIRE_DOCKER=1 it fails instead.
// When t ends the daemon, its user's processes (containerd, shims, the
// containers as its subordinate ids), the user and the directory go, and
// /dev/net/tun gets its mode back.
func StartRootlessDocker(t testing.TB) *Engine {
	t.Helper()
	NeedProgram(t, "dockerd", "docker.io")
	script, err := rootlessDockerScript()
	Need(t, "dockerd-rootless.sh (Debian package docker.io)", err)
	NeedProgram(t, "rootlesskit", "rootlesskit")
	needRootlessUser(t)

	closeInheritedFDs() // see startPodmanAs: a flock(1) descriptor must not live on in the daemon
	u, err := newRootlessUser()
	if err != nil {
		t.Fatal(err)
	}
	d := &rootlessDocker{user: u}
	t.Cleanup(func() {
		for _, err := range d.stop() {
			t.Errorf("rootless docker cleanup: %v", err)
		}
	})
	if err := d.start(script); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	e := &Engine{t: t, Prefix: "dhtest-" + hex.EncodeToString(b[:]), host: d.host()}
	t.Cleanup(e.sweep) // before the daemon stops: cleanups run last first
	return e
}

func rootlessDockerScript() (string, error) {
	for _, s := range rootlessDockerScripts {
		if p, err := exec.LookPath(s); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s", strings.Join(rootlessDockerScripts, ", "))
}

type rootlessDocker struct {
	user   *rootlessUser
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

func (d *rootlessDocker) host() string { return "unix://" + filepath.Join(d.dir, "docker.sock") }

func (d *rootlessDocker) start(script string) error {
	dir, err := os.MkdirTemp("", "dh-rl-") // short: a socket path has 108 bytes
	if err != nil {
		return err
	}
	d.dir = dir
	for _, sub := range []string{"home", "xdg", "data", "exec"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	if err := d.user.own(dir); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	d.cmd = exec.Command(script, "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--host", d.host(), "--pidfile", filepath.Join(dir, "docker.pid"))
	d.user.runAs(d.cmd, dir)
	d.cmd.Env = append(d.cmd.Env, "PATH="+rootlessPath) // the last PATH wins
	d.cmd.SysProcAttr.Setpgid = true                    // stopped as a group: RootlessKit, dockerd, containerd
	d.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL       // goes with the test binary, even one that dies
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", script, err)
	}
	d.exited = make(chan struct{})
	go func() {
		_ = d.cmd.Wait()
		close(d.exited)
	}()
	ping := pingClient(filepath.Join(d.dir, "docker.sock"))
	defer ping.CloseIdleConnections()
	deadline := time.Now().Add(daemonStartTimeout)
	for {
		if answersPing(ping) {
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("rootless dockerd exited: %s", d.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rootless dockerd: no API after %s: %s", daemonStartTimeout, d.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *rootlessDocker) logTail() string { return fileTail(filepath.Join(d.dir, "dockerd.log")) }

// stop ends the daemon (SIGTERM to its group: dockerd stops its
// containers), then every process of the user, the user, and the
// directory.
func (d *rootlessDocker) stop() (errs []error) {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(daemonStopTimeout):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.exited
		}
	}
	// remove kills what is left (shims, containers as subordinate ids) and
	// waits for them: the directory goes after.
	errs = append(errs, d.user.remove()...)
	if d.dir != "" {
		if err := os.RemoveAll(d.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
