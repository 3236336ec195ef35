package dockerhosts

import (
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

func hdr(name string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

func a(name string, ttl uint32, ts []index.Target) []dns.RR {
	out := make([]dns.RR, 0, len(ts))
	for _, t := range ts {
		out = append(out, &dns.A{Hdr: hdr(name, dns.TypeA, ttl), A: t.Raw})
	}
	return out
}

func aaaa(name string, ttl uint32, ts []index.Target) []dns.RR {
	out := make([]dns.RR, 0, len(ts))
	for _, t := range ts {
		out = append(out, &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA, ttl), AAAA: t.Raw})
	}
	return out
}

func ptr(name string, ttl uint32, targets []string) []dns.RR {
	out := make([]dns.RR, 0, len(targets))
	for _, t := range targets {
		out = append(out, &dns.PTR{Hdr: hdr(name, dns.TypePTR, ttl), Ptr: t})
	}
	return out
}

func cname(name string, ttl uint32, target string) dns.RR {
	return &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME, ttl), Target: target}
}

func txt(name string, ttl uint32, records [][]string) []dns.RR {
	out := make([]dns.RR, 0, len(records))
	for _, strs := range records {
		out = append(out, &dns.TXT{Hdr: hdr(name, dns.TypeTXT, ttl), Txt: strs})
	}
	return out
}

func srv(name string, ttl uint32, s index.SRV) dns.RR {
	return &dns.SRV{Hdr: hdr(name, dns.TypeSRV, ttl), Priority: s.Priority, Weight: s.Weight, Port: s.Port, Target: s.Target}
}

// soa is synthesized like CoreDNS's kubernetes plugin does; its minimum is
// the record TTL so negative answers are cached no longer than positive ones.
// Its owner is spelled as the question spelled the zone, its RDATA as the
// zone is: an RRset has the same bytes whoever asks.
func (d *DockerHosts) soa(owner, zone string, serial uint32) dns.RR {
	return &dns.SOA{
		Hdr:     hdr(owner, dns.TypeSOA, d.TTL),
		Ns:      nsName(zone),
		Mbox:    "hostmaster." + zone,
		Serial:  serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  d.TTL,
	}
}
