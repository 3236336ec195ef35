package dockerhosts

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/hosts"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// The same 1,000 names served by dockerhosts and by CoreDNS's hosts plugin.
const benchNames = 1000

func benchHostsFile(b *testing.B) (path string, hs []index.Host) {
	var sb strings.Builder
	for i := 0; i < benchNames; i++ {
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		name := fmt.Sprintf("host%d.docker", i)
		fmt.Fprintf(&sb, "%s %s\n", ip, name)
		hs = append(hs, index.Host{ID: fmt.Sprint(i), Names: []string{name}, ReverseNames: []string{name}, Addrs: []index.Addr{{IP: ip}}})
	}
	path = filepath.Join(b.TempDir(), "hosts")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, hs
}

func benchQueries() []*dns.Msg {
	qs := make([]*dns.Msg, 64)
	for i := range qs {
		qs[i] = new(dns.Msg).SetQuestion(fmt.Sprintf("host%d.docker.", i*15), dns.TypeA)
	}
	return qs
}

func BenchmarkServeDNS(b *testing.B) {
	path, hs := benchHostsFile(b)
	qs := benchQueries()
	run := func(b *testing.B, h interface {
		ServeDNS(context.Context, dns.ResponseWriter, *dns.Msg) (int, error)
	}) {
		w := &addrWriter{remote: &net.UDPAddr{IP: net.IPv4(10, 240, 0, 1), Port: 40212}}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rec := dnstest.NewRecorder(w)
			h.ServeDNS(ctx, rec, qs[i%len(qs)])
			if len(rec.Msg.Answer) != 1 {
				b.Fatalf("no answer: %v", rec.Msg)
			}
		}
	}
	b.Run("dockerhosts", func(b *testing.B) {
		d := &DockerHosts{Zones: []string{"docker."}, TTL: 5, index: benchTable(hs)}
		run(b, d)
	})
	b.Run("dockerhosts-maps", func(b *testing.B) {
		d := &DockerHosts{Zones: []string{"docker."}, TTL: 5, index: index.New([]string{"docker."})}
		d.index.Replace(index.Source{Name: "bench"}, hs)
		run(b, d)
	})
	// The same names as containers of one engine, asked by one of its
	// containers (10.240.0.1): without published
	// ports (the plain path), and publishing one, which makes the answer
	// depend on the client's class (reach.go).
	for _, published := range []bool{false, true} {
		b.Run(fmt.Sprintf("containers-published=%v", published), func(b *testing.B) {
			d := &DockerHosts{Zones: []string{"docker."}, TTL: 5, index: index.New([]string{"docker."}), LocalScopes: []string{"host"}}
			d.index.Replace(index.Source{Kind: dockerKind, Name: "host"}, containersOf(hs, published))
			run(b, d)
		})
	}
	b.Run("hosts", func(b *testing.B) {
		run(b, stockHosts(b, path))
	})
}

// addrWriter is test.ResponseWriter with its client address built once, as
// a server's own writer has it: test.ResponseWriter builds one per call.
type addrWriter struct {
	test.ResponseWriter
	remote net.Addr
}

func (w *addrWriter) RemoteAddr() net.Addr { return w.remote }

// containersOf are hs as containers of engine "host" on 10.0.0.0/8, and
// one more at the address addrWriter asks from.
func containersOf(hs []index.Host, published bool) []index.Host {
	subnet := netip.MustParsePrefix("10.0.0.0/8")
	out := []index.Host{{ID: "client", Names: []string{"client"},
		Addrs: []index.Addr{{IP: netip.MustParseAddr("10.240.0.1"), Network: "bench", Subnet: subnet, Scope: "host"}}}}
	for _, h := range hs {
		h.Addrs = []index.Addr{{IP: h.Addrs[0].IP, Network: "bench", Subnet: subnet, Scope: "host"}}
		if published {
			h.Published = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
		}
		out = append(out, h)
	}
	return out
}

// benchTable is an index holding hs as a hosts file gives them: a table.
func benchTable(hs []index.Host) *index.Index {
	x := index.New([]string{"docker."})
	tb := x.NewTableBuilder()
	for _, h := range hs {
		tb.Add(h.Addrs[0].IP, [][]byte{[]byte(h.Names[0])})
	}
	x.SetTable(index.Source{Name: "hostsfile:/bench", Priority: 10}, tb.Done())
	return x
}

// BenchmarkLookup is the name lookup alone: the index's lock-free snapshot
// against the hosts plugin's map under a read lock.
func BenchmarkLookup(b *testing.B) {
	path, hs := benchHostsFile(b)
	b.Run("dockerhosts", func(b *testing.B) {
		x := benchTable(hs)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if x.Load().Lookup("host500.docker.") == nil {
				b.Fatal("missing")
			}
		}
	})
	b.Run("dockerhosts-maps", func(b *testing.B) {
		x := index.New([]string{"docker."})
		x.Replace(index.Source{Name: "bench"}, hs)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if x.Load().Lookup("host500.docker.") == nil {
				b.Fatal("missing")
			}
		}
	})
	b.Run("hosts", func(b *testing.B) {
		h := stockHosts(b, path).(hosts.Hosts)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if len(h.LookupStaticHostV4("host500.docker.")) == 0 {
				b.Fatal("missing")
			}
		}
	})
}

// stockHosts builds CoreDNS's own hosts plugin through its registered setup,
// with the file's lines inline (its file loading waits for OnStartup, which
// only a running server calls; inline and file entries are looked up alike).
func stockHosts(b *testing.B, path string) plugin.Handler {
	content, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	c := caddy.NewTestController("dns", "hosts "+path+" docker. {\n"+string(content)+" no_reverse\n reload 0\n}")
	setupHosts, err := caddy.DirectiveAction("dns", "hosts")
	if err != nil {
		b.Fatal(err)
	}
	if err := setupHosts(c); err != nil {
		b.Fatal(err)
	}
	cfg := dnsserver.GetConfig(c)
	return cfg.Plugin[len(cfg.Plugin)-1](nil)
}
