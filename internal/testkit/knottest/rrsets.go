package knottest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// DirectDiffs compares every RRset of a zone transfer (the closing SOA
// left out) with what ask, a direct query, answers for its name and type.
// A server must not contradict itself: a secondary serves the transfer, a
// resolver the direct answer. It returns one line per RRset that differs.
func DirectDiffs(transfer []dns.RR, ask func(name string, qtype uint16) (*dns.Msg, error)) []string {
	type key struct {
		name  string
		qtype uint16
	}
	sets := map[key][]string{}
	var order []key
	for _, rr := range transfer[:max(len(transfer)-1, 0)] {
		k := key{dns.CanonicalName(rr.Header().Name), rr.Header().Rrtype}
		if _, ok := sets[k]; !ok {
			order = append(order, k)
		}
		sets[k] = append(sets[k], rr.String())
	}
	var diffs []string
	for _, k := range order {
		r, err := ask(k.name, k.qtype)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s %s: %v", k.name, dns.TypeToString[k.qtype], err))
			continue
		}
		var direct []string
		for _, rr := range r.Answer {
			if rr.Header().Rrtype == k.qtype && dns.CanonicalName(rr.Header().Name) == k.name {
				direct = append(direct, rr.String())
			}
		}
		want := sets[k]
		slices.Sort(want)
		slices.Sort(direct)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || !slices.Equal(want, direct) {
			diffs = append(diffs, fmt.Sprintf("%s %s: transfer has\n\t%s\nthe direct answer (%s, aa=%v) has\n\t%s",
				k.name, dns.TypeToString[k.qtype], strings.Join(want, "\n\t"),
				dns.RcodeToString[r.Rcode], r.Authoritative, strings.Join(direct, "\n\t")))
		}
	}
	return diffs
}
