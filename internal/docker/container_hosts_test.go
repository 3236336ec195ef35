package docker

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

func TestRecordNames(t *testing.T) {
	const id = "0123456789abcdef0123"
	tests := []struct {
		name    string
		c       ctr
		want    []string
		skipped []string
	}{
		{"container name, lowercased", ctr{id: id, name: "Web"}, []string{"web"}, nil},
		{"default hostname is not a name", ctr{id: id, name: "web", hostname: "0123456789ab"}, []string{"web"}, nil},
		{"explicit hostname is", ctr{id: id, name: "web", hostname: "frontend"}, []string{"web", "frontend"}, nil},
		{"host network hostname is the host's", ctr{id: id, name: "web", hostname: "myhost", mode: "host"}, []string{"web"}, nil},
		{"container network hostname is the other's", ctr{id: id, name: "web", hostname: "x", mode: "container:abc"}, []string{"web"}, nil},
		{
			"aliases without the short ID",
			ctr{id: id, name: "web", nets: map[string]ep{"n": {ip: "10.0.0.2", aliases: []string{"web", "api", "0123456789ab"}}}},
			[]string{"web", "api"}, nil,
		},
		{
			"compose v2",
			composeCtr(id, "shop", "cart", "1", "10.0.0.2"),
			[]string{"shop-cart-1", "cart.shop", "cart"}, nil,
		},
		{
			"compose v1 underscores",
			ctr{id: id, name: "shop_cart_1", labels: map[string]string{labelComposeProject: "shop", labelComposeService: "cart"}},
			[]string{"shop_cart_1", "cart.shop"}, nil,
		},
		{
			"compose one-off has no service name",
			ctr{id: id, name: "shop-cart-run-1a2b", labels: map[string]string{labelComposeProject: "shop", labelComposeService: "cart", labelComposeOneoff: "True"}},
			[]string{"shop-cart-run-1a2b"}, nil,
		},
		{
			"extra names label",
			ctr{id: id, name: "web", labels: map[string]string{keyName: " www.example , Static,web"}},
			[]string{"web", "www.example", "static"}, nil,
		},
		{
			"invalid names skipped",
			ctr{id: id, name: "web", labels: map[string]string{keyName: "bad name,a..b,ok," + strings.Repeat("x", 64) + ",é"}},
			[]string{"web", "ok"}, []string{"bad name", "a..b", strings.Repeat("x", 64), "é"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := recordFor(tc.c.build(), mapping{noShortID: true})
			if !ok {
				t.Fatal("not served")
			}
			if !slices.Equal(r.host.Names, tc.want) {
				t.Errorf("Names = %q, want %q", r.host.Names, tc.want)
			}
			if !slices.Equal(r.skipped, tc.skipped) {
				t.Errorf("skipped = %q, want %q", r.skipped, tc.skipped)
			}
			if len(r.host.Names) > 0 && !slices.Equal(r.host.ReverseNames, r.host.Names[:1]) {
				t.Errorf("ReverseNames = %q", r.host.ReverseNames)
			}
		})
	}
}

func TestRecordExclusiveClaims(t *testing.T) {
	r, _ := recordFor(composeCtr("0123456789abcdef", "shop", "cart", "1", "10.0.0.2").build(), mapping{})
	// The short ID is an alias too, but the container's own name first;
	// the compose service and the alias are service names.
	want := []nameClaim{{"shop-cart-1", true, false}, {"cart.shop", false, true}, {"0123456789ab", true, false}, {"cart", false, true}}
	if !slices.Equal(r.claims, want) {
		t.Errorf("claims = %+v, want %+v", r.claims, want)
	}
}

func TestRecordAddresses(t *testing.T) {
	c := ctr{id: "abc", name: "web", nets: map[string]ep{
		"front": {ip: "172.18.0.5", ip6: "fd00::5"},
		"back":  {ip: "172.19.0.5"},
		"none":  {},
	}}
	r, _ := recordFor(c.build(), mapping{})
	want := []index.Addr{
		{IP: netip.MustParseAddr("172.19.0.5"), Network: "back", Subnet: netip.MustParsePrefix("172.19.0.0/16")},
		{IP: netip.MustParseAddr("172.18.0.5"), Network: "front", Subnet: netip.MustParsePrefix("172.18.0.0/16")},
		{IP: netip.MustParseAddr("fd00::5"), Network: "front", Subnet: netip.MustParsePrefix("fd00::/64")},
	}
	if !slices.Equal(r.host.Addrs, want) {
		t.Errorf("Addrs = %+v\nwant %+v", r.host.Addrs, want)
	}
}

