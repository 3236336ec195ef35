//go:build linux

package hostlan

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// The test LAN reuses Docker's default bridge subnet, so that the recipes'
// reverse zone (17.172.in-addr.arpa) applies unchanged; it lives only inside
// the test's namespaces, apart from the host's docker0.
var (
	resolverAddr = netip.MustParseAddr("172.17.0.53") // dockerhosts
	siteAddr     = netip.MustParseAddr("172.17.0.54") // the LAN's resolver (unbound)
	clientAddr   = netip.MustParseAddr("172.17.0.10") // the host, another machine
	webAddr      = netip.MustParseAddr("172.17.0.80") // web.docker, before it moves
	webMovedAddr = netip.MustParseAddr("172.17.0.81") // web.docker, after
)

const (
	lanBits = 16
	// ttl of every dockerhosts record in these tests, in seconds: short, so
	// that following a move takes little time.
	ttl = 2
	// webPort is where the app machine serves HTTP on every address.
	webPort = "8080"
	// recipeAddr stands for the resolver's address in the shipped recipes.
	recipeAddr = "192.0.2.53"
)

// moduleRoot is the repository root, from this file's location.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// recipe returns a shipped recipe with the resolver's address in place of
// the placeholder: the file users copy, not a copy of it.
func recipe(t *testing.T, name string, resolver netip.Addr) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot(), "recipes", name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), recipeAddr) {
		t.Fatalf("recipes/%s does not name the resolver as %s", name, recipeAddr)
	}
	return strings.ReplaceAll(string(data), recipeAddr, resolver.String())
}

// buildDir holds what the tests build once per run; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dockerhosts-hostlan-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildCoreDNS builds the custom CoreDNS once per run with `make build`, the
// way users build it.
var buildCoreDNS = sync.OnceValues(func() (string, error) {
	path := filepath.Join(buildDir, "coredns")
	if out, err := exec.Command("make", "-C", moduleRoot(), "build", "BINARY="+path).CombinedOutput(); err != nil {
		return "", fmt.Errorf("make build: %v\n%s", err, out)
	}
	return path, nil
})

func corednsBinary(t *testing.T) string {
	t.Helper()
	path, err := buildCoreDNS()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// resolver is dockerhosts serving docker. and 17.172.in-addr.arpa. from a
// hosts file on port 53 of a LAN address, to the LAN only.
type resolver struct {
	hosts string // the file it serves
}

func startResolver(t *testing.T, ns *Namespace, addr netip.Addr, hosts string) *resolver {
	t.Helper()
	dir := t.TempDir()
	r := &resolver{hosts: filepath.Join(dir, "hosts")}
	r.setHosts(t, hosts)
	corefile := filepath.Join(dir, "Corefile")
	writeFile(t, corefile, fmt.Sprintf(`docker.:53 17.172.in-addr.arpa.:53 {
	bind %s
	acl {
		allow net %s
		block
	}
	errors
	dockerhosts {
		hostsfile %s
		ttl %d
	}
}
`, addr, netip.PrefixFrom(addr, lanBits).Masked(), r.hosts, ttl))
	p := ns.Start(corednsBinary(t), "-conf", corefile)
	await.True(t, 20*time.Second, "dockerhosts answers on "+addr.String(), func() bool {
		if exited, err := p.Exited(); exited {
			t.Fatalf("coredns exited: %v\n%s", err, p.Output())
		}
		m, err := query(ns, "udp", addr, "docker.", dns.TypeSOA)
		return err == nil && m.Authoritative && len(m.Answer) == 1
	})
	return r
}

// setHosts replaces the hosts file the way an editor or a deploy tool does:
// a new file renamed over the old one.
func (r *resolver) setHosts(t *testing.T, content string) {
	t.Helper()
	tmp := r.hosts + ".new"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, r.hosts); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// query asks server:53 one question from inside ns, with EDNS 1232 like
// today's stub resolvers.
func query(ns *Namespace, proto string, server netip.Addr, name string, qtype uint16) (*dns.Msg, error) {
	conn, err := ns.Dial(proto, net.JoinHostPort(server.String(), "53"), 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	r, _, err := c.ExchangeWithConn(m, &dns.Conn{Conn: conn})
	return r, err
}

func answerAddrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

// webLAN is the LAN most tests start from: dockerhosts on the "dns" machine
// serving web.docker at webAddr from its hosts file, and the "app" machine
// serving HTTP on webAddr and on webMovedAddr, where web.docker moves to.
func webLAN(t *testing.T) (*LAN, *resolver) {
	t.Helper()
	lan := NewLAN(t, lanBits)
	res := startResolver(t, lan.Machine("dns", resolverAddr), resolverAddr, webAddr.String()+" web\n")
	serveWeb(t, lan.Machine("app", webAddr, webMovedAddr))
	return lan, res
}

// serveWeb runs an HTTP server on port 8080 of every address of ns that
// answers with the address it was reached on: which backend a client or a
// proxy actually got.
func serveWeb(t *testing.T, ns *Namespace) {
	t.Helper()
	ln, err := ns.Listen("tcp", ":"+webPort)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		host, _, _ := net.SplitHostPort(local.String())
		fmt.Fprintln(w, host)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}
