package index

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

var (
	files  = Source{Name: "hostsfile:/etc/hosts", Priority: 10}
	docker = Source{Name: "docker", Priority: 0}
)

func host(id string, names []string, ips ...string) Host {
	h := Host{ID: id, Names: names, ReverseNames: names[:1]}
	for _, ip := range ips {
		h.Addrs = append(h.Addrs, Addr{IP: netip.MustParseAddr(ip)})
	}
	return h
}

func ips(ts []Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.IP.String())
	}
	return out
}

func TestQualifyRelativeNamesIntoEveryZone(t *testing.T) {
	x := New([]string{"docker.", "lab.", "10.in-addr.arpa."})
	x.Upsert(docker, host("c1", []string{"appsrv1", "web.lab"}, "10.0.0.1"))
	s := x.Load()
	for _, n := range []string{"appsrv1.docker.", "appsrv1.lab.", "web.lab."} {
		if e := s.Lookup(n); e == nil || !slices.Equal(ips(e.A), []string{"10.0.0.1"}) {
			t.Errorf("%s: got %+v", n, e)
		}
	}
	if e := s.Lookup("web.lab.docker."); e != nil {
		t.Errorf("a name inside a zone must answer only as written, got web.lab.docker.")
	}
	if e := s.Lookup("appsrv1.10.in-addr.arpa."); e != nil {
		t.Errorf("reverse zones must create no forward names")
	}
	if r := s.Reverse(netip.MustParseAddr("10.0.0.1")); !slices.Equal(r, []string{"appsrv1.docker."}) {
		t.Errorf("PTR targets: %v", r)
	}
}

func TestRootZoneAddsOnlyADot(t *testing.T) {
	x := New([]string{"."})
	x.Upsert(docker, host("c1", []string{"appsrv1"}, "10.0.0.1"))
	if x.Load().Lookup("appsrv1.") == nil {
		t.Fatal("appsrv1. missing")
	}
}

func TestHostsFileWinsOverDocker(t *testing.T) {
	x := New([]string{"docker."})
	x.Upsert(docker, host("c1", []string{"db"}, "172.18.0.2"))
	x.Upsert(files, host("f:1", []string{"db"}, "192.0.2.9"))
	if got := ips(x.Load().Lookup("db.docker.").A); !slices.Equal(got, []string{"192.0.2.9"}) {
		t.Fatalf("override: got %v", got)
	}
	x.Delete(files, "f:1")
	if got := ips(x.Load().Lookup("db.docker.").A); !slices.Equal(got, []string{"172.18.0.2"}) {
		t.Fatalf("after override removed: got %v", got)
	}
}

func TestSameSourceMergesAddresses(t *testing.T) {
	x := New([]string{"docker."})
	x.Replace(files, []Host{
		host("f:1", []string{"web"}, "10.0.0.1"),
		host("f:2", []string{"web"}, "10.0.0.2", "fd00::2"),
		host("f:3", []string{"web"}, "10.0.0.1"),
	})
	e := x.Load().Lookup("web.docker.")
	if !slices.Equal(ips(e.A), []string{"10.0.0.1", "10.0.0.2"}) || !slices.Equal(ips(e.AAAA), []string{"fd00::2"}) {
		t.Fatalf("merge: A %v AAAA %v", ips(e.A), ips(e.AAAA))
	}
}

func TestEmptyNonTerminalsExistUntilTheirChildrenGo(t *testing.T) {
	x := New([]string{"docker."})
	x.Upsert(docker, host("c1", []string{"web.lab"}, "10.0.0.1"))
	if e := x.Load().Lookup("lab.docker."); e == nil || len(e.A) != 0 {
		t.Fatalf("lab.docker. should be an empty non-terminal, got %+v", e)
	}
	x.Delete(docker, "c1")
	s := x.Load()
	if s.Lookup("lab.docker.") != nil || s.Lookup("web.lab.docker.") != nil {
		t.Fatal("names must vanish with their host")
	}
	if x.Load().names.count() != 0 || x.Load().addrs.count() != 0 || len(x.hosts) != 0 {
		t.Fatalf("writer state leaked: %d names %d addrs %d hosts", x.Load().names.count(), x.Load().addrs.count(), len(x.hosts))
	}
}

