//go:build linux

package hostlan

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// DistEnv names a directory `make dist` has already filled (CI builds it
// once, as its own step); without it the test runs `make dist` itself.
const DistEnv = "DOCKERHOSTS_DIST"

// dist is what `make dist` produced, as a user downloads it.
type dist struct {
	dir, version string
}

func (d dist) tarball(arch string) string {
	return filepath.Join(d.dir, fmt.Sprintf("dockerhosts-%s-linux-%s.tar.gz", d.version, arch))
}
func (d dist) image() string {
	return filepath.Join(d.dir, fmt.Sprintf("dockerhosts-coredns-%s-image.tar", d.version))
}
func (d dist) imageRef() string { return "dockerhosts/coredns:" + d.version }

// TestDistArtifacts checks the release artifacts the way a user uses them:
// checksums, a static binary per architecture stamped with the version, the
// amd64 binary started from its tarball with the shipped (loopback-only)
// Corefile serving a container, and the image loaded with `docker load` and
// run, serving the same container.
func TestDistArtifacts(t *testing.T) {
	RequireRoot(t)
	engine := dockertest.Require(t)
	d := distOutput(t)

	unpacked := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		dir := extract(t, d.tarball(arch))
		unpacked[arch] = dir
		bin := filepath.Join(dir, "dockerhosts-coredns")
		checkStaticELF(t, bin, map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch])
		for _, shipped := range []string{"Corefile", "dockerhosts.service", "README.md", "recipes/unbound-stub-zone.conf"} {
			if _, err := os.Stat(filepath.Join(dir, shipped)); err != nil {
				t.Errorf("%s: %v", filepath.Base(d.tarball(arch)), err)
			}
		}
	}

	sockGID := strings.TrimSpace(mustRun(t, "stat", "-c", "%g", "/var/run/docker.sock"))
	idle := engine.Run("idle", engine.IdleImage())
	idleName := strings.TrimPrefix(engine.Docker("inspect", "--format", "{{.Name}}", idle), "/") + ".docker."
	idleAddr := engine.Docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", idle)

	t.Run("binary", func(t *testing.T) {
		dir, ok := unpacked[runtime.GOARCH]
		if !ok {
			t.Skipf("no %s build to run here", runtime.GOARCH)
		}
		bin := filepath.Join(dir, "dockerhosts-coredns")
		if out, err := exec.Command(bin, "-version").CombinedOutput(); err != nil || !strings.Contains(string(out), d.version) {
			t.Errorf("%s -version: %v\n%s\nwant the version %s in it", bin, err, out, d.version)
		}
		// The shipped Corefile, unchanged, on a machine of a namespace LAN:
		// forward's upstream is an address nobody has.
		lan := NewLAN(t, lanBits)
		machine := lan.Machine("host", resolverAddr)
		machine.WriteResolvConf("nameserver 172.17.0.1\n")
		// As the systemd unit runs it: not root, the socket's group, and
		// only CAP_NET_BIND_SERVICE for port 53.
		RequirePrograms(t, "setpriv")
		p := machine.Start("setpriv", "--reuid=65534", "--regid=65534", "--groups="+sockGID,
			"--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service", "--bounding-set=-all,+net_bind_service",
			"--no-new-privs", "--", bin, "-conf", filepath.Join(dir, "Corefile"))
		loopback := netip.MustParseAddr("127.0.0.1")
		await.True(t, 20*time.Second, "the binary serves "+idleName+" on 127.0.0.1:53", func() bool {
			if exited, err := p.Exited(); exited {
				t.Fatalf("dockerhosts-coredns exited: %v\n%s", err, p.Output())
			}
			m, err := query(machine, "udp", loopback, idleName, dns.TypeA)
			return err == nil && slices.Equal(answerAddrs(m), []string{idleAddr})
		})
		// Safe by default: nothing listens beyond loopback.
		if m, err := query(machine, "udp", resolverAddr, idleName, dns.TypeA); err == nil {
			t.Errorf("the shipped Corefile answers on a LAN address (%s): %v", resolverAddr, m)
		}
	})

	t.Run("image", func(t *testing.T) {
		name := engine.Name("resolver")
		if _, err := engine.TryDocker("image", "inspect", d.imageRef()); err != nil {
			// The container first: while one uses the image, rm --force only
			// untags it, and the sweep, later, leaves it dangling.
			t.Cleanup(func() {
				engine.TryDocker("rm", "--force", name)
				engine.TryDocker("image", "rm", "--force", d.imageRef())
			})
		}
		if out := engine.Docker("load", "--input", d.image()); !strings.Contains(out, d.imageRef()) {
			t.Fatalf("docker load: %q, want it to load %s", out, d.imageRef())
		}
		// forward's upstream (and loop's probe through it) goes to an
		// address of the default bridge that nobody has: nothing leaves.
		bridge, err := netip.ParsePrefix(engine.Docker("network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}}", "bridge"))
		if err != nil || !bridge.Addr().Is4() {
			t.Fatalf("default bridge subnet: %v", err)
		}
		engine.Run("resolver", "--group-add", sockGID, "-v", "/var/run/docker.sock:/var/run/docker.sock:ro",
			"--dns", lastHost(bridge).String(), "-p", "127.0.0.1::53/udp", d.imageRef())
		port := engine.Docker("port", name, "53/udp")
		await.True(t, 20*time.Second, "the image serves "+idleName+" on "+port, func() bool {
			m, _, err := (&dns.Client{Timeout: time.Second}).Exchange(new(dns.Msg).SetQuestion(idleName, dns.TypeA), port)
			return err == nil && slices.Equal(answerAddrs(m), []string{idleAddr})
		})
		// Unprivileged, and says which version it is.
		want := d.version + " 65532:65532"
		if got := engine.Docker("inspect", "--format", `{{index .Config.Labels "org.opencontainers.image.version"}} {{.Config.User}}`, name); got != want {
			t.Errorf("%s: version label and user %q, want %q", d.imageRef(), got, want)
		}
	})
}

