package dockerhosts

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/serial"
)

// DockerHosts answers for the names in its index, authoritatively within its
// zones, and hands everything else to the next plugin.
type DockerHosts struct {
	Next      plugin.Handler
	Zones     []string // lowercase FQDN, forward and reverse
	Fall      fall.F
	TTL       uint32
	NoReverse bool
	Networks  []string // preferred networks for containers on several
	// LocalScopes are the engines on this machine, whose networks a client
	// that is no known container may be on.
	LocalScopes []string
	// NSAddrs are the glue of the zones' name server in transfers.
	NSAddrs     []netip.Addr
	index       *index.Index
	sources     *sources
	counters    atomic.Pointer[queryCounters]
	serialsOnce sync.Once
	serialsOf   *serial.Tracker // via serials()
	notifier    *notifier       // when a transfer plugin is in the block
}

// ServeDNS implements plugin.Handler.
func (d *DockerHosts) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	qname := state.Name()
	zone := matchZone(d.Zones, qname)

	if zone == "" {
		// Like CoreDNS's hosts: PTR needs no reverse zone configured.
		if state.QType() != dns.TypePTR || state.QClass() != dns.ClassINET || d.NoReverse || dnsutil.IsReverse(qname) == 0 {
			return plugin.NextOrFailure(d.Name(), d.Next, ctx, w, r)
		}
		names := d.index.Load().Reverse(reverseAddr(qname))
		if len(names) == 0 {
			if d.Fall.Through(qname) {
				return d.next(ctx, w, r)
			}
			return d.reply(ctx, w, r, dns.RcodeNameError, nil, nil, nil, outcomeNXDOMAIN)
		}
		return d.reply(ctx, w, r, dns.RcodeSuccess, ptr(state.QName(), d.TTL, names), nil, nil, outcomeAnswer)
	}

	// Our data is class IN only; other classes get no IN data (RFC 6895).
	if state.QClass() != dns.ClassINET {
		return d.reply(ctx, w, r, dns.RcodeRefused, nil, nil, nil, outcomeRefused)
	}

	// A transfer the transfer plugin did not take: of a name that is no zone
	// apex it is not the authority (RFC 5936 2.2.1: NOTAUTH, as BIND and
	// Knot answer); of a zone, none is configured for this client.
	if qt := state.QType(); qt == dns.TypeAXFR || qt == dns.TypeIXFR {
		if qname != zone {
			return d.reply(ctx, w, r, dns.RcodeNotAuth, nil, nil, nil, outcomeRefused)
		}
		return d.reply(ctx, w, r, dns.RcodeRefused, nil, nil, nil, outcomeRefused)
	}
	// We are the zones' primary: a NOTIFY (RFC 1996) asks a secondary to
	// refresh from its primary, and we have none. REFUSED, as BIND answers,
	// tells the sender at once that nothing was taken (3.10).
	if r.Opcode == dns.OpcodeNotify {
		return d.reply(ctx, w, r, dns.RcodeRefused, nil, nil, nil, outcomeRefused)
	}

	snap := d.index.Load()
	owner := state.QName() // the question's own spelling
	soa := func() []dns.RR { return []dns.RR{d.soa(zoneSpelling(owner, zone), zone, d.serial(snap))} }

	var answer, extra []dns.RR
	exists, withheld := false, false
	if isSelfNS(qname, zone) && snap.Lookup(qname) == nil {
		// The zones' name server; before the reverse branch, as a reverse
		// zone has one too. A host of that name answers for itself.
		exists = true
		answer = d.selfAddress(w, owner, state.QType())
	} else if isSelfENT(qname, zone) && snap.Lookup(qname) == nil {
		exists = true // the empty non-terminal above it: NODATA (RFC 8020)
	} else if dnsutil.IsReverse(qname) > 0 {
		if !d.NoReverse {
			if names := snap.Reverse(reverseAddr(qname)); len(names) > 0 {
				exists = true
				if state.QType() == dns.TypePTR || state.QType() == dns.TypeANY {
					answer = ptr(owner, d.TTL, names)
				}
			} else if snap.Lookup(qname) != nil {
				exists = true // above known addresses: NODATA, not NXDOMAIN
			}
		}
	} else if e := snap.Lookup(qname); e != nil {
		exists = true
		withheld = e.Withheld && len(e.A) == 0 && len(e.AAAA) == 0
		answer, extra = d.records(owner, state.QType(), &client{w: w, snap: snap}, e, snap)
	} else if e := snap.Wildcard(qname, zone); e != nil {
		// Only a name that does not exist gets here: the plain path never
		// looks for a wildcard. The answer's owner is the question's name.
		exists = true
		answer, extra = d.records(owner, state.QType(), &client{w: w, snap: snap}, e, snap)
	}

	if qname == zone {
		exists = true
		switch state.QType() {
		case dns.TypeSOA, dns.TypeANY:
			answer = soa()
		case dns.TypeNS:
			// RDATA in the zone's own spelling: one RRset, one set of bytes.
			ns := nsName(zone)
			answer = []dns.RR{&dns.NS{Hdr: hdr(owner, dns.TypeNS, d.TTL), Ns: ns}}
			extra = d.selfAddress(w, ns, dns.TypeNS)
		}
	}

	switch {
	case !exists && d.Fall.Through(qname):
		return d.next(ctx, w, r)
	case !exists:
		return d.reply(ctx, w, r, dns.RcodeNameError, nil, soa(), nil, outcomeNXDOMAIN)
	case len(answer) == 0:
		if withheld {
			d.countWithheld(ctx) // a service name whose containers are none ready
		}
		return d.reply(ctx, w, r, dns.RcodeSuccess, nil, soa(), nil, outcomeNODATA)
	}
	return d.reply(ctx, w, r, dns.RcodeSuccess, answer, nil, extra, outcomeAnswer)
}