func TestSRVTargetsEachReplica(t *testing.T) {
	x := New([]string{"docker."})
	for i := 1; i <= 3; i++ {
		h := host(fmt.Sprint("c", i), []string{fmt.Sprintf("lab-web-%d", i), "web.lab"}, fmt.Sprintf("10.0.0.%d", i))
		h.Services = []Service{{Name: "http", Proto: "tcp", Port: 8080}}
		x.Upsert(docker, h)
	}
	e := x.Load().Lookup("_http._tcp.web.lab.docker.")
	if e == nil || len(e.SRV) != 3 || e.SRV[0].Target != "lab-web-1.docker." || e.SRV[0].Port != 8080 {
		t.Fatalf("SRV: %+v", e)
	}
	if x.Load().Lookup("_tcp.web.lab.docker.") == nil {
		t.Fatal("_tcp.web.lab.docker. should exist as an empty non-terminal")
	}
}

func TestSRVTargetNamedByTheService(t *testing.T) {
	x := New([]string{"docker.", "lab."})
	engine := host("engine", []string{"host1"}, "127.0.0.2")
	web := host("web1", []string{"web"}, "172.17.0.2")
	// A published port: reached on the engine host, one record per binding.
	web.Services = []Service{
		{Name: "8080", Proto: "tcp", Port: 32768, Target: "host1"},
		{Name: "8080", Proto: "tcp", Port: 32769, Target: "host1"},
	}
	x.Upsert(docker, engine)
	x.Upsert(docker, web)
	for _, z := range []string{"docker.", "lab."} {
		e := x.Load().Lookup("_8080._tcp.web." + z)
		want := []SRV{{Target: "host1." + z, Port: 32768}, {Target: "host1." + z, Port: 32769}}
		if e == nil || !slices.Equal(e.SRV, want) {
			t.Errorf("zone %s: SRV %+v, want %+v", z, e, want)
		}
	}
}

func TestOldSnapshotIsUntouchedByLaterChanges(t *testing.T) {
	x := New([]string{"docker."})
	x.Upsert(docker, host("c1", []string{"a"}, "10.0.0.1"))
	before := x.Load()
	x.Upsert(docker, host("c1", []string{"a"}, "10.0.0.2"))
	x.Upsert(docker, host("c2", []string{"b"}, "10.0.0.3"))
	if got := ips(before.Lookup("a.docker.").A); !slices.Equal(got, []string{"10.0.0.1"}) || before.Lookup("b.docker.") != nil {
		t.Fatalf("old snapshot changed: %v", got)
	}
	if x.Load().Generation() <= before.Generation() {
		t.Fatal("generation must grow")
	}
}

func TestReplaceDropsWhatVanished(t *testing.T) {
	x := New([]string{"docker."})
	x.Replace(docker, []Host{host("c1", []string{"a"}, "10.0.0.1"), host("c2", []string{"b"}, "10.0.0.2")})
	x.Replace(docker, []Host{host("c2", []string{"b"}, "10.0.0.2"), host("c3", []string{"c"}, "10.0.0.3")})
	s := x.Load()
	if s.Lookup("a.docker.") != nil || s.Lookup("b.docker.") == nil || s.Lookup("c.docker.") == nil {
		t.Fatal("Replace must drop a and keep b, c")
	}
	if s.Reverse(netip.MustParseAddr("10.0.0.1")) != nil {
		t.Fatal("PTR of a vanished host must go")
	}
	if x.count(docker.ID()) != 2 {
		t.Fatalf("count %d", x.count(docker.ID()))
	}
}