func TestHostNetworkContainerHasNameWithoutAddress(t *testing.T) {
	r, ok := recordFor(ctr{id: "abc", name: "agent", mode: "host", nets: map[string]ep{"host": {}}}.build(), mapping{})
	if !ok || !slices.Equal(r.host.Names, []string{"agent"}) || len(r.host.Addrs) != 0 {
		t.Errorf("got %+v, %v; want the name with no address", r.host, ok)
	}
}

func TestWhichContainersAreServed(t *testing.T) {
	tests := []struct {
		name  string
		c     ctr
		optIn bool
		want  bool
	}{
		{"running", ctr{id: "a", name: "a"}, false, true},
		{"stopped", ctr{id: "a", name: "a", stopped: true}, false, false},
		{"paused keeps its address", ctr{id: "a", name: "a", paused: true}, false, true},
		{"opt-out", ctr{id: "a", name: "a", labels: map[string]string{keyEnable: "false"}}, false, false},
		{"opt-out label value is not a bool", ctr{id: "a", name: "a", labels: map[string]string{keyEnable: "maybe"}}, false, true},
		{"opt-in mode, unlabelled", ctr{id: "a", name: "a"}, true, false},
		{"opt-in mode, labelled", ctr{id: "a", name: "a", labels: map[string]string{keyEnable: "true"}}, true, true},
		{"opt-in mode, opted out", ctr{id: "a", name: "a", labels: map[string]string{keyEnable: "false"}}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, got := recordFor(tc.c.build(), mapping{optIn: tc.optIn}); got != tc.want {
				t.Errorf("served = %v, want %v", got, tc.want)
			}
		})
	}
	restarting := ctr{id: "a", name: "a"}.build()
	restarting.State.Restarting = true
	if _, ok := recordFor(restarting, mapping{}); ok {
		t.Error("restarting container served")
	}
}

func TestParseSRV(t *testing.T) {
	tests := []struct {
		label string
		want  []index.Service
		bad   int
	}{
		{"", nil, 0},
		{"http:80/tcp", []index.Service{{Name: "http", Proto: "tcp", Port: 80}}, 0},
		{"HTTP:80/TCP, dns:53/udp", []index.Service{{Name: "http", Proto: "tcp", Port: 80}, {Name: "dns", Proto: "udp", Port: 53}}, 0},
		{"_sip:5060/_udp", []index.Service{{Name: "sip", Proto: "udp", Port: 5060}}, 0},
		{"http:80/tcp,http:80/tcp", []index.Service{{Name: "http", Proto: "tcp", Port: 80}}, 0},
		{"http:80", nil, 1},
		{"http/tcp", nil, 1},
		{"http:0/tcp", nil, 1},
		{"http:65536/tcp", nil, 1},
		{"http:80/sctp", nil, 1},
		{"bad name:80/tcp", nil, 1},
		{"x:1/tcp,broken,y:2/udp", []index.Service{{Name: "x", Proto: "tcp", Port: 1}, {Name: "y", Proto: "udp", Port: 2}}, 1},
	}
	for _, tc := range tests {
		got, bad := parseSRV(tc.label)
		if !slices.Equal(got, tc.want) || len(bad) != tc.bad {
			t.Errorf("parseSRV(%q) = %+v, %q; want %+v and %d bad", tc.label, got, bad, tc.want, tc.bad)
		}
	}
}

func TestSkippedNamesCountedOncePerContainer(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "aaa", name: "web", labels: map[string]string{keyName: "bad name"}}.build())
	before := metricValue(t, skippedNamesTotal.WithLabelValues(""))
	_, sink := running(t, Config{}, fe)
	fe.containerEvent(t, "start", "aaa")
	flush(t, fe, sink)
	if got := metricValue(t, skippedNamesTotal.WithLabelValues("")) - before; got != 1 {
		t.Errorf("skipped names counted %v times, want 1", got)
	}
	if got := sink.owners("bad name"); len(got) != 0 {
		t.Errorf("invalid name served")
	}
}
