//go:build linux

// Package hostlan tests dockerhosts the way the host and the machines on its
// LAN use it: real resolvers from Debian (glibc, unbound, nginx, curl) talk to
// the custom CoreDNS on port 53, each "machine" a network namespace of its own
// on a bridge the test creates. The DNS world's checkers (zonemaster, dnsviz,
// dnswalk, the zone validators, a BIND secondary) judge its zones on a machine
// of their own with only a loopback. Nothing leaves the test's namespaces:
// they have no route to anywhere else (but to this host, for a LAN it joins:
// uplink.go).
//
// This file is the small toolkit for that: namespaces on a private LAN,
// processes run inside them, and sockets opened from inside them. Everything
// it creates is removed when the test ends, passed or failed.
package hostlan

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// commandTimeout bounds every program a test runs to completion.
const commandTimeout = 30 * time.Second

// Require skips t when a precondition is missing, and fails it instead when
// DOCKERHOSTS_REQUIRE_DOCKER=1: CI must run these tests, never skip them.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	dockertest.Need(t, what, err)
}

// RequireRoot: namespaces, veths and port 53 need root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Require(t, "root", errors.New("network namespaces need root"))
	}
}

// RequirePrograms checks that each program is installed.
func RequirePrograms(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		_, err := exec.LookPath(name)
		Require(t, name, err)
	}
}

// LAN is an Ethernet segment: a bridge in a namespace of its own, and the
// machines (namespaces) plugged into it.
type LAN struct {
	t      testing.TB
	prefix string
	bits   int
	sw     *Namespace
}

// NewLAN creates an empty segment whose machines take addresses of length
// bits. The namespaces are named "dh<random>-<machine>", unique per test.
func NewLAN(t testing.TB, bits int) *LAN {
	t.Helper()
	RequireRoot(t)
	RequirePrograms(t, "ip")
	l := &LAN{t: t, prefix: namespacePrefix(), bits: bits}
	l.sw = l.namespace("switch")
	l.sw.ip("link", "add", "br0", "type", "bridge")
	l.sw.ip("link", "set", "br0", "up")
	return l
}

func namespacePrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "dh" + hex.EncodeToString(b[:])
}

// Loopback creates a machine alone: a namespace whose only link is its
// loopback, up, holding 127.0.0.1/8 and the extra addrs (servers that bind
// to the addresses of their links, such as named, need them there). Its
// programs reach each other and nothing else.
func Loopback(t testing.TB, name string, addrs ...netip.Addr) *Namespace {
	t.Helper()
	RequireRoot(t)
	RequirePrograms(t, "ip")
	n := (&LAN{t: t, prefix: namespacePrefix()}).namespace(name)
	n.ip("link", "set", "lo", "up")
	for _, a := range addrs {
		n.ip("addr", "add", netip.PrefixFrom(a, a.BitLen()).String(), "dev", "lo")
	}
	return n
}

// Machine creates a namespace plugged into the LAN on eth0 with the given
// addresses, loopback up.
func (l *LAN) Machine(name string, addrs ...netip.Addr) *Namespace {
	l.t.Helper()
	n := l.namespace(name)
	port := "p-" + name // in the switch's namespace: no clash with the host's links
	if len(port) > 15 {
		l.t.Fatalf("machine name %q too long for an interface name", name)
	}
	// Both ends are created directly inside their namespaces.
	l.sw.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", n.Name)
	l.sw.ip("link", "set", port, "master", "br0", "up")
	for _, a := range addrs {
		n.ip("addr", "add", netip.PrefixFrom(a, l.bits).String(), "dev", "eth0")
	}
	n.ip("link", "set", "eth0", "up")
	n.ip("link", "set", "lo", "up")
	return n
}

// Namespace is one network namespace: a machine of the LAN, or its switch.
type Namespace struct {
	t    testing.TB
	Name string
}

