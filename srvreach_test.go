package dockerhosts

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// TestSRVPerClientAndTTL: a container port answers at the container to a
// client in its subnet and at the published port to any other, each with
// the container's TTL, the target's address at the target's TTL.
func TestSRVPerClientAndTTL(t *testing.T) {
	d := testHandler()
	ip := netip.MustParseAddr("172.30.0.5")
	d.index.Upsert(dockerSource, index.Host{ID: "db", Names: []string{"db"}, ReverseNames: []string{"db"}, TTL: 60, HasTTL: true,
		Addrs: []index.Addr{{IP: ip, Network: "back", Subnet: netip.MustParsePrefix("172.30.0.0/16"), Scope: "host"}},
		Services: []index.Service{
			{Name: "5432", Proto: "tcp", Port: 15432, Target: "appsrv1", Reach: index.ReachElsewhere},
			{Name: "5432", Proto: "tcp", Port: 5432, Reach: index.ReachNetworks},
		}})
	d.LocalScopes = []string{"host"}
	for _, c := range []struct {
		client string
		answer []dns.RR
		extra  []dns.RR
	}{
		{"172.30.0.9", []dns.RR{test.SRV("_5432._tcp.db.docker. 60 IN SRV 10 10 5432 db.docker.")},
			[]dns.RR{test.A("db.docker. 60 IN A 172.30.0.5")}},
		{"127.0.0.1", []dns.RR{test.SRV("_5432._tcp.db.docker. 60 IN SRV 10 10 15432 appsrv1.docker.")},
			[]dns.RR{test.A("appsrv1.docker. 5 IN A 172.17.0.2")}},
	} {
		rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: c.client})
		if _, err := d.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion("_5432._tcp.db.docker.", dns.TypeSRV)); err != nil {
			t.Fatal(err)
		}
		tc := test.Case{Qname: "_5432._tcp.db.docker.", Qtype: dns.TypeSRV, Answer: c.answer, Extra: c.extra}
		if err := test.SortAndCheck(rec.Msg, tc); err != nil {
			t.Errorf("client %s: %v\n%v", c.client, err, rec.Msg)
		}
	}
}

// TestTransferCarriesTTLsAndPublishedSRVOnly: a zone transfer gives each
// name its TTL and carries the SRV records for clients elsewhere (a
// secondary's), not those for the container's own networks.
func TestTransferCarriesTTLsAndPublishedSRVOnly(t *testing.T) {
	d := testHandler()
	d.index.Upsert(dockerSource, index.Host{ID: "db", Names: []string{"db"}, ReverseNames: []string{"db"}, TTL: 60, HasTTL: true,
		Addrs: []index.Addr{{IP: netip.MustParseAddr("172.30.0.5"), Subnet: netip.MustParsePrefix("172.30.0.0/16")}},
		Services: []index.Service{
			{Name: "5432", Proto: "tcp", Port: 15432, Target: "appsrv1", Reach: index.ReachElsewhere},
			{Name: "5432", Proto: "tcp", Port: 5432, Reach: index.ReachNetworks},
		}})
	var got []string
	d.zoneRecords("docker.", d.index.Load(), func(rrs []dns.RR) {
		for _, rr := range rrs {
			if n := rr.Header().Name; n == "db.docker." || n == "_5432._tcp.db.docker." {
				got = append(got, rr.String())
			}
		}
	})
	want := []string{"db.docker.\t60\tIN\tA\t172.30.0.5", "_5432._tcp.db.docker.\t60\tIN\tSRV\t10 10 15432 appsrv1.docker."}
	if slices.Sort(got); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("transferred %q, want %q", got, want)
	}
}
