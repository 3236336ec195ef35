package dockerhosts

import (
	"net/netip"

	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/serial"
)

var _ transfer.Transferer = (*DockerHosts)(nil)

// transferBatch is how many records go to the transfer plugin at a time: it
// packs them into messages itself, this only saves channel operations.
const transferBatch = 256

// Transfer implements transfer.Transferer for each of the plugin's zones,
// forward and reverse. A transfer walks one snapshot, so it never holds
// records from both sides of a change, with that snapshot's serial.
//
// A transfer is not client-aware: a secondary gets every address of every
// name, whatever network its own clients are on. The name server's glue is
// the server block's `bind` addresses; with no `bind` (a wildcard listener)
// the zone has no glue, as the address a query arrives on is unknown here.
func (d *DockerHosts) Transfer(zone string, ixfrSerial uint32) (<-chan []dns.RR, error) {
	zone = dns.CanonicalName(zone)
	if matchZone(d.Zones, zone) != zone {
		return nil, transfer.ErrNotAuthoritative
	}
	snap, s := d.consistentSnapshot()
	soa := []dns.RR{d.soa(zone, zone, s)}
	ch := make(chan []dns.RR, 1)
	go func() {
		defer close(ch)
		ch <- soa
		// IXFR from a serial as new as ours: the SOA alone says so.
		if ixfrSerial != 0 && !serial.Less(ixfrSerial, s) {
			return
		}
		d.zoneRecords(zone, snap, func(rrs []dns.RR) { ch <- rrs })
		ch <- soa
	}()
	return ch, nil
}

// consistentSnapshot returns the current snapshot and its serial. The serial
// tracker may already have given a newer snapshot its serial; a transfer
// then takes that one, so that a serial never labels older data.
func (d *DockerHosts) consistentSnapshot() (*index.Snapshot, uint32) {
	for {
		snap := d.index.Load()
		if s, _, stale := d.serials().Serial(snap.Generation()); !stale {
			return snap, s
		}
	}
}

// zoneRecords hands emit, in batches, every record of zone in snap but the
// SOA: NS and glue, CNAME, A, AAAA, SRV and TXT, and PTR. Owner names are canonical
// (lowercase).
func (d *DockerHosts) zoneRecords(zone string, snap *index.Snapshot, emit func([]dns.RR)) {
	ns := nsName(zone)
	batch := []dns.RR{&dns.NS{Hdr: hdr(zone, dns.TypeNS, d.TTL), Ns: ns}}
	if snap.Lookup(ns) == nil { // a host of that name answers for itself
		batch = append(batch, d.glue(ns)...)
	}
	flush := func(force bool) {
		if len(batch) >= transferBatch || force && len(batch) > 0 {
			emit(batch)
			batch = nil
		}
	}
	// Hosts' names lie outside the reverse trees and PTR records inside
	// them: a zone walks only what it can hold (a forward zone's transfer
	// took twice its time walking the addresses).
	reverse := dnsutil.IsReverse(zone) > 0
	holdsPTR := reverse || dns.IsSubDomain(zone, "in-addr.arpa.") || dns.IsSubDomain(zone, "ip6.arpa.")
	snap.EachForwardName(func(name string, e *index.Entry) bool {
		if reverse {
			return false
		}
		if dnsutil.IsReverse(name) > 0 || matchZone(d.Zones, name) != zone {
			return true
		}
		ttl := e.TTL(d.TTL)
		if e.CNAME != "" && snap.Served(e) {
			batch = append(batch, cname(name, ttl, e.CNAME))
		}
		v4, v6 := e.A, e.AAAA
		if e.Reached { // hosts of several engines may share an address
			v4, v6 = uniqueAddrs(v4), uniqueAddrs(v6)
		}
		if e.Bound { // a secondary's clients are on none of the networks
			v4, v6 = unbound(v4), unbound(v6)
		}
		batch = append(batch, a(name, ttl, v4)...)
		batch = append(batch, aaaa(name, ttl, v6)...)
		for _, s := range e.SRV {
			if s.Reach != index.ReachNetworks { // a secondary's clients are elsewhere
				batch = append(batch, srv(name, ttl, s))
			}
		}
		batch = append(batch, txt(name, ttl, e.TXT)...)
		flush(false)
		return true
	})
	if !d.NoReverse && holdsPTR {
		snap.EachAddr(func(addr netip.Addr, names []string) bool {
			rev, err := dns.ReverseAddr(addr.String())
			if err == nil && matchZone(d.Zones, rev) == zone {
				batch = append(batch, ptr(rev, d.TTL, names)...)
				flush(false)
			}
			return true
		})
	}
	flush(true)
}

// glue is the address records of the name server name: the addresses the
// server block binds to.
func (d *DockerHosts) glue(name string) []dns.RR {
	var out []dns.RR
	for _, ip := range d.NSAddrs {
		t := []index.Target{{IP: ip, Raw: ip.AsSlice()}}
		if ip.Is4() {
			out = append(out, a(name, d.TTL, t)...)
		} else {
			out = append(out, aaaa(name, d.TTL, t)...)
		}
	}
	return out
}

// nsAddrs are the specific addresses among a server block's listen hosts
// (`bind`); a wildcard listener has none.
func nsAddrs(listenHosts []string) []netip.Addr {
	var out []netip.Addr
	for _, h := range listenHosts {
		if ip, err := netip.ParseAddr(h); err == nil && !ip.IsUnspecified() && ip.Zone() == "" {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// serials gives the index's snapshots their SOA serials (see
// internal/serial); made on first use, so every DockerHosts has one.
func (d *DockerHosts) serials() *serial.Tracker {
	d.serialsOnce.Do(func() { d.serialsOf = serial.NewTracker(serial.Default, d.Zones) })
	return d.serialsOf
}

// serial is the SOA serial of snap's zones.
func (d *DockerHosts) serial(snap *index.Snapshot) uint32 {
	s, _, _ := d.serials().Serial(snap.Generation())
	return s
}
