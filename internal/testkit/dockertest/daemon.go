package dockertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// DaemonOptions configures StartDaemon.
type DaemonOptions struct {
	// LiveRestore keeps containers running while the daemon is stopped
	// (live-restore in daemon.json). A container that dies while the daemon
	// is down comes back Exited after Start, and no event says so: only a
	// fresh list shows it.
	LiveRestore bool
	// Netns, when set, runs the daemon in that network namespace (its name
	// under /run/netns) as a machine of its own: Docker's own default
	// bridge docker0 there (172.17.0.0/16, the same as on every machine),
	// its own firewall rules and NAT, and its API on tcp://TCP:2375 too
	// (no TLS: the namespace's network is the test's). Bridge and Pool are
	// then zero.
	Netns string
	TCP   netip.Addr
	// Hostname, with Netns, runs the daemon in a UTS namespace of its own
	// with this hostname: a swarm node is named after its engine's
	// hostname, and nodes named alike collapse into one SRV target.
	Hostname string
}

const (
	// daemonStartTimeout bounds the wait for a started daemon's API.
	daemonStartTimeout = 60 * time.Second
	// daemonStopTimeout bounds a SIGTERM'd daemon's shutdown before
	// SIGKILL; dockerd stops containers first (idle exits at once).
	daemonStopTimeout = 30 * time.Second
	// leftoverTimeout bounds the wait for killed processes to go.
	leftoverTimeout = 10 * time.Second
)

// Daemon is a dockerd started by the test (StartDaemon): its own socket,
// data root, exec root, bridge and address pool. Docker, Run, Network and
// Name work as on Engine, against this daemon, with the test's prefix.
//
// Everything it has lives under one short directory, /tmp/dh2-<id> (socket
// paths are limited to 108 bytes, and overlay2 wants a real file system:
// /tmp is ext4 here): daemon.json, owner, docker.sock, docker.pid, dockerd.log,
// data/ (--data-root) and exec/ (--exec-root, where dockerd's own managed
// containerd keeps its socket and state). Its default bridge is a link
// dh2-<id> that the test creates, and its user networks come from a pool of
// its own, so nothing it does touches the machine's engine: never
// `--bridge none` (dockerd then deletes the link named docker0) nor `--bip`
// (which rewrites docker0's address).
type Daemon struct {
	t testing.TB
	// engine is the daemon as an Engine: the test's prefix and label, the
	// daemon's endpoint. Engine's IdleImage and SubnetNetwork talk to the
	// machine's engine, so Daemon wraps the methods that are safe.
	engine   *Engine
	id       string // random hex, in the directory and bridge names
	dir      string
	args     []string
	bridge   string
	gateway  netip.Addr
	subnet   netip.Prefix
	pool     netip.Prefix
	netns    string     // the network namespace it runs in; "" for the machine's
	tcp      netip.Addr // where its API listens on TCP too, in netns
	hostname string     // its own, in a UTS namespace of its own; "" for the machine's

	// proc is the running dockerd, shared by the views For makes.
	proc *daemonProc
}

// daemonProc is a daemon's running dockerd: cmd is nil while it is
// stopped; exited closes when it ends.
type daemonProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// For returns the daemon as the subtest t sees it: failures are t's and
// what it creates is removed when t ends; starting and stopping it act on
// the one dockerd, which the test that started it tears down.
func (d *Daemon) For(t testing.TB) *Daemon {
	c := *d
	c.t = t
	c.engine = &Engine{t: t, Prefix: d.engine.Prefix, host: d.engine.host}
	return &c
}

// Docker runs the docker CLI against the daemon; see Engine.Docker.
func (d *Daemon) Docker(args ...string) string { d.t.Helper(); return d.engine.Docker(args...) }

// TryDocker runs the docker CLI against the daemon; see Engine.TryDocker.
func (d *Daemon) TryDocker(args ...string) (string, error) { return d.engine.TryDocker(args...) }

// Run starts a container on the daemon; see Engine.Run.
func (d *Daemon) Run(suffix string, args ...string) string {
	d.t.Helper()
	return d.engine.Run(suffix, args...)
}

