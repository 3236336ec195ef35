package dockerhosts

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// aliasIndex is one engine, a, on this machine, with two swarm services as
// the swarm source gives them: api on front (10.0.1.0/24) and back
// (10.0.2.0/24) with the alias db on back; other on its own network
// (10.0.3.0/24) with the alias db there too, publishing its ports on a node.
// A container on the default bridge has the alias db as well. Clients are
// containers on each network.
func aliasIndex() *DockerHosts {
	on := func(ip, network string, names index.NetworkNames) index.Addr {
		p := netip.MustParsePrefix(ip + "/24").Masked()
		if strings.HasPrefix(ip, "172.17.") {
			p = netip.MustParsePrefix(ip + "/16").Masked()
		}
		return index.Addr{IP: netip.MustParseAddr(ip), Network: network, Subnet: p, Scope: "a", Names: names}
	}
	every, here, elsewhere := index.NamesEverywhere, index.NamesHere, index.NamesElsewhere
	node := []netip.Addr{netip.MustParseAddr("198.51.100.1")}
	d := &DockerHosts{Zones: []string{"docker."}, TTL: 5, index: index.New([]string{"docker."}), LocalScopes: []string{"a"}}
	d.index.Replace(index.Source{Kind: "swarm", Name: "a"}, []index.Host{
		{ID: "service/api", Names: []string{"api"}, Addrs: []index.Addr{on("10.0.1.2", "front", every), on("10.0.2.2", "back", every)}},
		{ID: "service/api/alias1", Names: []string{"db"}, Addrs: []index.Addr{on("10.0.1.2", "front", elsewhere), on("10.0.2.2", "back", here)}},
		{ID: "task/t1/alias1", Names: []string{"tasks.db"}, Addrs: []index.Addr{on("10.0.1.5", "front", elsewhere), on("10.0.2.5", "back", here)}},
		{ID: "task/t2/alias1", Names: []string{"tasks.db"}, Addrs: []index.Addr{on("10.0.1.6", "front", elsewhere), on("10.0.2.6", "back", here)}},
		{ID: "service/other/alias1", Names: []string{"db"}, Addrs: []index.Addr{on("10.0.3.2", "third", here)}, Published: node},
	})
	d.index.Replace(index.Source{Kind: dockerKind, Name: "a"}, []index.Host{
		{ID: "c-db", Names: []string{"c-db", "db"}, Addrs: []index.Addr{on("172.17.0.7", "bridge", every)}},
		{ID: "c-front", Names: []string{"c-front"}, Addrs: []index.Addr{on("10.0.1.50", "front", every)}},
		{ID: "c-back", Names: []string{"c-back"}, Addrs: []index.Addr{on("10.0.2.50", "back", every)}},
		{ID: "c-third", Names: []string{"c-third"}, Addrs: []index.Addr{on("10.0.3.50", "third", every)}},
		{ID: "c-bridge", Names: []string{"c-bridge"}, Addrs: []index.Addr{on("172.17.0.5", "bridge", every)}},
	})
	return d
}

// TestServiceAliasesAnswerOnTheirNetwork: a client on a network where an
// alias is given gets what Docker's DNS gives there; on a network where it is
// not, nothing of that service; a client on none of the aliases' networks
// gets every address where the alias exists (or the published node, from
// outside the engine), as a container's alias answers it.
func TestServiceAliasesAnswerOnTheirNetwork(t *testing.T) {
	d := aliasIndex()
	const lan, lanGW = "203.0.113.50", "203.0.113.1"
	for _, c := range []struct {
		who, client, name string
		want              []string
	}{
		{"on back, where api has db", "10.0.2.50", "db.docker.", []string{"10.0.2.2"}},
		{"on back", "10.0.2.50", "tasks.db.docker.", []string{"10.0.2.5", "10.0.2.6"}},
		{"on third, where other has db", "10.0.3.50", "db.docker.", []string{"10.0.3.2"}},
		{"on third, none of api's networks", "10.0.3.50", "tasks.db.docker.", []string{"10.0.2.5", "10.0.2.6"}},
		{"on front, where no service has db", "10.0.1.50", "db.docker.", nil},
		{"on front", "10.0.1.50", "tasks.db.docker.", nil},
		{"on front, the service name", "10.0.1.50", "api.docker.", []string{"10.0.1.2"}},
		// A container's aliases answer on every network (README, Bugs).
		{"on the bridge, none of the services' networks", "172.17.0.5", "db.docker.", []string{"10.0.2.2", "10.0.3.2", "172.17.0.7"}},
		{"this machine, on none of them", "127.0.0.1", "db.docker.", []string{"10.0.2.2", "10.0.3.2", "172.17.0.7"}},
		{"this machine", "127.0.0.1", "tasks.db.docker.", []string{"10.0.2.5", "10.0.2.6"}},
		{"the LAN: published node, or the addresses", lan, "db.docker.", []string{"10.0.2.2", "198.51.100.1", "172.17.0.7"}},
	} {
		got := ask(t, d, c.client, lanGW, c.name, dns.TypeA)
		slices.Sort(got)
		slices.Sort(c.want)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s (%s) asks %s: got %v, want %v", c.who, c.client, c.name, got, c.want)
		}
	}
}

// TestServiceAliasNODATAOffItsNetwork: where no host has the name, the
// answer is NODATA with the SOA: the name exists for other clients.
func TestServiceAliasNODATAOffItsNetwork(t *testing.T) {
	d := aliasIndex()
	rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: "10.0.1.50"})
	if _, err := d.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion("db.docker.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if r := rec.Msg; r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("db from front: %v, want NODATA with the SOA", rec.Msg)
	}
}

// TestServiceAliasTransferCarriesItsOwnNetwork: a secondary's clients are on
// none of the networks: a transfer gives each alias the addresses where it
// exists.
func TestServiceAliasTransferCarriesItsOwnNetwork(t *testing.T) {
	d := aliasIndex()
	var got []string
	d.zoneRecords("docker.", d.index.Load(), func(rrs []dns.RR) {
		for _, rr := range rrs {
			if a, ok := rr.(*dns.A); ok && (a.Hdr.Name == "db.docker." || a.Hdr.Name == "tasks.db.docker.") {
				got = append(got, a.Hdr.Name+" "+a.A.String())
			}
		}
	})
	slices.Sort(got)
	want := []string{"db.docker. 10.0.2.2", "db.docker. 10.0.3.2", "db.docker. 172.17.0.7", "tasks.db.docker. 10.0.2.5", "tasks.db.docker. 10.0.2.6"}
	if !slices.Equal(got, want) {
		t.Errorf("transfer %v, want %v", got, want)
	}
}

// BenchmarkServiceAliasAnswer: the cost of answering a name bound to
// networks (a swarm alias: one filtered copy of the entry per query) next to
// the service's own name, asked by a client on its network.
func BenchmarkServiceAliasAnswer(b *testing.B) {
	d := aliasIndex()
	for _, name := range []string{"api.docker.", "db.docker."} {
		b.Run(name, func(b *testing.B) {
			w := &test.ResponseWriter{RemoteIP: "10.0.2.50"}
			q := new(dns.Msg).SetQuestion(name, dns.TypeA)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				rec := dnstest.NewRecorder(w)
				d.ServeDNS(ctx, rec, q)
				if len(rec.Msg.Answer) != 1 {
					b.Fatalf("answer %v", rec.Msg)
				}
			}
		})
	}
}
