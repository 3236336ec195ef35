package dockerhosts

import (
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/serial"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/knottest"

	// The plugins the transfer Corefiles use besides ours.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/tsig"
)

// secondaryWithin bounds how long Knot may take to serve a change: a NOTIFY
// goes out within about a second of it (one new serial per second), and Knot
// may wait about a second after its previous refresh. The margin is for a
// busy CI machine; bench/xfer measures the real figures.
const secondaryWithin = 5 * time.Second

// xferLab is an in-process dockerhosts primary serving a hosts file under
// docker. and 17.172.in-addr.arpa., with Knot as its secondary.
type xferLab struct {
	t       *testing.T
	hosts   string
	addr    string // the primary, UDP and TCP
	knot    *knottest.Secondary
	primary *coreDNS
}

var xferZones = []string{"docker.", "17.172.in-addr.arpa."}

func (l *xferLab) corefile(ttl int) string {
	return fmt.Sprintf(`docker.:%[1]s 17.172.in-addr.arpa.:%[1]s {
		bind 127.0.0.1
		transfer {
			to %[2]s
		}
		dockerhosts {
			hostsfile %[3]s
			ttl %[4]d
		}
	}`, portOf(l.addr), l.knot.Addr, l.hosts, ttl)
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func newXferLab(t *testing.T, hosts string) *xferLab {
	l := &xferLab{t: t, hosts: filepath.Join(t.TempDir(), "hosts"), knot: knottest.New(t), addr: knottest.FreeAddr(t)}
	writeFile(t, l.hosts, hosts)
	l.primary = startCoreDNS(t, l.corefile(5))
	l.knot.Start(t, l.addr, xferZones...)
	// At start the primary notifies once its first own serial is out (a
	// restarted process may serve other data under an equal serial).
	for _, z := range xferZones {
		l.awaitSecondary(z+" notified and loaded at our serial", func() bool {
			s, ok := l.knot.Serial(z)
			return ok && l.notified(z) > 0 && s == l.serial(z)
		})
	}
	return l
}

// notified counts the NOTIFYs Knot got for zone.
func (l *xferLab) notified(zone string) int {
	return strings.Count(l.knot.Log(), "["+zone+"] notify, incoming")
}

// serial is the primary's SOA serial of zone.
func (l *xferLab) serial(zone string) uint32 {
	r := l.primary.exchange(l.t, "udp", zone, dns.TypeSOA)
	if len(r.Answer) != 1 {
		l.t.Fatalf("SOA %s: %v", zone, r)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

func (l *xferLab) awaitSecondary(what string, cond func() bool) {
	l.t.Helper()
	await.True(l.t, secondaryWithin, "Knot: "+what, cond)
}

// knotA is what Knot answers for name's A.
func (l *xferLab) knotA(name string) []string {
	r, err := l.knot.Query(name, dns.TypeA)
	if err != nil {
		return nil
	}
	return answerA(r)
}

// axfr transfers zone from addr, failing the test on an error.
func axfr(t *testing.T, addr, zone string) []dns.RR {
	t.Helper()
	rrs, err := knottest.AXFR(addr, zone)
	if err != nil {
		t.Fatalf("AXFR %s from %s: %v", zone, addr, err)
	}
	return rrs
}

// checkTransfer checks the shape of one AXFR of zone: it opens and closes
// with the same SOA, has the SOA nowhere else, and every owner name is a
// canonical name in the zone.
func checkTransfer(t testing.TB, zone string, rrs []dns.RR) {
	t.Helper()
	if len(rrs) < 2 {
		t.Fatalf("AXFR %s: %d records", zone, len(rrs))
	}
	first, ok1 := rrs[0].(*dns.SOA)
	last, ok2 := rrs[len(rrs)-1].(*dns.SOA)
	if !ok1 || !ok2 || first.String() != last.String() {
		t.Fatalf("AXFR %s: opens with %v, closes with %v", zone, rrs[0], rrs[len(rrs)-1])
	}
	for _, rr := range rrs[1 : len(rrs)-1] {
		name := rr.Header().Name
		if rr.Header().Rrtype == dns.TypeSOA || name != dns.CanonicalName(name) || !dns.IsSubDomain(zone, name) {
			t.Fatalf("AXFR %s: out of place: %v", zone, rr)
		}
	}
}

// sortedRecords is a transfer as sorted text, without the closing SOA.
func sortedRecords(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs[:len(rrs)-1] {
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

func TestSecondaryLoadsTheZonesAndServesWhatWeServe(t *testing.T) {
	l := newXferLab(t, "172.17.0.2 appsrv1 web\n172.17.0.3 AppSrv2\nfd00::3 appsrv2\n10.1.2.3 outside.example\n")
	for _, z := range xferZones {
		ours, theirs := axfr(t, l.addr, z), axfr(t, l.knot.Addr, z)
		checkTransfer(t, z, ours)
		if !slices.Equal(sortedRecords(ours), sortedRecords(theirs)) {
			t.Errorf("zone %s\nours:\n%s\nKnot's:\n%s", z, strings.Join(sortedRecords(ours), "\n"), strings.Join(sortedRecords(theirs), "\n"))
		}
	}
	want := []string{
		"docker.\t5\tIN\tNS\tns.dns.docker.",
		"ns.dns.docker.\t5\tIN\tA\t127.0.0.1", // glue: the bind address
		"appsrv1.docker.\t5\tIN\tA\t172.17.0.2",
		"web.docker.\t5\tIN\tA\t172.17.0.2",
		"appsrv2.docker.\t5\tIN\tA\t172.17.0.3",
		"appsrv2.docker.\t5\tIN\tAAAA\tfd00::3",
		"outside.example.docker.\t5\tIN\tA\t10.1.2.3",
	}
	got := sortedRecords(axfr(t, l.addr, "docker."))
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("AXFR docker. lacks %q:\n%s", w, strings.Join(got, "\n"))
		}
	}
	ptrs := sortedRecords(axfr(t, l.addr, "17.172.in-addr.arpa."))
	for _, w := range []string{"2.0.17.172.in-addr.arpa.\t5\tIN\tPTR\tappsrv1.docker.", "3.0.17.172.in-addr.arpa.\t5\tIN\tPTR\tappsrv2.docker."} {
		if !slices.Contains(ptrs, w) {
			t.Errorf("AXFR of the reverse zone lacks %q:\n%s", w, strings.Join(ptrs, "\n"))
		}
	}
	if slices.ContainsFunc(ptrs, func(s string) bool { return strings.Contains(s, "10.1.2.3") || strings.Contains(s, "fd00") }) {
		t.Errorf("the reverse zone holds addresses outside it:\n%s", strings.Join(ptrs, "\n"))
	}
}

func TestSecondaryFollowsChangesByNOTIFY(t *testing.T) {
	l := newXferLab(t, "172.17.0.2 appsrv1\n")
	// Knot's refresh timer is the SOA's 2 hours: only a NOTIFY brings it.
	writeFile(t, l.hosts, "172.17.0.9 appsrv1\n")
	l.awaitSecondary("appsrv1 moves to 172.17.0.9", func() bool {
		return slices.Equal(l.knotA("appsrv1.docker."), []string{"172.17.0.9"})
	})
	if l.notified("docker.") < 2 {
		t.Errorf("Knot got no NOTIFY for the change:\n%s", l.knot.Log())
	}

	// A burst settles on its last change.
	for i := 10; i < 30; i++ {
		writeFile(t, l.hosts, fmt.Sprintf("172.17.0.%d appsrv1\n172.17.1.%d burst%d\n", i, i, i))
		time.Sleep(5 * time.Millisecond)
	}
	l.awaitSecondary("appsrv1 settles on 172.17.0.29", func() bool {
		return slices.Equal(l.knotA("appsrv1.docker."), []string{"172.17.0.29"}) &&
			slices.Equal(l.knotA("burst29.docker."), []string{"172.17.1.29"})
	})
	ours, theirs := axfr(t, l.addr, "docker."), axfr(t, l.knot.Addr, "docker.")
	if !slices.Equal(sortedRecords(ours), sortedRecords(theirs)) {
		t.Errorf("after the burst, ours:\n%s\nKnot's:\n%s", strings.Join(sortedRecords(ours), "\n"), strings.Join(sortedRecords(theirs), "\n"))
	}
	if strings.Contains(l.knot.Log(), "remote is outdated") {
		t.Errorf("Knot saw a serial go back:\n%s", l.knot.Log())
	}
}

// A Corefile reload starts a new instance beside the old one: Knot must see
// its serial go up, never back, and take the new data.
func TestSecondaryFollowsAReload(t *testing.T) {
	l := newXferLab(t, "172.17.0.2 appsrv1\n")
	before, _ := l.knot.Serial("docker.")
	goroutines := runtime.NumGoroutine()
	for i, ttl := range []int{7, 8} {
		inst, err := l.primary.inst.Restart(caddy.CaddyfileInput{Contents: []byte(l.corefile(ttl)), ServerTypeName: "dns"})
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		l.primary.inst = inst
		l.awaitSecondary(fmt.Sprintf("TTL %d after reload %d", ttl, i), func() bool {
			r, err := l.knot.Query("appsrv1.docker.", dns.TypeA)
			return err == nil && len(r.Answer) == 1 && r.Answer[0].Header().Ttl == uint32(ttl)
		})
		after, _ := l.knot.Serial("docker.")
		if !serial.Less(before, after) {
			t.Fatalf("reload %d: Knot's serial went from %d to %d", i, before, after)
		}
		before = after
	}
	if strings.Contains(l.knot.Log(), "remote is outdated") {
		t.Errorf("Knot saw a serial go back:\n%s", l.knot.Log())
	}
	// More reloads, and the old instances' notifiers stopped with them.
	for ttl := 9; ttl < 15; ttl++ {
		inst, err := l.primary.inst.Restart(caddy.CaddyfileInput{Contents: []byte(l.corefile(ttl)), ServerTypeName: "dns"})
		if err != nil {
			t.Fatalf("reload with TTL %d: %v", ttl, err)
		}
		l.primary.inst = inst
	}
	await.True(t, 10*time.Second, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= goroutines+2 })
}

func TestTransferRefusedOutsideToAndOverUDP(t *testing.T) {
	l := newXferLab(t, "172.17.0.2 appsrv1\n")
	m := new(dns.Msg)
	m.SetAxfr("docker.")
	// 127.0.0.2 is a loopback address, but not the `to` address.
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}}
	r, _, err := c.Exchange(m, l.addr)
	if err != nil || r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
		t.Errorf("AXFR from 127.0.0.2: want REFUSED, got %v, %v", r, err)
	}
	r, _, err = (&dns.Client{Net: "udp", Timeout: 2 * time.Second}).Exchange(m, l.addr)
	if err != nil || r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
		t.Errorf("AXFR over UDP: want REFUSED, got %v, %v", r, err)
	}
}