// BenchmarkUpsertOneHost shows that one event costs the same however many
// hosts the index holds.
func BenchmarkUpsertOneHost(b *testing.B) {
	for _, n := range []int{100, 10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			x := New([]string{"docker."})
			hosts := make([]Host, n)
			for i := range hosts {
				hosts[i] = host(fmt.Sprint("c", i), []string{fmt.Sprint("app", i), fmt.Sprintf("svc%d.proj", i%50)},
					netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String())
			}
			x.Replace(docker, hosts)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				x.Upsert(docker, host("new", []string{"fresh", "fresh.proj"}, fmt.Sprintf("172.16.%d.%d", (i>>8)&0xff, i&0xff)))
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	x := New([]string{"docker."})
	var hosts []Host
	for i := 0; i < 1000; i++ {
		hosts = append(hosts, host(fmt.Sprint("f:", i), []string{fmt.Sprint("host", i)}, fmt.Sprintf("10.0.%d.%d", i/256, i%256)))
	}
	x.Replace(files, hosts)
	s := x.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Lookup("host500.docker.") == nil {
			b.Fatal("missing")
		}
	}
}

func TestReverseNamesAboveAnAddressExistInOurReverseZones(t *testing.T) {
	x := New([]string{"docker.", "17.172.in-addr.arpa."})
	x.Upsert(docker, host("c1", []string{"a"}, "172.17.5.2", "10.0.0.1"))
	s := x.Load()
	if s.Lookup("5.17.172.in-addr.arpa.") == nil {
		t.Fatal("5.17.172.in-addr.arpa. should exist above 172.17.5.2")
	}
	if s.Lookup("0.10.in-addr.arpa.") != nil {
		t.Fatal("no names outside the reverse zones we serve")
	}
	x.Delete(docker, "c1")
	if x.Load().Lookup("5.17.172.in-addr.arpa.") != nil || x.Load().names.count() != 0 {
		t.Fatal("reverse names must go with their address")
	}
}

func TestUnchangedHostPublishesNothing(t *testing.T) {
	x := New([]string{"docker."})
	h := host("c1", []string{"a"}, "10.0.0.1")
	if !x.Upsert(docker, h) {
		t.Fatal("a new host is a change")
	}
	before := x.Load()
	if x.Upsert(docker, host("c1", []string{"a"}, "10.0.0.1")) || x.Load() != before {
		t.Fatal("an identical host must not publish a new snapshot")
	}
	if !x.Delete(docker, "c1") || x.Delete(docker, "c1") {
		t.Fatal("Delete reports true once, then false")
	}
}

func TestScopesOfAnAddress(t *testing.T) {
	x := New([]string{"docker."})
	a := func(scope string) []Addr {
		return []Addr{{IP: netip.MustParseAddr("172.17.0.2"), Subnet: netip.MustParsePrefix("172.17.0.0/16"), Scope: scope}}
	}
	x.Upsert(Source{Name: "docker:a"}, Host{ID: "c1", Names: []string{"web"}, Addrs: a("a")})
	x.Upsert(Source{Name: "docker:b"}, Host{ID: "c1", Names: []string{"web"}, Addrs: a("b")})
	ip := netip.MustParseAddr("172.17.0.2")
	if got := x.Load().Scopes(ip); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("scopes %v, want [a b]", got)
	}
	x.Delete(Source{Name: "docker:a"}, "c1")
	if got := x.Load().Scopes(ip); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after delete: scopes %v, want [b]", got)
	}
	if e := x.Load().Lookup("web.docker."); e == nil || len(e.A) != 1 || e.A[0].Net.Scope != "b" {
		t.Fatalf("web: %+v", e)
	}
}

func TestOwnersAndWalks(t *testing.T) {
	x := New([]string{"docker.", "17.172.in-addr.arpa."})
	x.Upsert(docker, host("c1", []string{"web", "www"}, "172.17.0.2"))
	x.Upsert(files, host("l1", []string{"override"}, "172.17.0.2"))
	s := x.Load()
	want := []Owner{{Source: files.ID(), Name: "override"}, {Source: docker.ID(), Name: "web"}}
	if got := s.Owners(netip.MustParseAddr("172.17.0.2")); !slices.Equal(got, want) {
		t.Errorf("owners %v, want %v (the winner first)", got, want)
	}
	var names []string
	s.EachName(func(n string, _ *Entry) bool { names = append(names, n); return true })
	slices.Sort(names)
	// The reverse zone's names between the PTR and the apex exist too.
	wantNames := []string{"0.17.172.in-addr.arpa.", "override.docker.", "web.docker.", "www.docker."}
	if !slices.Equal(names, wantNames) {
		t.Errorf("names %v, want %v", names, wantNames)
	}
	n := 0
	s.EachAddr(func(a netip.Addr, ptr []string) bool {
		n++
		if a.String() != "172.17.0.2" || !slices.Equal(ptr, []string{"override.docker."}) {
			t.Errorf("addr %s -> %v", a, ptr)
		}
		return true
	})
	if n != 1 || s.Generation() != 2 {
		t.Errorf("%d addresses, generation %d; want 1 and 2", n, s.Generation())
	}
}

