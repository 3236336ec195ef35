package dockertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A Podman service of the test binary's own: `podman system service` on a
// socket in a directory of its own, with its own storage, run root, network
// configuration and temporary files, so that it touches no Podman state of
// the machine. It starts at the first RequirePodman and serves every test of
// the binary (starting one takes seconds); StopPodman, from TestMain,
// removes what it made: containers, pods, networks (netavark's firewall
// chains too, when it was the first to make them), storage, processes.

// podmanContainersConf is the service's containers.conf. Podman raises a
// container's open-files and process limits to the hard maximum by default,
// which this machine's sandbox refuses ("error setting rlimit type 7:
// operation not permitted"); 1024 is allowed. As engine defaults they hold
// for every container, a pod's infra container included (docker run
// --ulimit would not reach that one). Netavark is Podman 4's network stack,
// with aardvark-dns: the one the plugin meets on today's hosts.
const podmanContainersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[network]
network_backend = "netavark"
network_config_dir = "%s"

[engine]
events_logger = "%s"
cgroup_manager = "cgroupfs"
`

// podmanStartTimeout bounds the wait for the service's socket.
const podmanStartTimeout = 30 * time.Second

// podmanService is the running service.
type podmanService struct {
	dir            string
	cmd            *exec.Cmd
	exited         chan struct{}
	netavarkBefore bool // netavark's firewall chains existed before we started
	// journald, with DOCKERHOSTS_PODMAN_EVENTS=journald, is the service's
	// events journal; the service and its local commands run in its mount
	// namespace (podman_journald.go).
	journald *exec.Cmd
	// user, for a rootless service, is the user it runs as
	// (podman_rootless.go).
	user *rootlessUser
	// createdDirs are the machine-wide directories a rootful service writes
	// whatever its roots say (netavark's IPAM and aardvark-dns state, the
	// image blob cache) that did not exist before it: removed at the end.
	createdDirs []string
}

// podmanMachineDirs are the directories of podmanService.createdDirs.
var podmanMachineDirs = []string{"/run/containers", "/var/lib/containers"}

// podmanSlot holds one service of the test binary, started at first use.
type podmanSlot struct {
	sync.Mutex
	svc *podmanService
	err error
}

// rootful is the service RequirePodman drives; rootless (podman_rootless.go)
// is a user's.
var rootful, rootless podmanSlot

// engine returns an Engine on the slot's service, starting it with start
// on first use.
func (s *podmanSlot) engine(t testing.TB, start func() (*podmanService, error)) *Engine {
	t.Helper()
	s.Lock()
	if s.svc == nil && s.err == nil {
		s.svc, s.err = start()
	}
	svc, err := s.svc, s.err
	s.Unlock()
	if err != nil {
		t.Fatalf("podman service: %v", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	e := &Engine{t: t, Prefix: "dhtest-" + hex.EncodeToString(b[:]), cli: []string{"podman", "--url", svc.host()}}
	t.Cleanup(e.sweep)
	return e
}

func (s *podmanSlot) host() string {
	s.Lock()
	defer s.Unlock()
	if s.svc == nil {
		return ""
	}
	return s.svc.host()
}

func (s *podmanSlot) stop() {
	s.Lock()
	defer s.Unlock()
	if s.svc != nil {
		for _, err := range s.svc.stop() {
			fmt.Fprintf(os.Stderr, "dockertest: podman cleanup: %v\n", err)
		}
	}
	s.svc, s.err = nil, nil
}

// RequirePodman returns an Engine driving the test binary's Podman service
// (started on first use) with the podman CLI, or skips t when podman is not
// installed; with DOCKERHOSTS_REQUIRE_DOCKER=1 it fails t instead. The
// package's TestMain must call StopPodman after m.Run.
func RequirePodman(t testing.TB) *Engine {
	t.Helper()
	Need(t, "podman (Debian packages podman, netavark, aardvark-dns, catatonit)", podmanInstalled())
	return rootful.engine(t, startPodman)
}

// PodmanHost is the endpoint of the test binary's Podman service, for a
// Corefile's docker property; "" before RequirePodman started it.
func PodmanHost() string { return rootful.host() }

// StopPodman stops the test binary's Podman services, rootful and
// rootless, if they were started, and removes everything they made. Call
// it from TestMain after m.Run; it reports problems on stderr (no test is
// running to fail).
func StopPodman() {
	rootful.stop()
	rootless.stop()
}

// IsPodman reports whether e drives a Podman service.
func (e *Engine) IsPodman() bool { return len(e.cli) > 0 && e.cli[0] == "podman" }

func podmanInstalled() error {
	for _, program := range []string{"podman", "netavark", "aardvark-dns", "catatonit"} {
		if _, err := exec.LookPath(program); err != nil {
			if _, err2 := os.Stat("/usr/lib/podman/" + program); err2 != nil {
				return fmt.Errorf("%s: %w", program, err)
			}
		}
	}
	return nil
}

func (p *podmanService) host() string { return "unix://" + filepath.Join(p.dir, "podman.sock") }

// globalArgs place the storage, run root and temporary files in p.dir.
func (p *podmanService) globalArgs() []string {
	return []string{
		"--root", filepath.Join(p.dir, "root"),
		"--runroot", filepath.Join(p.dir, "run"),
		"--tmpdir", filepath.Join(p.dir, "tmp"),
	}
}

// command is a local podman command on p's storage (not through the
// service), with p's containers.conf.
func (p *podmanService) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append([]string{"podman"}, append(p.globalArgs(), args...)...)
	if p.journald != nil {
		argv = append(nsenterArgs(p.journald), argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+filepath.Join(p.dir, "containers.conf"))
	if p.user != nil {
		p.user.runAs(cmd, p.dir)
	}
	return cmd
}

func startPodman() (*podmanService, error) { return startPodmanAs(nil) }

// startPodmanAs starts a service: rootful, or rootless as user.
func startPodmanAs(user *rootlessUser) (*podmanService, error) {
	// The podman service and the conmon of each container live on after
	// the command that starts them; any descriptor they inherit stays open
	// as long. A test run under flock(1) holds its lock on one: without
	// close-on-exec the service would keep every other run waiting.
	closeInheritedFDs()
	dir, err := os.MkdirTemp("", "dockerhosts-podman-")
	if err != nil {
		return nil, err
	}
	p := &podmanService{dir: dir, user: user}
	fail := func(err error) (*podmanService, error) {
		if p.journald != nil {
			stopJournald(p.journald)
		}
		os.RemoveAll(dir)
		return nil, err
	}
	subs := []string{"root", "run", "tmp", "networks"}
	logger := "file" // DOCKERHOSTS_PODMAN_EVENTS is for the rootful service
	if user == nil {
		p.netavarkBefore = netavarkChainsExist()
		for _, d := range podmanMachineDirs {
			if _, err := os.Stat(d); os.IsNotExist(err) {
				p.createdDirs = append(p.createdDirs, d)
			}
		}
		if logger, err = podmanEventsLogger(); err != nil {
			return fail(err)
		}
	} else {
		// Its networks live in its own namespace: the host's firewall and
		// directories are not touched.
		p.netavarkBefore = true
		subs = append(subs, "home", "xdg")
	}
	for _, sub := range subs {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return fail(err)
		}
	}
	conf := fmt.Sprintf(podmanContainersConf, filepath.Join(dir, "networks"), logger)
	if err := os.WriteFile(filepath.Join(dir, "containers.conf"), []byte(conf), 0o600); err != nil {
		return fail(err)
	}
	if user != nil {
		if err := user.own(dir); err != nil {
			return fail(err)
		}
	}
	if logger == "journald" {
		if p.journald, err = startJournald(); err != nil {
			return fail(err)
		}
	}
	if err := p.start(); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// start runs the service and waits for its socket.
func (p *podmanService) start() error {
	logFile, err := os.OpenFile(filepath.Join(p.dir, "service.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	p.exited = make(chan struct{})
	p.cmd = p.command(context.Background(), "system", "service", "--time=0", p.host())
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// The service goes with the test binary, even one that dies.
	if p.cmd.SysProcAttr == nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	p.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := p.cmd.Start(); err != nil {
		close(p.exited)
		return fmt.Errorf("start podman system service: %w", err)
	}
	cmd, exited := p.cmd, p.exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(podmanStartTimeout)
	for {
		c, err := net.Dial("unix", filepath.Join(p.dir, "podman.sock"))
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("podman system service exited: %s", p.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("podman system service: no socket after %s: %s", podmanStartTimeout, p.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// halt stops the service process only: containers live on (conmon holds
// them), as they do when a host's podman.socket unit stops.
func (p *podmanService) halt() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	os.Remove(filepath.Join(p.dir, "podman.sock"))
}

// PodmanOutage stops the Podman service, runs during with local, which
// runs the podman CLI on the service's storage without the service (what
// happens meanwhile reaches no event stream), and starts the service again
// on the same socket. e must come from RequirePodman.
func (e *Engine) PodmanOutage(during func(local func(args ...string) string)) {
	e.t.Helper()
	rootful.Lock()
	p := rootful.svc
	rootful.Unlock()
	if !e.IsPodman() || p == nil {
		e.t.Fatal("PodmanOutage: not a Podman engine")
	}
	p.halt()
	during(func(args ...string) string {
		e.t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		out, err := p.command(ctx, args...).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			e.t.Fatalf("podman %s (service down): %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr))
		}
		return strings.TrimSpace(string(out))
	})
	if err := p.start(); err != nil {
		e.t.Fatal(err)
	}
}

func (p *podmanService) logTail() string { return fileTail(filepath.Join(p.dir, "service.log")) }

// stop removes the service's objects through it, stops it, removes its
// storage and whatever outlived it, and returns what went wrong.
func (p *podmanService) stop() (errs []error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	run := func(cmd *exec.Cmd) {
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out)))
		}
	}
	select {
	case <-p.exited:
	default:
		remote := func(args ...string) *exec.Cmd {
			return exec.CommandContext(ctx, "podman", append([]string{"--url", p.host()}, args...)...)
		}
		run(remote("pod", "rm", "--all", "--force"))
		run(remote("rm", "--all", "--force", "--time", "0"))
		run(remote("network", "prune", "--force"))
		p.halt()
	}
	// What a crashed test may have left: the storage, conmon and container
	// processes, aardvark-dns, mounts.
	run(p.command(ctx, "system", "reset", "--force"))
	for _, pid := range processesNaming(p.dir, func(string) bool { return true }) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if p.journald != nil {
		stopJournald(p.journald)
	}
	for range 8 {
		points := mountsUnder(p.dir)
		if len(points) == 0 {
			break
		}
		for _, mp := range points {
			if err := syscall.Unmount(mp, 0); err != nil {
				_ = syscall.Unmount(mp, syscall.MNT_DETACH)
			}
		}
	}
	if err := os.RemoveAll(p.dir); err != nil {
		errs = append(errs, err)
	}
	if !p.netavarkBefore {
		errs = append(errs, removeNetavarkChains(ctx)...)
	}
	for _, d := range p.createdDirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	if p.user != nil {
		errs = append(errs, p.user.remove()...)
	}
	return errs
}

// closeInheritedFDs marks every descriptor above stderr close-on-exec. Go
// opens its own so; this catches those inherited from the parent process.
func closeInheritedFDs() {
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, entry := range entries {
		if fd, err := strconv.Atoi(entry.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// netavarkTables are where netavark adds firewall chains; it leaves them
// (empty, and jumped to from the built-in chains) after its last network.
var netavarkTables = []struct{ program, table string }{
	{"iptables", "filter"}, {"iptables", "nat"}, {"ip6tables", "filter"}, {"ip6tables", "nat"},
}

func netavarkChainsExist() bool {
	for _, t := range netavarkTables {
		rules, _ := listRules(context.Background(), t.program, t.table)
		for _, r := range rules {
			if strings.HasPrefix(r, "-N NETAVARK") {
				return true
			}
		}
	}
	return false
}

func listRules(ctx context.Context, program, table string) ([]string, error) {
	out, err := exec.CommandContext(ctx, program, "-w", "-t", table, "-S").Output()
	if err != nil {
		return nil, err
	}
	var rules []string
	scan := bufio.NewScanner(bytes.NewReader(out))
	for scan.Scan() {
		rules = append(rules, scan.Text())
	}
	return rules, nil
}

// removeNetavarkChains deletes the jumps into netavark's chains, then the
// chains, as they were not there before the service started.
func removeNetavarkChains(ctx context.Context) (errs []error) {
	for _, t := range netavarkTables {
		rules, err := listRules(ctx, t.program, t.table)
		if err != nil {
			continue // no such table or program: nothing of netavark's there
		}
		var chains []string
		for _, r := range rules {
			fields := ruleFields(r)
			switch {
			case len(fields) == 2 && fields[0] == "-N" && strings.HasPrefix(fields[1], "NETAVARK"):
				chains = append(chains, fields[1])
			case len(fields) > 2 && fields[0] == "-A" && !strings.HasPrefix(fields[1], "NETAVARK") &&
				strings.Contains(r, "-j NETAVARK"):
				args := append([]string{"-w", "-t", t.table, "-D"}, fields[1:]...)
				if out, err := exec.CommandContext(ctx, t.program, args...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %v: %s", t.program, strings.Join(args, " "), err, bytes.TrimSpace(out)))
				}
			}
		}
		for _, step := range []string{"-F", "-X"} {
			for _, c := range chains {
				if out, err := exec.CommandContext(ctx, t.program, "-w", "-t", t.table, step, c).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s -t %s %s %s: %v: %s", t.program, t.table, step, c, err, bytes.TrimSpace(out)))
				}
			}
		}
	}
	return errs
}

// ruleFields splits a line of iptables -S into arguments: like
// strings.Fields, but a double-quoted comment is one argument.
func ruleFields(rule string) []string {
	var fields []string
	var cur strings.Builder
	quoted, in := false, false
	for _, r := range rule {
		switch {
		case r == '"':
			quoted, in = !quoted, true
		case r == ' ' && !quoted:
			if in {
				fields = append(fields, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		fields = append(fields, cur.String())
	}
	return fields
}
