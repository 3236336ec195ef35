package docker

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

func TestLabelPrefixIsConfigurable(t *testing.T) {
	c := ctr{id: "0123456789abcdef", name: "web", labels: map[string]string{
		"coredns.dockerdiscovery.name": "old", keyName: "ignored", "coredns.dockerdiscovery.enable": "true"}}
	r, ok := recordFor(c.build(), mapping{labelPrefix: "coredns.dockerdiscovery", noShortID: true, optIn: true})
	if !ok || !slices.Equal(r.host.Names, []string{"web", "old"}) {
		t.Fatalf("names %q (served %v), want web and old", r.host.Names, ok)
	}
}

func TestShortIDIsANameUnlessTurnedOff(t *testing.T) {
	c := ctr{id: "0123456789abcdef", name: "web"}
	if r, _ := recordFor(c.build(), mapping{}); !slices.Contains(r.host.Names, "0123456789ab") {
		t.Errorf("names %q lack the short ID", r.host.Names)
	}
	if r, _ := recordFor(c.build(), mapping{noShortID: true}); slices.Contains(r.host.Names, "0123456789ab") {
		t.Errorf("names %q hold the short ID with it turned off", r.host.Names)
	}
}

func TestNameTemplates(t *testing.T) {
	must := func(s string) *template.Template {
		tm, err := ParseTemplate(s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	m := mapping{noShortID: true, engine: "e", templates: []*template.Template{
		must(`{{.Label "com.dokku.app-name"}}.{{.Label "com.dokku.process-type"}}`),
		must(`{{.Service}}.{{.Project}}`),
	}}
	dokku := ctr{id: "0123456789abcdef", name: "shop.web.1", labels: map[string]string{
		"com.dokku.app-name": "Shop", "com.dokku.process-type": "web"}}
	r, _ := recordFor(dokku.build(), m)
	if !slices.Contains(r.host.Names, "shop.web") {
		t.Errorf("names %q lack the Dokku name shop.web", r.host.Names)
	}
	// The second template has no compose labels to work with: "." is no
	// DNS name, so it is skipped; the first fails on a missing label.
	plain := ctr{id: "0123456789abcdef", name: "plain"}
	r, _ = recordFor(plain.build(), m)
	if !slices.Equal(r.host.Names, []string{"plain", "plain.e"}) {
		t.Errorf("names %q, want only plain and plain.e", r.host.Names)
	}
	if len(r.problems) != 1 || !strings.Contains(r.problems[0], "name template 1") {
		t.Errorf("problems %q, want one for template 1", r.problems)
	}
	if !slices.Equal(r.skipped, []string{"."}) {
		t.Errorf("skipped %q, want .", r.skipped)
	}
}

func TestHostModeAnswersPublishedAddresses(t *testing.T) {
	host := []netip.Addr{netip.MustParseAddr("192.0.2.7")}
	m := mapping{engine: "e", hostMode: true, hostAddrs: host, noShortID: true}
	c := ctr{id: "0123456789abcdef", name: "web", nets: map[string]ep{"bridge": {ip: "172.17.0.2"}},
		labels: map[string]string{keySRV: "http:80/tcp"},
		ports:  map[string][]string{"80/tcp": {"0.0.0.0:8080", "[::]:8080"}, "443/tcp": {"127.0.0.1:8443"}}}
	r, _ := recordFor(c.build(), m)
	var got []string
	for _, a := range r.host.Addrs {
		got = append(got, a.IP.String())
	}
	if !slices.Equal(got, []string{"127.0.0.1", "192.0.2.7"}) {
		t.Errorf("host mode addresses %v, want the bound address and the engine host's", got)
	}
	if len(r.host.ReverseNames) != 0 {
		t.Errorf("host mode gives PTR names %q for the host's addresses", r.host.ReverseNames)
	}
	for _, s := range r.host.Services {
		if s.Target == "" {
			t.Errorf("label SRV %+v in host mode: its port is the container's", s)
		}
	}
	// No published port: the name exists without addresses (NODATA).
	c.ports = nil
	if r, ok := recordFor(c.build(), m); !ok || len(r.host.Addrs) != 0 || !slices.Contains(r.host.Names, "web") {
		t.Errorf("unpublished container in host mode: %+v, %v", r.host, ok)
	}
}

// FuzzParseLabels: any label values, under any prefix, give no panic and
// nothing that could become a malformed record.
func FuzzParseLabels(f *testing.F) {
	f.Add("dockerhosts", "true", "a,b", "http:80/tcp", "web", "v=1", "_acme", "true", "60", "10", "0")
	f.Add("x", "maybe", ",,", ":0/", "Example.COM.", `"a b" "c\"d\065"`, "Bad Key", "yes", "86401", "-1", "65536")
	f.Add("", "", "\x00", "_a:65535/_UDP,b:1/sctp", "a..", `"open`, "", "", " 0 ", "0x10", "1e3")
	f.Fuzz(func(t *testing.T, prefix, enable, names, srv, cname, txt, txtKey, wildcard, ttl, priority, weight string) {
		cl := parseLabels(map[string]string{prefix + ".enable": enable, prefix + ".name": names, prefix + ".srv": srv,
			prefix + ".cname": cname, prefix + ".txt": txt, prefix + ".txt." + txtKey: txt, prefix + ".wildcard": wildcard,
			prefix + ".ttl": ttl, prefix + ".srv.priority": priority, prefix + ".srv.weight": weight}, prefix)
		if n, err := strconv.ParseUint(strings.TrimSpace(ttl), 10, 32); cl.hasTTL != (err == nil && n <= MaxTTL) || cl.hasTTL && uint64(cl.ttl) != n {
			t.Fatalf("ttl=%q gave %d (%v)", ttl, cl.ttl, cl.hasTTL)
		}
		for _, c := range []struct {
			value string
			got   uint16
		}{{priority, cl.rank.Priority}, {weight, cl.rank.Weight}} {
			n, err := strconv.ParseUint(strings.TrimSpace(c.value), 10, 16)
			if err == nil && uint64(c.got) != n || !cl.rank.Set && err == nil {
				t.Fatalf("srv.priority=%q srv.weight=%q gave %+v", priority, weight, cl.rank)
			}
		}
		for _, s := range cl.services {
			if s.Rank != cl.rank {
				t.Fatalf("service %+v without the container's rank %+v", s, cl.rank)
			}
		}
		if b, err := strconv.ParseBool(strings.TrimSpace(wildcard)); cl.wildcard != (err == nil && b) {
			t.Fatalf("wildcard=%q gave %v", wildcard, cl.wildcard)
		}
		for _, r := range cl.txt {
			if r.Key != "" && !dnsname.ValidLabel(r.Key) {
				t.Fatalf("txt key %q from %q", r.Key, txtKey)
			}
			var whole strings.Builder
			for _, s := range r.Strings {
				if raw := unescapeTXT(s); len(raw) > 255 || escapeTXT(raw) != s {
					t.Fatalf("character-string %q (%d bytes) from %q", s, len(raw), txt)
				}
				whole.WriteString(unescapeTXT(s))
			}
			rr := &dns.TXT{Hdr: dns.RR_Header{Name: "a.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: r.Strings}
			if _, err := dns.PackRR(rr, make([]byte, dns.MaxMsgSize), 0, nil, false); err != nil {
				t.Fatalf("TXT %q from %q does not pack: %v", r.Strings, txt, err)
			}
			if !strings.HasPrefix(strings.TrimSpace(txt), `"`) && whole.String() != txt {
				t.Fatalf("unquoted %q came back as %q", txt, whole.String())
			}
		}
		if cl.cname != "" && !dnsname.Valid(strings.TrimSuffix(cl.cname, ".")) {
			t.Fatalf("cname %q from %q", cl.cname, cname)
		}
		if cl.cname == "" && strings.TrimSpace(cname) != "" && !slices.ContainsFunc(cl.problems, func(p string) bool { return strings.Contains(p, ".cname=") }) {
			t.Fatalf("cname=%q neither parsed nor reported", cname)
		}
		for _, s := range cl.services {
			if s.Port == 0 || (s.Proto != "tcp" && s.Proto != "udp") || !dnsname.ValidLabel(s.Name) || s.Target != "" {
				t.Fatalf("malformed service %+v from %q", s, srv)
			}
		}
		for _, n := range cl.names {
			if n == "" || n != strings.TrimSpace(n) {
				t.Fatalf("name %q from %q", n, names)
			}
		}
		if cl.enable == nil && enable != "" && len(cl.problems) == 0 {
			t.Fatalf("enable=%q neither parsed nor reported", enable)
		}
		_ = index.Host{Services: cl.services}
	})
}

func TestCNAMELabel(t *testing.T) {
	for _, c := range []struct {
		value, want string
		problem     bool
	}{
		{value: " Web ", want: "web"},
		{value: "www.Example.com.", want: "www.example.com."},
		{value: "a..b", problem: true},
		{value: "bad name", problem: true},
		{value: ".", problem: true},
	} {
		cl := parseLabels(map[string]string{"dockerhosts.cname": c.value}, DefaultLabelPrefix)
		if cl.cname != c.want || (len(cl.problems) > 0) != c.problem {
			t.Errorf("cname=%q: got %q, problems %q; want %q, a problem: %v", c.value, cl.cname, cl.problems, c.want, c.problem)
		}
	}
}

func TestAliasContainerHasNoPTROrLabelSRV(t *testing.T) {
	c := ctr{id: "0123456789abcdef", name: "www", labels: map[string]string{
		"dockerhosts.cname": "web", "dockerhosts.srv": "http:80/tcp"}, nets: map[string]ep{"front": {ip: "172.18.0.5"}}}
	r, ok := recordFor(c.build(), mapping{noShortID: true})
	if !ok || r.host.CNAME != "web" || !slices.Equal(r.host.Names, []string{"www"}) {
		t.Fatalf("got %+v (served %v), want www as an alias of web", r.host, ok)
	}
	if r.host.ReverseNames != nil || r.host.Services != nil || len(r.host.Addrs) != 1 {
		t.Fatalf("an alias keeps its address (to know it as a client) but no PTR name or label SRV: %+v", r.host)
	}
}

// unescapeTXT undoes escapeTXT: the bytes a TXT string holds on the wire.
func unescapeTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestTXTLabels(t *testing.T) {
	long := strings.Repeat("x", 300)
	cl := parseLabels(map[string]string{
		"dockerhosts.txt":          `"a b" "c\"d" "\065\\"`,
		"dockerhosts.txt._acme":    long,
		"dockerhosts.txt.Plain":    `v=spf1 -all`,
		"dockerhosts.txt.bad key":  "x",
		"dockerhosts.txt.unclosed": `"open`,
	}, DefaultLabelPrefix)
	want := []index.TXT{
		{Strings: []string{"a b", `c\"d`, `A\\`}},
		{Key: "plain", Strings: []string{"v=spf1 -all"}}, // labels in byte order: "Plain" < "_acme"
		{Key: "_acme", Strings: []string{long[:255], long[255:]}},
	}
	if !slices.EqualFunc(cl.txt, want, func(a, b index.TXT) bool { return a.Key == b.Key && slices.Equal(a.Strings, b.Strings) }) {
		t.Errorf("txt = %q\nwant %q", cl.txt, want)
	}
	if len(cl.problems) != 2 {
		t.Errorf("problems %q, want the bad key and the unbalanced quote", cl.problems)
	}
}

func TestBadLabelsCountedOncePerContainer(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "aaa", name: "web", labels: map[string]string{"dockerhosts.txt": `"open`, "dockerhosts.cname": "a b"}}.build())
	before := metricValue(t, skippedLabelsTotal.WithLabelValues(""))
	_, sink := running(t, Config{}, fe)
	fe.containerEvent(t, "start", "aaa")
	flush(t, fe, sink)
	if got := metricValue(t, skippedLabelsTotal.WithLabelValues("")) - before; got != 2 {
		t.Errorf("bad labels counted %v times, want 2 (each once)", got)
	}
}
