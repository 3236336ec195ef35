package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/cmd/coredns/internal/plugincfg"
)

const pluginCfg = "../../plugin.cfg"

func readPluginCfg(t *testing.T) []plugincfg.Plugin {
	t.Helper()
	f, err := os.Open(pluginCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	plugins, err := plugincfg.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", pluginCfg, err)
	}
	return plugins
}

func names(plugins []plugincfg.Plugin) []string {
	var out []string
	for _, p := range plugins {
		out = append(out, p.Name)
	}
	return out
}

func TestGeneratedFileIsUpToDate(t *testing.T) {
	want, err := plugincfg.Generate("main", readPluginCfg(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("zplugins.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("zplugins.go is stale: run `go generate ./cmd/coredns` after editing plugin.cfg")
	}
}

func TestPluginCfgPutsDockerhostsRightBeforeHosts(t *testing.T) {
	order := names(readPluginCfg(t))
	d, h := slices.Index(order, "dockerhosts"), slices.Index(order, "hosts")
	if d < 0 || h != d+1 {
		t.Fatalf("plugin.cfg order %v: want dockerhosts right before hosts", order)
	}
}

// The directive list compiled into this package is the one the binary runs
// with: the generated init has replaced CoreDNS's stock list by now.
func TestCompiledDirectivesFollowPluginCfg(t *testing.T) {
	want := names(readPluginCfg(t))
	if !slices.Equal(dnsserver.Directives, want) {
		t.Fatalf("dnsserver.Directives = %v\nplugin.cfg order     = %v", dnsserver.Directives, want)
	}
}

func TestEveryDirectiveIsRegistered(t *testing.T) {
	registered := caddy.ListPlugins()["others"]
	for _, name := range names(readPluginCfg(t)) {
		if !slices.Contains(registered, "dns."+name) {
			t.Errorf("plugin.cfg lists %q but no imported package registers it (registered: %v)", name, registered)
		}
	}
}

// binary is this command built the way the Makefile builds it, once per test
// run; TestMain removes it.
var binary = struct {
	once sync.Once
	dir  string
	path string
	err  error
}{}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "dockerhosts-coredns-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "coredns")
		cmd := exec.Command("go", "build", "-o", binary.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

func TestBinaryListsPluginCfgPlugins(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "-plugins").Output()
	if err != nil {
		t.Fatalf("%s -plugins: %v", bin, err)
	}
	// caddy prints one registered plugin per line, without the "dns." prefix.
	listed := strings.Fields(string(out))
	for _, name := range names(readPluginCfg(t)) {
		if !slices.Contains(listed, name) {
			t.Errorf("-plugins does not list %q:\n%s", name, out)
		}
	}
}

// TestBinaryRunsDockerhostsBeforeHosts checks the order from outside: both
// plugins know the same name with different addresses, the Corefile lists
// hosts first, and the answer must still come from dockerhosts.
func TestBinaryRunsDockerhostsBeforeHosts(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	viaHosts := write("hosts.hosts", "192.0.2.1 order.test\n")
	viaDockerhosts := write("dockerhosts.hosts", "192.0.2.2 order.test\n")
	addr := freeUDPAddr(t)
	corefile := write("Corefile", "order.test:"+portOf(t, addr)+" {\n"+
		"\tbind 127.0.0.1\n"+
		"\thosts "+viaHosts+"\n"+
		"\tdockerhosts {\n\t\thostsfile "+viaDockerhosts+"\n\t}\n"+
		"}\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log bytes.Buffer
	server := exec.CommandContext(ctx, bin, "-conf", corefile)
	server.Stdout, server.Stderr = &log, &log
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); server.Wait() }()

	msg := new(dns.Msg).SetQuestion("order.test.", dns.TypeA)
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		in, err := dns.Exchange(msg, addr)
		if err == nil && len(in.Answer) > 0 {
			a, ok := in.Answer[0].(*dns.A)
			if ok && a.A.String() == "192.0.2.2" {
				return
			}
			last = in.Answer[0].String()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("order.test: want 192.0.2.2 from dockerhosts, last answer %q\nserver output:\n%s", last, log.String())
}

func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
