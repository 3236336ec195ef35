package dockerhosts

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin/cache"
	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// arrivalWriter is a client at remote whose query arrived on local.
type arrivalWriter struct {
	test.ResponseWriter
	local netip.Addr
}

func (w *arrivalWriter) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: w.local.AsSlice(), Port: 53}
}

// reachIndex is two engines: a, on this machine, whose host has
// 192.0.2.10, and b, remote, at 198.51.100.2. Both have a container
// publishing port 80 on all addresses, and one publishing nothing.
func reachIndex() *DockerHosts {
	on := func(ip, subnet, engine string) index.Addr {
		return index.Addr{IP: netip.MustParseAddr(ip), Network: "bridge", Subnet: netip.MustParsePrefix(subnet), Scope: engine}
	}
	addrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	d := &DockerHosts{Zones: []string{"docker."}, TTL: 5, index: index.New([]string{"docker."}), LocalScopes: []string{"a"}}
	d.index.Replace(index.Source{Kind: dockerKind, Name: "a"}, []index.Host{
		{ID: "engine-host", Names: []string{"a"}, Addrs: []index.Addr{{IP: netip.MustParseAddr("192.0.2.10"), Scope: "a"}},
			Published: addrs("0.0.0.0", "::")},
		{ID: "web", Names: []string{"web", "web.a"}, Addrs: []index.Addr{on("172.17.0.2", "172.17.0.0/16", "a")},
			Services: []index.Service{{Name: "80", Proto: "tcp", Port: 32768, Target: "a"}}, Published: addrs("0.0.0.0", "::")},
		{ID: "bound", Names: []string{"bound"}, Addrs: []index.Addr{on("172.17.0.6", "172.17.0.0/16", "a")},
			Published: addrs("127.0.0.3")},
		{ID: "quiet", Names: []string{"quiet"}, Addrs: []index.Addr{on("172.17.0.3", "172.17.0.0/16", "a")}},
		{ID: "client", Names: []string{"client"}, Addrs: []index.Addr{on("172.17.0.5", "172.17.0.0/16", "a")}},
		{ID: "db", Names: []string{"db"}, Addrs: []index.Addr{on("172.17.0.7", "172.17.0.0/16", "a")}},
		{ID: "api", Names: []string{"api"}, Addrs: []index.Addr{on("172.17.0.20", "172.17.0.0/16", "a")},
			Published: addrs("0.0.0.0")},
		// A swarm service: its VIP, its ingress ports on two nodes.
		{ID: "service/svc", Names: []string{"svc"}, Addrs: []index.Addr{on("10.0.1.2", "10.0.1.0/24", "a")},
			Published: addrs("198.51.100.1", "198.51.100.2")},
	})
	d.index.Replace(index.Source{Kind: dockerKind, Name: "b"}, []index.Host{
		{ID: "engine-host", Names: []string{"b"}, Addrs: []index.Addr{{IP: netip.MustParseAddr("198.51.100.2"), Scope: "b"}}},
		{ID: "web", Names: []string{"web", "web.b"}, Addrs: []index.Addr{on("172.17.0.4", "172.17.0.0/16", "b")},
			Published: addrs("198.51.100.2")},
		{ID: "peer", Names: []string{"peer"}, Addrs: []index.Addr{on("172.17.0.9", "172.17.0.0/16", "b")}},
		{ID: "db", Names: []string{"db"}, Addrs: []index.Addr{on("172.17.0.8", "172.17.0.0/16", "b")}},
		// The same name and address as a's api, on b's own bridge.
		{ID: "api", Names: []string{"api"}, Addrs: []index.Addr{on("172.17.0.20", "172.17.0.0/16", "b")},
			Published: addrs("198.51.100.2")},
	})
	return d
}

// ask asks d name's qtype as client does, its query arriving on local, and
// returns the answer's (or for SRV the additional section's) addresses in
// order.
func ask(t *testing.T, d *DockerHosts, client, local, name string, qtype uint16) []string {
	t.Helper()
	w := &arrivalWriter{ResponseWriter: test.ResponseWriter{RemoteIP: client}, local: netip.MustParseAddr(local)}
	rec := dnstest.NewRecorder(w)
	if _, err := d.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion(name, qtype)); err != nil {
		t.Fatal(err)
	}
	section := rec.Msg.Answer
	if qtype == dns.TypeSRV {
		section = rec.Msg.Extra
	}
	var got []string
	for _, rr := range section {
		switch v := rr.(type) {
		case *dns.A:
			got = append(got, v.A.String())
		case *dns.AAAA:
			got = append(got, v.AAAA.String())
		}
	}
	return got
}

