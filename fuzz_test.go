package dockerhosts

import (
	"context"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// FuzzServeDNS feeds arbitrary queries, as they come off the wire, to the
// handler: it must not panic, and whatever it writes must be a valid reply
// to that query.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"appsrv1.docker.", dns.TypeA}, {"AppSrv1.Docker.", dns.TypeAAAA}, {"docker.", dns.TypeNS},
		{"_http._tcp.api.lab.docker.", dns.TypeSRV}, {"2.0.17.172.in-addr.arpa.", dns.TypePTR},
		{"nope.docker.", dns.TypeANY}, {".", dns.TypeA}, {"x.ip6.arpa.", dns.TypePTR},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(1232, true)
		wire, _ := m.Pack()
		f.Add(wire)
	}
	d := testHandler()
	f.Fuzz(func(t *testing.T, wire []byte) {
		m := new(dns.Msg)
		if m.Unpack(wire) != nil || len(m.Question) != 1 {
			return // the server drops these before any plugin sees them
		}
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := d.ServeDNS(context.Background(), rec, m); err != nil {
			t.Fatal(err)
		}
		if rec.Msg == nil {
			return // went to the next plugin
		}
		if rec.Msg.Id != m.Id || !rec.Msg.Response {
			t.Fatalf("reply does not answer the query: %v", rec.Msg)
		}
		if _, err := rec.Msg.Pack(); err != nil {
			t.Fatalf("reply does not pack: %v\n%v", err, rec.Msg)
		}
	})
}

// FuzzSetup feeds arbitrary Corefile text to the parser: errors are fine,
// panics are not.
func FuzzSetup(f *testing.F) {
	for _, s := range []string{
		"dockerhosts",
		"dockerhosts docker. {\n hostsfile /etc/hosts\n ttl 5\n reload 2s\n no_reverse\n fallthrough\n}",
		"dockerhosts docker 10.in-addr.arpa {\n docker unix:///var/run/docker.sock\n tls a b c\n resync 5m\n opt_in\n networks a b\n}",
		"dockerhosts {\n ttl 99999999999999999999\n}",
		"dockerhosts {\n}\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, corefile string) {
		_, _ = parse(caddy.NewTestController("dns", corefile))
	})
}