// Network creates a user-defined bridge network on the daemon; see
// Engine.Network. Without --subnet it gets a /26 of Pool.
func (d *Daemon) Network(suffix string, args ...string) string {
	d.t.Helper()
	return d.engine.Network(suffix, args...)
}

// Name returns Prefix + "-" + suffix, the same name as on the machine's
// engine: a container can have a namesake on both.
func (d *Daemon) Name(suffix string) string { return d.engine.Name(suffix) }

// StartDaemon starts a dockerd of the test's own and returns it once its
// API answers. Everything it made is removed when the test ends, passed,
// failed or panicked: containers and networks (through the daemon if it
// runs), the daemon, its containerd, shims and container processes (by
// PID), mounts under its directory, the directory and its bridge. Then it
// checks that docker0 kept its addresses and that no process is left.
// It skips (or fails, with DOCKERHOSTS_REQUIRE_DOCKER=1) unless it runs as
// root with dockerd and ip installed.
func (e *Engine) StartDaemon(opts DaemonOptions) *Daemon {
	e.t.Helper()
	t := e.t
	if os.Geteuid() != 0 {
		Need(t, "a second dockerd", errors.New("a second dockerd needs root"))
	}
	for _, prog := range []string{"dockerd", "ip"} {
		if _, err := exec.LookPath(prog); err != nil {
			Need(t, "a second dockerd", fmt.Errorf("it needs %s: %w", prog, err))
		}
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	d := &Daemon{t: t, id: id, dir: daemonDir(id), bridge: bridgeName(id), proc: &daemonProc{}}
	d.engine = &Engine{t: t, Prefix: e.Prefix, host: d.Host()}

	// Cleanups run last-registered first: the check, registered first,
	// runs after the bridge, directory and daemon are gone.
	docker0 := addrsOf("docker0")
	t.Cleanup(func() { d.checkGone(docker0) })
	reapAbandoned(t)
	t.Cleanup(d.removeDir)
	if err := os.Mkdir(d.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, ownerFile), []byte(processIdentity(os.Getpid())), 0o600); err != nil {
		t.Fatal(err)
	}
	d.args = []string{
		"--config-file", filepath.Join(d.dir, "daemon.json"),
		"--host", d.Host(),
		"--data-root", filepath.Join(d.dir, "data"),
		"--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "docker.pid"),
	}
	if opts.Netns == "" {
		t.Cleanup(d.deleteBridge)
		d.createBridge()
		d.args = append(d.args, "--bridge", d.bridge,
			// The machine's engine owns the firewall and the sysctl: this
			// one publishes ports through docker-proxy only.
			"--iptables=false", "--ip-masq=false", "--ip-forward=false")
	} else {
		// A machine of its own: its firewall, NAT and forwarding are its
		// namespace's. Without --tls=false a TCP API waits 15 s at start.
		d.netns, d.tcp, d.bridge, d.hostname = opts.Netns, opts.TCP, "", opts.Hostname
		d.args = append(d.args, "--host", d.Endpoint(), "--tls=false")
	}
	d.writeConfig(opts)
	t.Cleanup(d.teardown)
	began := time.Now()
	d.Start()
	t.Logf("second dockerd %s started in %s (%s, pool %s)", d.id, time.Since(began).Round(time.Millisecond), d.Host(), d.pool)
	return d
}

// daemonDirs matches the directories of every test's second dockerd.
const daemonDirs = "/tmp/dh2-*"

// ownerFile, in a daemon's directory, holds processIdentity of the test
// process that started it.
const ownerFile = "owner"

// processIdentity is pid and its start time: a PID reused by another
// process does not match.
func processIdentity(pid int) string {
	fields := statFields(pid)
	if len(fields) < 20 {
		return ""
	}
	return strconv.Itoa(pid) + " " + fields[19] // starttime
}

// statFields returns the fields of /proc/pid/stat after "(comm)", which may
// hold spaces: the state first, then the parent's PID; none if pid is gone.
func statFields(pid int) []string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	return strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
}