// TestEveryAnswerReachableFromTheClient: a client on a container's engine
// gets its own address; any other client the addresses its ports are
// published on (on all addresses: the address the query arrived on for an
// engine on this machine, the remote engine's host otherwise); a container
// publishing nothing answers its own address to everyone; the client's own
// engine comes first.
func TestEveryAnswerReachableFromTheClient(t *testing.T) {
	d := reachIndex()
	const lan, lanGW = "203.0.113.50", "203.0.113.1"
	for _, c := range []struct {
		who, client, local, name string
		qtype                    uint16
		want                     []string
	}{
		// A LAN machine, asking on the resolver's LAN address.
		{"lan", lan, lanGW, "web.a.docker.", dns.TypeA, []string{lanGW}},
		{"lan", lan, lanGW, "web.b.docker.", dns.TypeA, []string{"198.51.100.2"}},
		{"lan", lan, lanGW, "web.docker.", dns.TypeA, []string{lanGW, "198.51.100.2"}},
		{"lan", lan, lanGW, "bound.docker.", dns.TypeA, []string{"127.0.0.3"}},
		{"lan", lan, lanGW, "quiet.docker.", dns.TypeA, []string{"172.17.0.3"}},
		{"lan", lan, lanGW, "web.a.docker.", dns.TypeAAAA, nil},
		{"lan", lan, lanGW, "a.docker.", dns.TypeA, []string{lanGW}},
		{"lan", lan, lanGW, "_80._tcp.web.a.docker.", dns.TypeSRV, []string{lanGW}},
		// The same over IPv6: the container has no IPv6 address of its own.
		{"lan6", "2001:db8::50", "2001:db8::1", "web.a.docker.", dns.TypeAAAA, []string{"2001:db8::1"}},
		{"lan6", "2001:db8::50", "2001:db8::1", "web.a.docker.", dns.TypeA, nil},
		// This machine: engine a's own addresses, b's published ones.
		{"host", "127.0.0.1", "127.0.0.1", "web.a.docker.", dns.TypeA, []string{"172.17.0.2"}},
		{"host", "127.0.0.1", "127.0.0.1", "web.docker.", dns.TypeA, []string{"172.17.0.2", "198.51.100.2"}},
		{"host", "127.0.0.1", "127.0.0.1", "bound.docker.", dns.TypeA, []string{"172.17.0.6"}},
		{"host", "127.0.0.1", "127.0.0.1", "_80._tcp.web.a.docker.", dns.TypeSRV, []string{"192.0.2.10"}},
		{"host-lan-addr", lanGW, lanGW, "web.a.docker.", dns.TypeA, []string{"172.17.0.2"}},
		// A container of a, asking on its gateway.
		{"container", "172.17.0.5", "172.17.0.1", "web.docker.", dns.TypeA, []string{"172.17.0.2", "198.51.100.2"}},
		// Engine b's machine (its containers arrive through its NAT): b's
		// own first, a's where it is published.
		{"b", "198.51.100.2", lanGW, "web.docker.", dns.TypeA, []string{"172.17.0.4", lanGW}},
		{"b", "198.51.100.2", lanGW, "web.a.docker.", dns.TypeA, []string{lanGW}},
		// A swarm service: the VIP inside, the nodes outside, the client's
		// own node first.
		{"container", "172.17.0.5", "172.17.0.1", "svc.docker.", dns.TypeA, []string{"10.0.1.2"}},
		{"lan", lan, lanGW, "svc.docker.", dns.TypeA, []string{"198.51.100.1", "198.51.100.2"}},
		{"b", "198.51.100.2", lanGW, "svc.docker.", dns.TypeA, []string{"198.51.100.2", "198.51.100.1"}},
		// One name, one address on both engines' bridges: each client its
		// own engine's container there, the other where it is published.
		{"container", "172.17.0.5", "172.17.0.1", "api.docker.", dns.TypeA, []string{"172.17.0.20", "198.51.100.2"}},
		{"b-container", "172.17.0.9", lanGW, "api.docker.", dns.TypeA, []string{"172.17.0.20", lanGW}},
		{"lan", lan, lanGW, "api.docker.", dns.TypeA, []string{lanGW, "198.51.100.2"}},
		// Neither publishes: own addresses, the client's engine's first.
		{"container", "172.17.0.5", "172.17.0.1", "db.docker.", dns.TypeA, []string{"172.17.0.7", "172.17.0.8"}},
		{"b-container", "172.17.0.9", lanGW, "db.docker.", dns.TypeA, []string{"172.17.0.8", "172.17.0.7"}},
		{"lan", lan, lanGW, "db.docker.", dns.TypeA, []string{"172.17.0.7", "172.17.0.8"}},
	} {
		if got := ask(t, d, c.client, c.local, c.name, c.qtype); !slices.Equal(got, c.want) {
			t.Errorf("%s (%s on %s) %s %s: %v, want %v", c.who, c.client, c.local, c.name, dns.TypeToString[c.qtype], got, c.want)
		}
	}
}