func (l *LAN) namespace(name string) *Namespace {
	l.t.Helper()
	n := &Namespace{t: l.t, Name: l.prefix + "-" + name}
	// Registered before creation, so that a half-made namespace goes too.
	// Processes started in it are stopped first: their cleanups come later.
	l.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "No such file") {
			l.t.Errorf("cleanup: ip netns del %s: %v: %s", n.Name, err, out)
		}
		if err := os.RemoveAll(n.etcDir()); err != nil {
			l.t.Errorf("cleanup: %v", err)
		}
		// Only when empty: another test may be using it.
		_ = os.Remove(filepath.Dir(n.etcDir()))
	})
	run(l.t, "ip", "netns", "add", n.Name)
	return n
}

// Attach names the network namespace of the process pid (a container's) for
// the test, so that Do, Listen and Dial work inside it; the name goes when
// the test ends, the namespace stays with its process.
func Attach(t testing.TB, name string, pid int) *Namespace {
	t.Helper()
	RequireRoot(t)
	RequirePrograms(t, "ip")
	n := &Namespace{t: t, Name: namespacePrefix() + "-" + name}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "No such file") {
			t.Errorf("cleanup: ip netns del %s: %v: %s", n.Name, err, out)
		}
	})
	run(t, "ip", "netns", "attach", n.Name, strconv.Itoa(pid))
	return n
}

func (n *Namespace) ip(args ...string) {
	n.t.Helper()
	run(n.t, "ip", append([]string{"-n", n.Name}, args...)...)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// etcDir is what `ip netns exec` bind-mounts over /etc, file by file.
func (n *Namespace) etcDir() string { return filepath.Join("/etc/netns", n.Name) }

// WriteResolvConf gives the programs run in this namespace their own
// /etc/resolv.conf.
func (n *Namespace) WriteResolvConf(content string) {
	n.t.Helper()
	if err := os.MkdirAll(n.etcDir(), 0o755); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.etcDir(), "resolv.conf"), []byte(content), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// Command prepares a program to run inside the namespace.
func (n *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs a program inside the namespace to completion and returns its
// standard output; err carries the exit status and standard error.
func (n *Namespace) Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := n.Command(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), n.Name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// Process is a program running in the background inside a namespace.
type Process struct {
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
	err  error
}

// Start runs a program in the background. It is stopped (SIGTERM, then
// SIGKILL) when the test ends; its output is logged if the test failed.
func (n *Namespace) Start(name string, args ...string) *Process {
	n.t.Helper()
	p := &Process{cmd: n.Command(context.Background(), name, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		n.t.Fatalf("start %s in %s: %v", name, n.Name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	n.t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if n.t.Failed() {
			n.t.Logf("%s in %s said:\n%s", name, n.Name, p.Output())
		}
	})
	return p
}

// Output is what the process has written so far, stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Do runs f on an OS thread moved into the namespace: sockets that f opens
// belong to the namespace for good, and can be used from any goroutine
// afterwards. The thread returns to its own namespace before anything else
// runs on it; if it cannot, it stays locked and dies with the goroutine.
func (n *Namespace) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer home.Close()
		target, err := os.Open(filepath.Join("/var/run/netns", n.Name))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := setns(home); err != nil {
			errc <- fmt.Errorf("leave %s: %w", n.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// setnsCall is setns(2)'s number: package syscall predates it, and
// golang.org/x/sys is not a direct dependency of this module.
var setnsCall = map[string]uintptr{"amd64": 308, "arm64": 268}[runtime.GOARCH]

func setns(f *os.File) error {
	if setnsCall == 0 {
		return fmt.Errorf("setns: unknown system call number on %s", runtime.GOARCH)
	}
	if _, _, errno := syscall.RawSyscall(setnsCall, f.Fd(), syscall.CLONE_NEWNET, 0); errno != 0 {
		return errno
	}
	return nil
}

// Listen opens a listener inside the namespace.
func (n *Namespace) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) { l, err = net.Listen(network, addr); return err })
	return l, err
}

// Dial opens a connection from inside the namespace.
func (n *Namespace) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) { c, err = net.DialTimeout(network, addr, timeout); return err })
	return c, err
}