// reapAbandoned removes the second dockerds of test processes that were
// killed (a go test -timeout, a SIGKILL) and so never ran their cleanups.
// A daemon whose owner still runs is another test's, and is left alone; so
// is a directory too young to have its owner file yet.
func reapAbandoned(t testing.TB) {
	dirs, _ := filepath.Glob(daemonDirs)
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil || len(owner) == 0 {
			if info, err := os.Stat(dir); err != nil || time.Since(info.ModTime()) < time.Minute {
				continue
			}
		} else if pid, _, _ := strings.Cut(string(owner), " "); processIdentity(atoi(pid)) == string(owner) {
			continue
		}
		id := strings.TrimPrefix(dir, daemonDir(""))
		d := &Daemon{t: t, id: id, dir: dir, bridge: bridgeName(id)}
		d.killLeftovers()
		d.unmountAll()
		d.removeCgroups()
		d.removeDir()
		d.deleteBridge()
		t.Logf("removed the second dockerd %s that a killed test left behind", id)
	}
	// Cgroups outlive a directory only when a cleanup failed to remove them.
	ids := map[string]bool{}
	for _, top := range cgroupTops("*") {
		ids[strings.TrimPrefix(filepath.Base(top), cgroupParent(""))] = true
	}
	for id := range ids {
		if _, err := os.Stat(daemonDir(id)); errors.Is(err, os.ErrNotExist) {
			(&Daemon{t: t, id: id}).removeCgroups()
		}
	}
}

// atoi is strconv.Atoi for text that is a number or else means none: 0.
func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// daemonDir is where the daemon with this id keeps everything.
func daemonDir(id string) string { return "/tmp/dh2-" + id }

// bridgeName is the daemon's default bridge: at most 15 bytes, the limit
// for a link name.
func bridgeName(id string) string { return "dh2-" + id }

// Endpoint is the daemon's API over TCP, "tcp://ADDR:2375", for a daemon
// in a network namespace of its own (DaemonOptions.Netns).
func (d *Daemon) Endpoint() string { return "tcp://" + netip.AddrPortFrom(d.tcp, 2375).String() }

// Host is the daemon's endpoint, "unix:///tmp/dh2-<id>/docker.sock", for
// DOCKER_HOST or the plugin's docker property.
func (d *Daemon) Host() string { return "unix://" + d.socket() }

func (d *Daemon) socket() string { return filepath.Join(d.dir, "docker.sock") }

// Bridge returns the daemon's default bridge: the link's name, its gateway
// address and its subnet (10.250.X.0/24, X chosen free at start).
func (d *Daemon) Bridge() (name string, gateway netip.Addr, subnet netip.Prefix) {
	return d.bridge, d.gateway, d.subnet
}

// Pool is the daemon's default address pool for user networks:
// 10.251.X.0/24 with the bridge's X, handed out as /26 networks. A test
// that wants a subnet of its choice passes --subnet to Network: any subnet
// that no link on this machine routes (see `ip route`) is safe. A subnet
// that overlaps one in use here (docker0's 172.17.0.0/16 included) adds a
// second route for it and breaks one engine's traffic: overlapping default
// bridges need a daemon in a network namespace of its own
// (DaemonOptions.Netns).
func (d *Daemon) Pool() netip.Prefix { return d.pool }

// Start starts dockerd on the daemon's data root and configuration (after
// Stop, a real restart) and waits until its API answers.
func (d *Daemon) Start() {
	d.t.Helper()
	if d.proc.cmd != nil {
		d.t.Fatal("dockerd already running")
	}
	logFile, err := os.OpenFile(d.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	cmd := exec.Command("dockerd", d.args...)
	switch {
	case d.hostname != "":
		// A UTS namespace of its own too, where sh names the machine and
		// becomes dockerd (exec: same PID).
		cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + d.netns,
			"sh", "-c", `hostname "$0" && exec dockerd "$@"`, d.hostname}, d.args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
	case d.netns != "":
		// nsenter, not `ip netns exec`, which remounts /sys and hides the
		// cgroups from dockerd and runc; it execs dockerd, same PID.
		cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + d.netns, "dockerd"}, d.args...)...)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		d.t.Fatalf("start dockerd: %v", err)
	}
	logFile.Close() // the child has its own copy
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	d.proc.cmd, d.proc.exited = cmd, exited

	ping := pingClient(d.socket())
	defer ping.CloseIdleConnections()
	await.True(d.t, daemonStartTimeout, "second dockerd answers /_ping", func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		return answersPing(ping)
	})
	select {
	case <-exited:
		d.proc.cmd = nil
		d.t.Fatalf("dockerd exited at start (%v); its log ends:\n%s", cmd.ProcessState, d.logTail())
	default:
	}
}

