package dockerhosts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// answerText is r's answer section as "TYPE data" lines, owners left out
// (they are the question's or the chain's), in order.
func answerText(r *dns.Msg) string {
	var out []string
	for _, rr := range r.Answer {
		out = append(out, dns.TypeToString[rr.Header().Rrtype]+" "+strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	return strings.Join(out, "; ")
}

// TestDockerCNAMELabel: an alias container answers a CNAME to its target,
// with the target's address when the target is ours, over UDP and TCP; a
// loop made of two aliases is never served.
func TestDockerCNAMELabel(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	web := l.Name("web")
	ip := l.ip(l.run("web"), l.net)
	www, ext := l.Name("www"), l.Name("ext")
	l.run("www", "--label", "dockerhosts.cname="+web)
	l.run("ext", "--label", "dockerhosts.cname=example.com.")

	want := fmt.Sprintf("CNAME %s; A %s", fqdn(web), ip)
	// Each container is followed on its own event: wait for the last one
	// too, not only the first.
	await.True(t, dockerWithin, fqdn(www)+" answers "+want, func() bool {
		return answerText(s.exchange(t, "udp", fqdn(www), dns.TypeA)) == want
	})
	await.True(t, dockerWithin, fqdn(ext)+" is served", func() bool {
		return answerText(s.exchange(t, "udp", fqdn(ext), dns.TypeA)) == "CNAME example.com."
	})
	for _, c := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{fqdn(www), dns.TypeA, want},
		{fqdn(www), dns.TypeCNAME, "CNAME " + fqdn(web)},
		{fqdn(www), dns.TypeAAAA, "CNAME " + fqdn(web)},
		{fqdn(ext), dns.TypeA, "CNAME example.com."},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			r := s.exchange(t, proto, c.name, c.qtype)
			if got := answerText(r); r.Rcode != dns.RcodeSuccess || !r.Authoritative || got != c.want {
				t.Errorf("%s %s %s: %s %q, want an authoritative NOERROR %q", proto, c.name, dns.TypeToString[c.qtype],
					dns.RcodeToString[r.Rcode], got, c.want)
			}
		}
	}

	// A loop: once both halves run, neither is served (NODATA).
	loop1, loop2 := l.Name("loop1"), l.Name("loop2")
	l.run("loop1", "--label", "dockerhosts.cname="+loop2)
	l.run("loop2", "--label", "dockerhosts.cname="+loop1)
	for _, name := range []string{fqdn(loop1), fqdn(loop2)} {
		await.True(t, dockerWithin, name+" is NODATA", func() bool {
			r := s.exchange(t, "tcp", name, dns.TypeA)
			return r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0 && len(r.Ns) == 1
		})
	}
}

// TestDockerTXTLabels: long, quoted and keyed TXT labels answer through real
// DNS over UDP and TCP, split into character-strings of at most 255 bytes.
func TestDockerTXTLabels(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	app := l.Name("app")
	long := strings.Repeat("0123456789", 30)
	l.run("app", "--label", "dockerhosts.txt="+long, "--label", `dockerhosts.txt.info="a b" "c\"d"`,
		"--label", "dockerhosts.txt.bad.key=x")

	txts := func(r *dns.Msg) [][]string {
		var out [][]string
		for _, rr := range r.Answer {
			if v, ok := rr.(*dns.TXT); ok {
				out = append(out, v.Txt)
			}
		}
		return out
	}
	await.True(t, dockerWithin, fqdn(app)+" has its TXT", func() bool {
		return len(txts(s.exchange(t, "udp", fqdn(app), dns.TypeTXT))) == 1
	})
	for _, proto := range []string{"udp", "tcp"} {
		if got := txts(s.exchange(t, proto, fqdn(app), dns.TypeTXT)); len(got) != 1 || len(got[0]) != 2 ||
			got[0][0] != long[:255] || got[0][1] != long[255:] {
			t.Errorf("%s TXT %s: %q, want the 300 bytes as 255 + 45", proto, fqdn(app), got)
		}
		info := "info." + fqdn(app)
		if got := txts(s.exchange(t, proto, info, dns.TypeTXT)); len(got) != 1 || strings.Join(got[0], "|") != `a b|c\"d` {
			t.Errorf("%s TXT %s: %q, want \"a b\" \"c\\\"d\"", proto, info, got)
		}
		if r := s.exchange(t, proto, info, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			t.Errorf("%s A %s: %s %v, want NODATA", proto, info, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
	if r := s.exchange(t, "udp", "bad.key."+fqdn(app), dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Errorf("the bad key made a name: %s", dns.RcodeToString[r.Rcode])
	}
}

// TestDockerWildcardLabel: *.<name> answers every tenant name below a
// container over UDP and TCP, with the question's name as owner, except
// where a name exists; other types are NODATA.
func TestDockerWildcardLabel(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	app := l.Name("app")
	ip := l.ip(l.run("app", "--label", "dockerhosts.wildcard=true"), l.net)
	otherIP := l.ip(l.run("other", "--label", "dockerhosts.name=shop."+app), l.net)

	tenant := "tenant1." + fqdn(app)
	s.waitA(t, tenant, ip)
	s.waitA(t, "shop."+fqdn(app), otherIP)
	for _, proto := range []string{"udp", "tcp"} {
		r := s.exchange(t, proto, "A.B."+strings.ToUpper(fqdn(app)), dns.TypeA)
		if len(r.Answer) != 1 || r.Answer[0].Header().Name != "A.B."+strings.ToUpper(fqdn(app)) || answerA(r)[0] != ip {
			t.Errorf("%s: a two-label tenant: %v, want %s owned by the question's name", proto, r.Answer, ip)
		}
		if !s.answersA(t, proto, "shop."+fqdn(app), otherIP) {
			t.Errorf("%s: the existing shop name must answer its own address", proto)
		}
		if r := s.exchange(t, proto, "x.shop."+fqdn(app), dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s: below an existing name the wildcard must not answer: %s %v", proto, dns.RcodeToString[r.Rcode], r.Answer)
		}
		if r := s.exchange(t, proto, tenant, dns.TypeTXT); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
			t.Errorf("%s: TXT at a tenant name: %s %v, want NODATA", proto, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
}
