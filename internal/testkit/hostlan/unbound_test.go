//go:build linux

package hostlan

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// followWithin is how soon a caching resolver must show a change: the TTL,
// plus one second because unbound and nginx count TTLs in whole seconds,
// plus a margin for the file watch and this test's polling when CI runs
// other packages' tests at the same time (here, idle: 2.3 to 2.9 s in all).
const followWithin = ttl*time.Second + time.Second + time.Second

// bigAddrs is how many addresses big.docker has: too many for 1232 bytes of
// UDP, so unbound must retry over TCP to get them all.
const bigAddrs = 100

// TestUnboundServesTheZoneToTheLAN is another machine of the LAN asking the
// site's unbound, configured with the shipped stub-zone recipe: answers,
// negative answers with the SOA, a large answer, and changes within the TTL.
func TestUnboundServesTheZoneToTheLAN(t *testing.T) {
	RequirePrograms(t, "unbound", "unbound-checkconf")
	lan := NewLAN(t, lanBits)
	var hosts strings.Builder
	fmt.Fprintf(&hosts, "%s web\n", webAddr)
	for i := 1; i <= bigAddrs; i++ {
		fmt.Fprintf(&hosts, "172.17.1.%d big\n", i)
	}
	res := startResolver(t, lan.Machine("dns", resolverAddr), resolverAddr, hosts.String())
	site := lan.Machine("site", siteAddr)
	startUnbound(t, site, siteAddr, recipe(t, "unbound-stub-zone.conf", resolverAddr))
	client := lan.Machine("client", clientAddr)

	ask := func(proto, name string, qtype uint16) *dns.Msg {
		t.Helper()
		m, err := query(client, proto, siteAddr, name, qtype)
		if err != nil {
			t.Fatalf("%s %s over %s via unbound: %v", dns.TypeToString[qtype], name, proto, err)
		}
		return m
	}

	m := ask("udp", "web.docker", dns.TypeA)
	if got := answerAddrs(m); m.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{webAddr.String()}) {
		t.Errorf("A web.docker: %s %v, want %s (private-domain keeps it despite private-address)", dns.RcodeToString[m.Rcode], got, webAddr)
	} else if rrTTL := m.Answer[0].Header().Ttl; rrTTL > ttl {
		t.Errorf("A web.docker: TTL %d, want at most %d", rrTTL, ttl)
	}

	rev, _ := dns.ReverseAddr(webAddr.String())
	m = ask("udp", rev, dns.TypePTR)
	if len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != "web.docker." {
		t.Errorf("PTR %s: %v, want web.docker.", rev, m.Answer)
	}

	m = ask("udp", "nosuch.docker", dns.TypeA)
	if m.Rcode != dns.RcodeNameError || !hasSOA(m, "docker.") {
		t.Errorf("nosuch.docker: %s with authority %v, want NXDOMAIN with the SOA of docker.", dns.RcodeToString[m.Rcode], m.Ns)
	}
	// NODATA must stay apart from NXDOMAIN, or web.docker's A would be
	// negatively cached too.
	m = ask("udp", "web.docker", dns.TypeAAAA)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || !hasSOA(m, "docker.") {
		t.Errorf("AAAA web.docker: %s, %d answers, authority %v; want NODATA with the SOA", dns.RcodeToString[m.Rcode], len(m.Answer), m.Ns)
	}
	if got := answerAddrs(ask("udp", "web.docker", dns.TypeA)); !slices.Equal(got, []string{webAddr.String()}) {
		t.Errorf("A web.docker after NODATA for AAAA: %v", got)
	}

	// dockerhosts truncates the 100 addresses over UDP; unbound has them all
	// only if it retried over TCP. The client asks unbound over TCP.
	if m := ask("tcp", "big.docker", dns.TypeA); len(answerAddrs(m)) != bigAddrs {
		t.Errorf("big.docker over TCP via unbound: %d addresses, want %d (rcode %s)", len(answerAddrs(m)), bigAddrs, dns.RcodeToString[m.Rcode])
	}
	if m := ask("udp", "big.docker", dns.TypeA); !m.Truncated && len(answerAddrs(m)) != bigAddrs {
		t.Errorf("big.docker over UDP via unbound: %d addresses and not truncated", len(answerAddrs(m)))
	}

	// Both changes at once: web.docker moves (unbound has its A cached) and
	// late.docker appears (unbound has its NXDOMAIN cached, for the SOA
	// minimum, which is the TTL).
	ask("udp", "late.docker", dns.TypeA)
	res.setHosts(t, fmt.Sprintf("%s web\n%s late\n", webMovedAddr, webAddr))
	changed := time.Now()
	await.True(t, followWithin, "unbound serves the moved web.docker and the new late.docker", func() bool {
		return slices.Equal(answerAddrs(ask("udp", "web.docker", dns.TypeA)), []string{webMovedAddr.String()}) &&
			slices.Equal(answerAddrs(ask("udp", "late.docker", dns.TypeA)), []string{webAddr.String()})
	})
	t.Logf("unbound followed the change in %s", time.Since(changed).Round(time.Millisecond))
}

func hasSOA(m *dns.Msg, zone string) bool {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok && soa.Hdr.Name == zone {
			return true
		}
	}
	return false
}

// startUnbound runs unbound on addr:53 in ns with recipe included as is.
// It is offline: the namespace has no route beyond the LAN, and nothing it is
// asked lies outside the stub zones.
func startUnbound(t *testing.T, ns *Namespace, addr netip.Addr, recipe string) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docker.conf"), recipe)
	conf := filepath.Join(dir, "unbound.conf")
	writeFile(t, conf, fmt.Sprintf(`server:
    interface: %s
    port: 53
    access-control: 172.17.0.0/16 allow
    do-ip6: no
    num-threads: 1
    chroot: ""
    username: ""
    directory: %q
    pidfile: %q
    use-syslog: no
    logfile: ""
    verbosity: 1
    # No DNSSEC: no trust anchor to fetch, nothing asked outside the zone.
    module-config: "iterator"
    # A site resolver that strips private addresses from answers, as many
    # do (DNS rebinding protection): the recipe's private-domain must win.
    private-address: 172.16.0.0/12
remote-control:
    control-enable: no
include: %q
`, addr, dir, filepath.Join(dir, "unbound.pid"), filepath.Join(dir, "docker.conf")))
	if out, err := ns.Run("unbound-checkconf", conf); err != nil {
		t.Fatalf("unbound-checkconf: %v\n%s", err, out)
	}
	p := ns.Start("unbound", "-d", "-c", conf)
	await.True(t, 10*time.Second, "unbound answers", func() bool {
		if exited, err := p.Exited(); exited {
			t.Fatalf("unbound exited: %v\n%s", err, p.Output())
		}
		m, err := query(ns, "udp", addr, "docker.", dns.TypeSOA)
		return err == nil && m.Rcode == dns.RcodeSuccess
	})
}