func TestOneHostWithBothFamilies(t *testing.T) {
	x := New([]string{"docker."})
	x.Upsert(docker, host("c1", []string{"a", "b"}, "10.0.0.1", "fd00::1", "10.0.0.2", "10.0.0.1"))
	for _, n := range []string{"a.docker.", "b.docker."} {
		e := x.Load().Lookup(n)
		if e == nil || !slices.Equal(ips(e.A), []string{"10.0.0.1", "10.0.0.2"}) || !slices.Equal(ips(e.AAAA), []string{"fd00::1"}) {
			t.Fatalf("%s: %+v", n, e)
		}
	}
	if r := x.Load().Reverse(netip.MustParseAddr("fd00::1")); !slices.Equal(r, []string{"a.docker."}) {
		t.Fatalf("PTR %v", r)
	}
}

// BenchmarkContainerEventAmongHostsFile is one container event (an upsert
// of a container at a new address) with 10,000 containers and a
// 100,000-name hosts file in the index, against 100 containers alone. The
// container's names are its own: a name that N replicas share costs O(N) to
// recompute, whatever else the index holds.
func BenchmarkContainerEventAmongHostsFile(b *testing.B) {
	for _, tc := range []struct{ containers, fileLines int }{{100, 0}, {10_000, 50_000}} {
		b.Run(fmt.Sprintf("containers=%d/names=%d", tc.containers, tc.containers*2+tc.fileLines*2), func(b *testing.B) {
			x := New([]string{"docker."})
			tb := x.NewTableBuilder() // a hosts file, as served
			for i := range tc.fileLines {
				tb.Add(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
					[][]byte{fmt.Appendf(nil, "host%d", i), fmt.Appendf(nil, "alias%d.svc", i)})
			}
			x.SetTable(files, tb.Done())
			var ctrs []Host
			for i := range tc.containers {
				ctrs = append(ctrs, host(fmt.Sprint("c", i), []string{fmt.Sprint("app", i), fmt.Sprintf("svc%d.proj", i%50)},
					netip.AddrFrom4([4]byte{172, 16 + byte(i>>16), byte(i >> 8), byte(i)}).String()))
			}
			x.Replace(docker, ctrs)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				x.Upsert(docker, host("c7", []string{"app7", "app7.proj"}, fmt.Sprintf("172.31.%d.%d", (i>>8)&0xff, i&0xff)))
			}
		})
	}
}

func TestOwnerNamesAsTheSourceGaveThem(t *testing.T) {
	for _, tc := range []struct {
		zones []string
		name  string
	}{
		{[]string{"docker."}, "web"},
		{[]string{"docker."}, "web.docker"},
		{[]string{"lab.docker.", "docker."}, "web.lab"},
		{[]string{"."}, "web"},
		{nil, "web.example"},
	} {
		x := New(tc.zones)
		x.Upsert(docker, host("c1", []string{tc.name}, "10.0.0.1"))
		x.Upsert(files, host("f1", []string{tc.name}, "10.0.0.1"))
		want := []Owner{{Source: files.ID(), Name: tc.name}, {Source: docker.ID(), Name: tc.name}}
		if got := x.Load().Owners(netip.MustParseAddr("10.0.0.1")); !slices.Equal(got, want) {
			t.Errorf("zones %v, name %s: owners %v", tc.zones, tc.name, got)
		}
		x.Delete(files, "f1")
		if got := x.Load().Owners(netip.MustParseAddr("10.0.0.1")); !slices.Equal(got, want[1:]) {
			t.Errorf("zones %v, name %s: one owner %v", tc.zones, tc.name, got)
		}
	}
}
