package dockerhosts

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

func txtHandler() *DockerHosts {
	d := testHandler()
	d.Fall = fallNone()
	// Of the hosts file's priority, to merge with its appsrv1.
	src := index.Source{Name: "txt", Priority: fileSource.Priority}
	d.index.Upsert(src, index.Host{ID: "t", Names: []string{"appsrv1", "mail"}, TXT: []index.TXT{
		{Strings: []string{"v=spf1 -all"}},
		{Strings: []string{"a b", `c\"d`}},
		{Key: "_acme", Strings: []string{"token"}},
	}})
	d.index.Upsert(src, index.Host{ID: "alias", Names: []string{"www"}, CNAME: "mail",
		TXT: []index.TXT{{Strings: []string{"never at an alias"}}}})
	return d
}

func TestTXT(t *testing.T) {
	for _, c := range []struct {
		name string
		tc   test.Case
	}{
		{"TXT on a name with addresses", test.Case{Qname: "appsrv1.docker.", Qtype: dns.TypeTXT, Answer: []dns.RR{
			test.TXT(`appsrv1.docker. 5 IN TXT "a b" "c\"d"`), test.TXT(`appsrv1.docker. 5 IN TXT "v=spf1 -all"`)}}},
		{"the A answer is unchanged", test.Case{Qname: "appsrv1.docker.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("appsrv1.docker. 5 IN A 172.17.0.2")}}},
		{"TXT at the keyed name", test.Case{Qname: "_acme.mail.docker.", Qtype: dns.TypeTXT, Answer: []dns.RR{
			test.TXT(`_acme.mail.docker. 5 IN TXT "token"`)}}},
		{"other types at the keyed name are NODATA", test.Case{Qname: "_acme.mail.docker.", Qtype: dns.TypeA, Ns: []dns.RR{soa("docker.")}}},
		{"ANY at a name with TXT only", test.Case{Qname: "_acme.mail.docker.", Qtype: dns.TypeANY, Answer: []dns.RR{
			test.TXT(`_acme.mail.docker. 5 IN TXT "token"`)}}},
		{"through an alias", test.Case{Qname: "www.docker.", Qtype: dns.TypeTXT, Answer: []dns.RR{
			test.CNAME("www.docker. 5 IN CNAME mail.docker."),
			test.TXT(`mail.docker. 5 IN TXT "a b" "c\"d"`), test.TXT(`mail.docker. 5 IN TXT "v=spf1 -all"`)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			if _, err := txtHandler().ServeDNS(context.Background(), rec, c.tc.Msg()); err != nil {
				t.Fatal(err)
			}
			if err := test.CNAMEOrder(rec.Msg); err != nil {
				t.Fatal(err)
			}
			sort.Sort(test.RRSet(c.tc.Answer)) // SortAndCheck sorts the answer; CNAMEOrder checked it as sent
			if err := test.SortAndCheck(rec.Msg, c.tc); err != nil {
				t.Fatal(err)
			}
			// Over the wire, as a client sees it.
			if _, err := rec.Msg.Pack(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTransferHasTXT(t *testing.T) {
	got := transferred(txtHandler(), dns.TypeTXT)
	want := []string{
		"_acme.appsrv1.docker.\t5\tIN\tTXT\t\"token\"",
		"_acme.mail.docker.\t5\tIN\tTXT\t\"token\"",
		"appsrv1.docker.\t5\tIN\tTXT\t\"a b\" \"c\\\"d\"",
		"appsrv1.docker.\t5\tIN\tTXT\t\"v=spf1 -all\"",
		"mail.docker.\t5\tIN\tTXT\t\"a b\" \"c\\\"d\"",
		"mail.docker.\t5\tIN\tTXT\t\"v=spf1 -all\"",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("TXT transferred:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