// distOutput returns the artifacts of DOCKERHOSTS_DIST or of a fresh
// `make dist`, after checking them against SHA256SUMS.
func distOutput(t *testing.T) dist {
	t.Helper()
	dir := os.Getenv(DistEnv)
	if dir == "" {
		RequirePrograms(t, "make")
		dir = t.TempDir()
		start := time.Now()
		if out, err := exec.Command("make", "-C", moduleRoot(), "dist", "DIST="+dir).CombinedOutput(); err != nil {
			t.Fatalf("make dist: %v\n%s", err, out)
		}
		t.Logf("make dist took %s (set %s to reuse a build)", time.Since(start).Round(time.Second), DistEnv)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: bad line %q", line)
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
			t.Errorf("SHA256SUMS: %s does not match", name)
		}
		files = append(files, name)
	}
	m := regexp.MustCompile(`^dockerhosts-(.+)-linux-amd64\.tar\.gz$`)
	d := dist{dir: dir}
	for _, f := range files {
		if sub := m.FindStringSubmatch(f); sub != nil {
			d.version = sub[1]
		}
	}
	if d.version == "" {
		t.Fatalf("SHA256SUMS lists no linux/amd64 tarball: %v", files)
	}
	want := []string{filepath.Base(d.tarball("amd64")), filepath.Base(d.tarball("arm64")), filepath.Base(d.image())}
	if slices.Sort(files); !slices.Equal(files, slices.Sorted(slices.Values(want))) {
		t.Errorf("SHA256SUMS lists %v, want %v", files, want)
	}
	return d
}

// extract unpacks a release tarball with tar, as a user does, and returns
// its one top directory.
func extract(t *testing.T, tarball string) string {
	t.Helper()
	dest := t.TempDir()
	// Readable by the unprivileged user the binary runs as.
	for _, dir := range []string{filepath.Dir(dest), dest} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, "tar", "-xzf", tarball, "-C", dest)
	top := filepath.Join(dest, strings.TrimSuffix(filepath.Base(tarball), ".tar.gz"))
	if entries, err := os.ReadDir(dest); err != nil || len(entries) != 1 || entries[0].Name() != filepath.Base(top) {
		t.Fatalf("%s: want one top directory %s, got %v (%v)", tarball, filepath.Base(top), entries, err)
	}
	return top
}

// checkStaticELF: the binary is for the given machine and needs no dynamic
// loader, so it runs on any Linux of that architecture (and FROM scratch).
func checkStaticELF(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != machine {
		t.Errorf("%s: machine %s, want %s", path, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: dynamically linked (has an interpreter)", path)
		}
	}
}

// lastHost is the highest address of an IPv4 subnet below its broadcast.
func lastHost(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for i := range a {
		hostBits := max(0, min(8, 32-p.Bits()-8*(3-i)))
		a[i] |= byte(1<<hostBits - 1)
	}
	return netip.AddrFrom4(a).Prev()
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