// records answers the question from an entry that exists, at the TTL its
// hosts ask (a container's dockerhosts.ttl label; the block's by default):
// the answer e's, each additional record its own name's.
func (d *DockerHosts) records(owner string, qtype uint16, c *client, e *index.Entry, snap *index.Snapshot) (answer, extra []dns.RR) {
	if e.CNAME != "" {
		return d.alias(owner, qtype, c, e, snap)
	}
	ttl := e.TTL(d.TTL)
	switch qtype {
	case dns.TypeA:
		return a(owner, ttl, d.addrs(e, false, c)), nil
	case dns.TypeAAAA:
		return aaaa(owner, ttl, d.addrs(e, true, c)), nil
	case dns.TypeSRV:
		for _, s := range e.SRV {
			if !d.reaches(s, c, snap) {
				continue
			}
			answer = append(answer, srv(owner, ttl, s))
			// A target named by several records (a swarm node running two
			// tasks) gets its addresses once per record, duplicates that
			// RFC 2181 section 5 would suppress: HAProxy needs them (with
			// them once, TestSwarm's HAProxy did not reach every task).
			if t := snap.Lookup(s.Target); t != nil {
				extra = append(extra, a(s.Target, t.TTL(d.TTL), d.addrs(t, false, c))...)
				extra = append(extra, aaaa(s.Target, t.TTL(d.TTL), d.addrs(t, true, c))...)
			}
		}
		return answer, extra
	case dns.TypeTXT:
		return txt(owner, ttl, e.TXT), nil
	case dns.TypeANY:
		// RFC 8482: one RRset rather than everything.
		switch {
		case len(e.A) > 0:
			return a(owner, ttl, d.addrs(e, false, c)), nil
		case len(e.AAAA) > 0:
			return aaaa(owner, ttl, d.addrs(e, true, c)), nil
		case len(e.TXT) > 0:
			return txt(owner, ttl, e.TXT), nil
		}
		return []dns.RR{&dns.HINFO{Hdr: hdr(owner, dns.TypeHINFO, ttl), Cpu: "RFC8482"}}, nil
	}
	return nil, nil
}

// alias answers at a CNAME: the chain, followed through our own names
// (RFC 1034 4.3.2) and ended at the first name outside them, then what the
// question asks of the last name. A chain that loops or is longer than
// index.MaxChain is not served: the name answers as if it had no CNAME data,
// that is NODATA (the index logged it when it was made).
func (d *DockerHosts) alias(owner string, qtype uint16, c *client, e *index.Entry, snap *index.Snapshot) (answer, extra []dns.RR) {
	var chain []dns.RR
	for e != nil && e.CNAME != "" {
		if len(chain) == index.MaxChain {
			return nil, nil
		}
		chain = append(chain, cname(owner, e.TTL(d.TTL), e.CNAME))
		owner = e.CNAME
		e = nil
		if zone := matchZone(d.Zones, owner); zone != "" {
			if e = snap.Lookup(owner); e == nil {
				e = snap.Wildcard(owner, zone)
			}
		}
	}
	switch {
	case qtype == dns.TypeCNAME:
		return chain[:1], nil // the one record at the name asked
	case e == nil:
		return chain, nil
	}
	answer, extra = d.records(owner, qtype, c, e, snap)
	return append(chain, answer...), extra
}