// TestClientClassMetadata: dockerhosts/client-class says whether the client
// is on a served engine (its container, its machine) or outside.
func TestClientClassMetadata(t *testing.T) {
	d := reachIndex()
	for _, c := range []struct{ client, local, want string }{
		{"172.17.0.5", "172.17.0.1", classEngine},    // a container of a
		{"127.0.0.1", "127.0.0.1", classEngine},      // this machine, which runs a
		{"198.51.100.2", "203.0.113.1", classEngine}, // b's machine
		{"203.0.113.50", "203.0.113.1", classOutside},
	} {
		ctx := metadata.ContextWithMetadata(context.Background())
		w := &arrivalWriter{ResponseWriter: test.ResponseWriter{RemoteIP: c.client}, local: netip.MustParseAddr(c.local)}
		ctx = d.Metadata(ctx, request.Request{W: w, Req: new(dns.Msg).SetQuestion("web.docker.", dns.TypeA)})
		if got := metadata.ValueFunc(ctx, "dockerhosts/client-class")(); got != c.want {
			t.Errorf("client %s: class %q, want %q", c.client, got, c.want)
		}
	}
}

// TestCacheBypassesForwardZones: a cache in the block never keeps our
// client-dependent answers; reverse zones are everyone's.
func TestCacheBypassesForwardZones(t *testing.T) {
	var _ cache.ZoneBypasser = (*DockerHosts)(nil)
	d := &DockerHosts{Zones: []string{"docker.", "lab.", "17.172.in-addr.arpa."}}
	if got := d.CacheBypassZones(); !slices.Equal(got, []string{"docker.", "lab."}) {
		t.Errorf("bypassed %v, want the forward zones", got)
	}
}

// TestZoneHoldsASharedAddressOnce: the two engines' api share an address:
// a transfer's A RRset holds it once.
func TestZoneHoldsASharedAddressOnce(t *testing.T) {
	e := reachIndex().index.Load().Lookup("api.docker.")
	if len(e.A) != 2 {
		t.Fatalf("api: %d targets, want one per engine", len(e.A))
	}
	if got := uniqueAddrs(e.A); len(got) != 1 || got[0].IP.String() != "172.17.0.20" {
		t.Errorf("unique: %v", got)
	}
}

// TestResolverInAContainerKnowsItsMachine: dockerhosts in a container of
// engine a (the query arrives on 172.17.0.5, a's container's address): the
// one address on its network that no container has is the machine running
// it, on engine a; a container of another engine there is not.
func TestResolverInAContainerKnowsItsMachine(t *testing.T) {
	d := reachIndex()
	for _, c := range []struct{ client, want string }{
		{"172.17.0.1", "172.17.0.2"}, // the machine, through the gateway
		{"172.17.0.9", "172.17.0.5"}, // b's container: outside a, told the address it asked
		{"203.0.113.50", "172.17.0.5"},
	} {
		if got := ask(t, d, c.client, "172.17.0.5", "web.a.docker.", dns.TypeA); !slices.Equal(got, []string{c.want}) {
			t.Errorf("%s: %v, want %s", c.client, got, c.want)
		}
	}
}

// TestMachineAddressesAreReadOncePerPeriod: a LAN client's queries do not
// read the interfaces each time; a stale set is read again.
func TestMachineAddressesAreReadOncePerPeriod(t *testing.T) {
	reads := 0
	m := &machineAddrs{read: func() []netip.Addr {
		reads++
		return []netip.Addr{netip.MustParseAddr("192.0.2.2")}
	}}
	if !m.has(netip.MustParseAddr("192.0.2.2")) || m.has(netip.MustParseAddr("192.0.2.3")) || reads != 1 {
		t.Fatalf("after two questions: %d reads, want 1", reads)
	}
	m.readAt.Store(m.readAt.Load() - int64(machineRefresh))
	if m.has(netip.MustParseAddr("192.0.2.2")); reads != 2 {
		t.Errorf("a stale set: %d reads, want 2", reads)
	}
}