// Stop stops dockerd as an init system would: SIGTERM, then wait until the
// process has exited (SIGKILL after daemonStopTimeout). With LiveRestore
// the containers keep running; without it, dockerd stops them first.
func (d *Daemon) Stop() {
	d.t.Helper()
	if d.proc.cmd == nil {
		d.t.Fatal("dockerd is not running")
	}
	if err := d.stop(); err != nil {
		d.t.Error(err)
	}
}

// Kill ends dockerd as a machine's crash would: SIGKILL, and waits until
// it has exited. Its containerd goes with it; the shims and containers
// live on (as on a real machine whose daemon died) until Start, which
// restarts dockerd on the same data, or the end of the test.
func (d *Daemon) Kill() {
	d.t.Helper()
	if d.proc.cmd == nil {
		d.t.Fatal("dockerd is not running")
	}
	cmd, exited := d.proc.cmd, d.proc.exited
	d.proc.cmd = nil
	cmd.Process.Kill()
	<-exited
}

// Running reports whether the daemon's dockerd runs (Start, not Stop or
// Kill).
func (d *Daemon) Running() bool { return d.proc.cmd != nil }

// PowerOff ends the daemon as a machine's death would: SIGKILL to dockerd
// (if it runs), its containerd, shims and every container process, and
// waits until they are gone. Start brings dockerd back on the same data;
// its containers come back Exited.
func (d *Daemon) PowerOff() {
	d.t.Helper()
	if d.Running() {
		d.Kill()
	}
	d.killLeftovers()
}

// stop ends the running dockerd and reports a shutdown that needed SIGKILL.
func (d *Daemon) stop() error {
	cmd, exited := d.proc.cmd, d.proc.exited
	d.proc.cmd = nil
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(daemonStopTimeout):
	}
	cmd.Process.Kill()
	<-exited
	return fmt.Errorf("dockerd ignored SIGTERM for %s, killed; its log ends:\n%s", daemonStopTimeout, d.logTail())
}

// CopyImage copies the image ref from the machine's engine to the daemon
// (docker save | docker load), as nothing can be pulled here.
func (d *Daemon) CopyImage(ref string) {
	d.t.Helper()
	d.copyImage(nil, ref)
}

// CopyImageFrom copies the image ref from the daemon src to d.
func (d *Daemon) CopyImageFrom(src *Daemon, ref string) {
	d.t.Helper()
	d.copyImage([]string{"--host", src.Host()}, ref)
}

// copyImage is docker [from...] save ref | docker --host d load.
func (d *Daemon) copyImage(from []string, ref string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	save := exec.CommandContext(ctx, "docker", append(from, "save", ref)...)
	load := exec.CommandContext(ctx, "docker", "--host", d.Host(), "load", "--quiet")
	pipe, err := save.StdoutPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	load.Stdin = pipe
	var saveErr, loadOut bytes.Buffer
	save.Stderr = &saveErr
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := save.Start(); err != nil {
		d.t.Fatalf("docker save %s: %v", ref, err)
	}
	loadErr := load.Run()
	if err := save.Wait(); err != nil {
		d.t.Fatalf("docker save %s: %v: %s", ref, err, bytes.TrimSpace(saveErr.Bytes()))
	}
	if loadErr != nil {
		d.t.Fatalf("docker load %s: %v: %s", ref, loadErr, bytes.TrimSpace(loadOut.Bytes()))
	}
}

func (d *Daemon) logPath() string { return filepath.Join(d.dir, "dockerd.log") }

// logTail returns the last lines of the daemon's log, for failure messages.
func (d *Daemon) logTail() string { return fileTail(d.logPath()) }

