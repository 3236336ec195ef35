package dockerhosts

import (
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

// FuzzTransfer transfers zones while a source rewrites them: every round
// gives every host an address that names the round (10.<round>.x.y), so a
// transfer that mixes two states shows it. Each transfer must open and close
// with the same SOA, hold only canonical names of its zone, and come from one
// round.
func FuzzTransfer(f *testing.F) {
	f.Add("appsrv1 web.lab Mixed.Case db", uint8(5))
	f.Add("a b c d e f g h i j k l m n o p", uint8(40))
	f.Add("x.docker only.docker", uint8(1))
	f.Fuzz(func(t *testing.T, nameList string, rounds uint8) {
		var names []string
		for _, n := range strings.Fields(nameList) {
			if n, ok := dnsname.Normalize(n); ok {
				names = append(names, n)
			}
		}
		if len(names) == 0 || len(names) > 200 {
			return
		}
		zones := []string{"docker.", "10.in-addr.arpa."}
		d := &DockerHosts{Zones: zones, TTL: 5, index: index.New(zones)}
		src := index.Source{Name: "docker:host"}
		round := func(r int) []index.Host {
			hosts := make([]index.Host, len(names))
			for i, n := range names {
				ip := netip.AddrFrom4([4]byte{10, byte(r), byte(i / 250), byte(1 + i%250)})
				hosts[i] = index.Host{ID: n, Names: []string{n}, ReverseNames: []string{n},
					Addrs: []index.Addr{{IP: ip}}, Services: []index.Service{{Name: "http", Proto: "tcp", Port: uint16(r)}}}
			}
			return hosts
		}
		d.index.Replace(src, round(0))

		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 1; r <= int(rounds); r++ {
				d.index.Replace(src, round(r))
			}
		}()
		for i := 0; i < 1+int(rounds)/4; i++ {
			for _, z := range zones {
				checkConsistentTransfer(t, d, z)
			}
		}
		wg.Wait()
		for _, z := range zones {
			checkConsistentTransfer(t, d, z)
		}
	})
}

func checkConsistentTransfer(t *testing.T, d *DockerHosts, zone string) {
	t.Helper()
	ch, err := d.Transfer(zone, 0)
	if err != nil {
		t.Fatalf("Transfer %s: %v", zone, err)
	}
	var rrs []dns.RR
	for batch := range ch {
		rrs = append(rrs, batch...)
	}
	checkTransfer(t, zone, rrs)
	round := -1
	same := func(r int, rr dns.RR) {
		if round >= 0 && r != round {
			t.Fatalf("AXFR %s mixes round %d and round %d: %v", zone, round, r, rr)
		}
		round = r
	}
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.A:
			if rr.Header().Name != "ns.dns."+zone {
				same(int(rr.A[1]), rr)
			}
		case *dns.SRV:
			same(int(rr.Port), rr)
		case *dns.PTR:
			labels := dns.SplitDomainName(rr.Hdr.Name) // y.x.round.10.in-addr.arpa.
			same(atoi(labels[2]), rr)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