// selfAddress answers name, the synthesized name server, with the address
// the query arrived on, as CoreDNS's kubernetes plugin does; for NS (the
// glue) it gives whichever family that address is.
func (d *DockerHosts) selfAddress(w dns.ResponseWriter, name string, qtype uint16) []dns.RR {
	state := request.Request{W: w}
	local, err := netip.ParseAddr(state.LocalIP())
	if err != nil {
		return nil
	}
	local = local.Unmap()
	t := []index.Target{{IP: local, Raw: local.AsSlice()}}
	switch {
	case local.Is4() && (qtype == dns.TypeA || qtype == dns.TypeNS):
		return a(name, d.TTL, t)
	case local.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeNS):
		return aaaa(name, d.TTL, t)
	}
	return nil
}

func (d *DockerHosts) next(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	d.count(ctx, outcomeFallthrough)
	return plugin.NextOrFailure(d.Name(), d.Next, ctx, w, r)
}

func (d *DockerHosts) reply(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, rcode int, answer, ns, extra []dns.RR, o outcome) (int, error) {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	// An NXDOMAIN without SOA is for a reverse name outside our zones: we
	// know the address is not ours, but we are not that zone's authority.
	m.Authoritative = rcode == dns.RcodeSuccess || rcode == dns.RcodeNameError && len(ns) > 0
	m.Answer, m.Ns, m.Extra = answer, ns, extra
	d.count(ctx, o)
	if err := w.WriteMsg(m); err != nil {
		return dns.RcodeServerFailure, plugin.Error(d.Name(), err)
	}
	return dns.RcodeSuccess, nil
}

// Name implements plugin.Handler.
func (d *DockerHosts) Name() string { return pluginName }

func reverseAddr(qname string) netip.Addr {
	a, _ := netip.ParseAddr(dnsutil.ExtractAddressFromReverse(qname))
	return a.Unmap()
}

// clientAddr is the address the query came from.
func clientAddr(w dns.ResponseWriter) netip.Addr { return addrOf(w.RemoteAddr()) }

// addrOf is the IP address of a socket address, read without formatting
// it for the servers' own types.
func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr().Unmap()
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

// matchZone returns the longest of zones that qname lies in, or "". Zones and
// qname are lowercase FQDNs; unlike plugin.Zones.Matches it does not allocate.
func matchZone(zones []string, qname string) string {
	best := ""
	for _, z := range zones {
		if len(z) <= len(best) {
			continue
		}
		if z == "." || qname == z || (strings.HasSuffix(qname, z) && qname[len(qname)-len(z)-1] == '.') {
			best = z
		}
	}
	return best
}

// zoneSpelling returns zone as the question spelled it, so that the SOA owner
// keeps the client's case like the rest of the answer.
func zoneSpelling(owner, zone string) string {
	if len(owner) >= len(zone) {
		return owner[len(owner)-len(zone):]
	}
	return zone
}

func nsName(zone string) string { return "ns.dns." + zone }

// isSelfNS reports whether qname is nsName(zone), and isSelfENT whether it
// is "dns.<zone>", the empty non-terminal above it, without building either
// name: every query asks.
func isSelfNS(qname, zone string) bool {
	return len(qname) == len(zone)+7 && strings.HasPrefix(qname, "ns.dns.") && strings.HasSuffix(qname, zone)
}

func isSelfENT(qname, zone string) bool {
	return len(qname) == len(zone)+4 && strings.HasPrefix(qname, "dns.") && strings.HasSuffix(qname, zone)
}

// CacheBypassZones implements the cache plugin's ZoneBypasser: a cache in
// the server block passes questions for our forward zones straight through.
// Its key is the question alone, and our answers depend on who asks (see
// reach.go): cached, one client's answer would go to the next. Answers come
// from a snapshot in memory, so a cache would save nothing either. PTR
// answers are everyone's: reverse zones stay cacheable.
func (d *DockerHosts) CacheBypassZones() []string {
	var zones []string
	for _, z := range d.Zones {
		if dnsutil.IsReverse(z) == 0 {
			zones = append(zones, z)
		}
	}
	return zones
}