// fileTail is the last 20 lines of the log at path, for an error message.
func fileTail(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// writeConfig writes the daemon's own daemon.json: the machine's sets the
// data root and storage driver of the first engine and must not be read.
func (d *Daemon) writeConfig(opts DaemonOptions) {
	config := map[string]any{
		"storage-driver": storageDriver(d.dir),
		"live-restore":   opts.LiveRestore,
		// Containers that cleanup kills by PID never get their cgroups
		// deleted by runc: under a parent of its own, cleanup finds them.
		"cgroup-parent": "/" + cgroupParent(d.id),
	}
	if d.pool.IsValid() {
		config["default-address-pools"] = []map[string]any{{"base": d.pool.String(), "size": 26}}
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "daemon.json"), data, 0o600); err != nil {
		d.t.Fatal(err)
	}
}

// overlayfsMagic is statfs(2)'s f_type of an overlay file system.
const overlayfsMagic = 0x794c7630

// storageDriver is overlay2, which works natively on /tmp's ext4 here (the
// machine's engine uses fuse-overlayfs, which a second daemon does not
// need), unless dir is itself on overlayfs (a CI job in a container), where
// overlay2 cannot stack: then vfs, which copies layers, cheap for the
// one-file test images.
func storageDriver(dir string) string {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err == nil && fs.Type == overlayfsMagic {
		return "vfs"
	}
	return "overlay2"
}

// createBridge creates the daemon's default bridge on a free
// 10.250.X.0/24, its pool being 10.251.X.0/24. It retries another X when
// that one is routed here already, and when another test took the same X
// at the same moment (seen after adding the address).
func (d *Daemon) createBridge() {
	d.t.Helper()
	if _, err := ip("link", "add", d.bridge, "type", "bridge"); err != nil {
		d.t.Fatal(err)
	}
	for range 32 {
		var b [1]byte
		_, _ = rand.Read(b[:])
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 250, b[0], 0}), 24)
		pool := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 251, b[0], 0}), 24)
		if d.routed(subnet, pool) {
			continue
		}
		gateway := subnet.Addr().Next()
		if _, err := ip("addr", "add", netip.PrefixFrom(gateway, 24).String(), "dev", d.bridge); err != nil {
			d.t.Fatal(err)
		}
		if d.routed(subnet, pool) {
			ip("addr", "del", netip.PrefixFrom(gateway, 24).String(), "dev", d.bridge)
			continue
		}
		if _, err := ip("link", "set", d.bridge, "up"); err != nil {
			d.t.Fatal(err)
		}
		d.gateway, d.subnet, d.pool = gateway, subnet, pool
		return
	}
	d.t.Fatal("no free 10.250.X.0/24 for a second dockerd's bridge")
}

// routed tells whether a route of this machine, other than through the
// daemon's own bridge, overlaps one of the prefixes.
func (d *Daemon) routed(prefixes ...netip.Prefix) bool {
	d.t.Helper()
	out, err := ip("-json", "-4", "route", "show", "table", "all")
	if err != nil {
		d.t.Fatal(err)
	}
	var routes []struct{ Dst, Dev string }
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		d.t.Fatalf("ip route: %v", err)
	}
	for _, r := range routes {
		dst, err := netip.ParsePrefix(r.Dst)
		if err != nil { // "default", or a host route without length
			addr, err := netip.ParseAddr(r.Dst)
			if err != nil {
				continue
			}
			dst = netip.PrefixFrom(addr, 32)
		}
		if r.Dev == d.bridge {
			continue
		}
		for _, p := range prefixes {
			if dst.Bits() > 0 && dst.Overlaps(p) {
				return true
			}
		}
	}
	return false
}

// deleteBridge deletes the daemon's default bridge, and first the bridges
// of its user networks: dockerd names them br-<network ID>, addresses them
// in its pool and keeps them when it stops, for its next start, so a daemon
// stopped or killed with networks leaves them behind.
func (d *Daemon) deleteBridge() {
	pool := d.pool
	if !pool.IsValid() {
		pool = poolOf(d.bridge) // a reaped daemon's
	}
	for _, link := range linksIn(pool) {
		if _, err := ip("link", "del", link); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			d.t.Errorf("cleanup: %v", err)
		}
	}
	if _, err := ip("link", "del", d.bridge); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
		d.t.Errorf("cleanup: %v", err)
	}
}