func TestIXFRFromOurSerialIsTheSOAFromAnOlderOneTheZone(t *testing.T) {
	l := newXferLab(t, "172.17.0.2 appsrv1\n")
	zone := axfr(t, l.addr, "docker.")
	soa := zone[0].(*dns.SOA)
	ixfr := func(serial uint32) []dns.RR {
		m := new(dns.Msg)
		m.SetIxfr("docker.", serial, soa.Ns, soa.Mbox)
		rrs, err := (&dns.Transfer{DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second}).In(m, l.addr)
		if err != nil {
			t.Fatalf("IXFR from %d: %v", serial, err)
		}
		var out []dns.RR
		for e := range rrs {
			if e.Error != nil {
				t.Fatalf("IXFR from %d: %v", serial, e.Error)
			}
			out = append(out, e.RR...)
		}
		return out
	}
	if got := ixfr(soa.Serial); len(got) != 1 || got[0].String() != soa.String() {
		t.Errorf("IXFR from the current serial: want the SOA alone, got %v", got)
	}
	if got := ixfr(soa.Serial - 1); !slices.Equal(sortedRecords(got), sortedRecords(zone)) {
		t.Errorf("IXFR from an older serial: want the whole zone %v, got %v", zone, got)
	}
}

// TestTransferWithTSIG: with the tsig plugin requiring a key for transfers,
// a signed AXFR gets the zone and an unsigned one is refused, as for any
// CoreDNS zone.
func TestTransferWithTSIG(t *testing.T) {
	const key, secret = "xfr.key.", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "172.17.0.2 appsrv1\n")
	s := startCoreDNS(t, fmt.Sprintf(`docker.:0 {
		bind 127.0.0.1
		tsig {
			secret %s %s
			require AXFR IXFR
		}
		transfer {
			to *
		}
		dockerhosts {
			hostsfile %s
		}
	}`, key, secret, hosts))
	m := new(dns.Msg)
	m.SetAxfr("docker.")
	tr := &dns.Transfer{DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second}
	unsigned, err := tr.In(m, s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	for e := range unsigned {
		if e.Error == nil && len(e.RR) > 0 {
			t.Errorf("an unsigned AXFR got records: %v", e.RR)
		}
	}

	m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
	tr = &dns.Transfer{DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, TsigSecret: map[string]string{key: secret}}
	signed, err := tr.In(m, s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	var got []dns.RR
	for e := range signed {
		if e.Error != nil {
			t.Fatalf("signed AXFR: %v", e.Error)
		}
		got = append(got, e.RR...)
	}
	names := map[string]bool{}
	for _, rr := range got {
		names[rr.Header().Name] = true
	}
	if len(got) < 3 || got[0].Header().Rrtype != dns.TypeSOA || !names["appsrv1.docker."] {
		t.Errorf("signed AXFR: want SOA ... appsrv1 ... SOA, got %v", got)
	}
}

// A zone's transfer holds the names and PTR records inside it, whichever
// side of the reverse trees it lies on: a forward zone walks no addresses
// and a reverse zone no names, but a zone above in-addr.arpa. walks both.
func TestTransferHoldsWhatTheZoneHolds(t *testing.T) {
	for _, tc := range []struct {
		zones          []string
		zone           string
		wantA, wantPTR bool
	}{
		{zones: []string{"docker.", "10.in-addr.arpa."}, zone: "docker.", wantA: true},
		{zones: []string{"docker.", "10.in-addr.arpa."}, zone: "10.in-addr.arpa.", wantPTR: true},
		// Relative names are qualified in every zone: c00000.arpa. too.
		{zones: []string{"docker.", "arpa."}, zone: "arpa.", wantA: true, wantPTR: true},
		{zones: []string{"."}, zone: ".", wantA: true, wantPTR: true},
	} {
		t.Run(tc.zone, func(t *testing.T) {
			d := &DockerHosts{Zones: tc.zones, TTL: 5, index: index.New(tc.zones)}
			d.index.Replace(index.Source{Name: "docker:host"}, benchContainers(3))
			ch, err := d.Transfer(tc.zone, 0)
			if err != nil {
				t.Fatal(err)
			}
			var as, ptrs int
			for rrs := range ch {
				for _, rr := range rrs {
					if !dns.IsSubDomain(tc.zone, rr.Header().Name) {
						t.Errorf("%s in the transfer of %s", rr, tc.zone)
					}
					switch rr.(type) {
					case *dns.A:
						as++
					case *dns.PTR:
						ptrs++
					}
				}
			}
			if (as > 0) != tc.wantA || (ptrs > 0) != tc.wantPTR {
				t.Errorf("transfer of %s (zones %v): %d A, %d PTR; want A %v, PTR %v", tc.zone, tc.zones, as, ptrs, tc.wantA, tc.wantPTR)
			}
			if tc.wantPTR && ptrs != 3 {
				t.Errorf("transfer of %s: %d PTR records, want 3 (one a container)", tc.zone, ptrs)
			}
		})
	}
}