// poolOf is the pool of the daemon whose default bridge is bridge, read from
// the bridge's address (createBridge: 10.250.X.1 has the pool 10.251.X.0/24);
// invalid when the bridge or its address is gone.
func poolOf(bridge string) netip.Prefix {
	for _, a := range addrsOf(bridge) {
		p, err := netip.ParsePrefix(a)
		if ip4 := p.Addr().As4(); err == nil && p.Addr().Is4() && ip4[0] == 10 && ip4[1] == 250 {
			return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 251, ip4[2], 0}), 24)
		}
	}
	return netip.Prefix{}
}

// linksIn lists the links with an IPv4 address in pool: a daemon's user
// network bridges. Nothing for an invalid pool.
func linksIn(pool netip.Prefix) []string {
	if !pool.IsValid() {
		return nil
	}
	ifaces, _ := net.Interfaces()
	var links []string
	for _, iface := range ifaces {
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && pool.Contains(p.Addr()) {
				links = append(links, iface.Name)
				break
			}
		}
	}
	return links
}

// teardown removes what the daemon made, whatever state the test left it
// in: through its API while it runs, then by force.
func (d *Daemon) teardown() {
	began := time.Now()
	defer func() { d.t.Logf("second dockerd %s torn down in %s", d.id, time.Since(began).Round(time.Millisecond)) }()
	if d.proc.cmd != nil {
		d.removeObjects()
		if err := d.stop(); err != nil {
			d.t.Error(err)
		}
	}
	d.killLeftovers()
	d.unmountAll()
	d.removeCgroups()
}

// removeObjects removes every container and user network of the daemon:
// they are all the test's.
func (d *Daemon) removeObjects() {
	e := d.engine
	if ids, err := e.run(nil, "ps", "--all", "--quiet"); err != nil {
		d.t.Logf("cleanup: %v", err)
	} else if ids != "" {
		if _, err := e.run(nil, append([]string{"rm", "--force", "--volumes"}, strings.Fields(ids)...)...); err != nil {
			d.t.Logf("cleanup: %v", err)
		}
	}
	if _, err := e.run(nil, "network", "prune", "--force"); err != nil {
		d.t.Logf("cleanup: %v", err)
	}
}

// killLeftovers kills, by PID, what outlives dockerd: its containerd, the
// shims (reparented to init) and their container processes, and waits
// until they are gone.
func (d *Daemon) killLeftovers() {
	pids := processesOf(d.dir)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(leftoverTimeout)
	for len(pids) > 0 && time.Now().Before(deadline) {
		pids = slices.DeleteFunc(pids, func(pid int) bool { return !alive(pid) })
		time.Sleep(5 * time.Millisecond)
	}
}

// processesOf lists the live processes of the daemon in dir: those of its
// programs whose command line names dir (dockerd, its containerd and shims)
// and all their descendants (docker-proxy, the containers' processes).
func processesOf(dir string) []int {
	return processesNaming(dir, func(program string) bool {
		return strings.HasPrefix(program, "dockerd") || strings.HasPrefix(program, "containerd")
	})
}

// processesNaming lists the live processes of the programs (by base name)
// whose command line names a path under dir, and all their descendants.
func processesNaming(dir string, programs func(string) bool) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	var roots []int
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		fields := statFields(pid)
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		parent[pid] = atoi(fields[1])
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cmdline), "\x00")
		if programs(filepath.Base(args[0])) {
			if slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, dir+"/") }) {
				roots = append(roots, pid)
			}
		}
	}
	var ours []int
	for pid := range parent {
		for p := pid; p > 1; p = parent[p] {
			if slices.Contains(roots, p) {
				ours = append(ours, pid)
				break
			}
		}
	}
	slices.Sort(ours)
	return ours
}

// alive tells whether pid is a process that has not exited (a zombie has).
func alive(pid int) bool {
	fields := statFields(pid)
	return len(fields) > 0 && fields[0] != "Z"
}

// unmountAll unmounts everything mounted under the daemon's directory
// (overlay2 layers, container shm, network namespaces, the data root's
// bind mount onto itself), deepest first, lazily if it is busy.
func (d *Daemon) unmountAll() {
	for range 8 { // mounts stacked on one point take one pass each
		points := mountsUnder(d.dir)
		if len(points) == 0 {
			return
		}
		for _, p := range points {
			if err := syscall.Unmount(p, 0); err != nil {
				if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
					d.t.Errorf("cleanup: umount %s: %v", p, err)
				}
			}
		}
	}
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var points []string
	scan := bufio.NewScanner(f)
	for scan.Scan() {
		fields := strings.Fields(scan.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return points
}

// cgroupParent names the cgroup under which the daemon's containers run,
// in every hierarchy: not the machine's engine's /docker.
func cgroupParent(id string) string { return "dh2-" + id }

// cgroupTops lists the daemon's parent cgroup in each hierarchy (cgroup
// v1) or the unified one; id may be a glob pattern.
func cgroupTops(id string) []string {
	v1, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent(id))
	v2, _ := filepath.Glob("/sys/fs/cgroup/" + cgroupParent(id))
	return append(v1, v2...)
}

// cgroupsOf lists the cgroup directories of the daemon with this id, in
// each hierarchy (cgroup v1) or the unified one, deepest first.
func cgroupsOf(id string) []string {
	var dirs []string
	for _, top := range cgroupTops(id) {
		filepath.WalkDir(top, func(path string, entry os.DirEntry, err error) error {
			if err == nil && entry.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return dirs
}

// removeCgroups removes the daemon's cgroups (rmdir is how a cgroup is
// deleted). A killed container's cgroup stays busy until its last process
// has been reaped by init, a moment after the kill: it retries until
// leftoverTimeout.
func (d *Daemon) removeCgroups() {
	deadline := time.Now().Add(leftoverTimeout)
	for _, dir := range cgroupsOf(d.id) {
		for {
			err := syscall.Rmdir(dir)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				d.t.Errorf("cleanup: rmdir %s: %v", dir, err)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func (d *Daemon) removeDir() {
	if err := os.RemoveAll(d.dir); err != nil {
		d.t.Errorf("cleanup: %v", err)
	}
}

// checkGone fails the test if the daemon left anything behind.
func (d *Daemon) checkGone(docker0 []string) {
	for _, problem := range leftovers(d.id, d.pool, docker0) {
		d.t.Error(problem)
	}
}

// leftovers describes what the daemon with this id and pool left behind: a
// process, a cgroup, a mount, its directory, its bridge or one of its user
// networks'; and an address of docker0 (as it was before the daemon
// started) that docker0 lost.
func leftovers(id string, pool netip.Prefix, docker0 []string) []string {
	dir, bridge := daemonDir(id), bridgeName(id)
	var problems []string
	if pids := processesOf(dir); len(pids) > 0 {
		problems = append(problems, fmt.Sprintf("second dockerd's processes left: %v", pids))
	}
	if cgroups := cgroupsOf(id); len(cgroups) > 0 {
		problems = append(problems, fmt.Sprintf("cgroups left: %v", cgroups))
	}
	if points := mountsUnder(dir); len(points) > 0 {
		problems = append(problems, fmt.Sprintf("mounts left: %v", points))
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		problems = append(problems, fmt.Sprintf("%s left (%v)", dir, err))
	}
	if _, err := net.InterfaceByName(bridge); err == nil {
		problems = append(problems, "bridge left: "+bridge)
	}
	if links := linksIn(pool); len(links) > 0 {
		problems = append(problems, fmt.Sprintf("user network bridges left in %s: %v", pool, links))
	}
	now := addrsOf("docker0")
	for _, a := range docker0 {
		if !slices.Contains(now, a) {
			problems = append(problems, fmt.Sprintf("docker0 lost its address %s (now %v)", a, now))
		}
	}
	return problems
}

// addrsOf returns the addresses of a link, none if it does not exist.
func addrsOf(link string) []string {
	iface, err := net.InterfaceByName(link)
	if err != nil {
		return nil
	}
	addrs, _ := iface.Addrs()
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}

// ip runs the ip command and returns its trimmed standard output.
func ip(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(exit.Stderr))
		}
		return "", fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// pingClient is an HTTP client for the Docker API on a Unix socket.
func pingClient(socket string) *http.Client {
	return &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "unix", socket)
		},
	}}
}

// answersPing reports whether the daemon behind c (pingClient) answers
// /_ping.
func answersPing(c *http.Client) bool {
	resp, err := c.Get("http://docker/_ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
