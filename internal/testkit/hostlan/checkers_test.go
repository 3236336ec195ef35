//go:build linux

package hostlan

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
	"github.com/dockerhosts/dockerhosts/internal/testkit/knottest"
)

// The checkers' machine holds a small DNS tree of its own on loopback: a
// fake root (named) delegates the three zones to dockerhosts, and BIND is
// their secondary. It has no other link: no checker can reach the internet.
var (
	fakeRootAddr  = netip.MustParseAddr("127.0.0.1")
	primaryAddr   = netip.MustParseAddr("127.0.0.2") // dockerhosts
	secondaryAddr = netip.MustParseAddr("127.0.0.3") // BIND
)

const (
	forwardZone = "lab.test."
	// ipv6Zone holds fd00:53::/32: the hosts file's addresses and the
	// containers' network fd00:53:1::/64.
	ipv6Zone   = "3.5.0.0.0.0.d.f.ip6.arpa."
	ipv6Subnet = "fd00:53:1::/64"
	// ipv4Zone holds 10.213.0.0/16: the containers' network (a /24 picked
	// by dockertest) and the hosts file's addresses in it.
	ipv4Zone = "213.10.in-addr.arpa."
)

var checkedZones = []string{forwardZone, ipv4Zone, ipv6Zone}

// Findings the checkers report that come from the test's set-up or from
// the design, each documented in the README's Bugs: one name server per
// zone (the server itself), and loopback addresses (the test's).
var (
	zonemasterByDesign = []string{
		"NOT_ENOUGH_NS_DEL", "NOT_ENOUGH_NS_CHILD", "NOT_ENOUGH_IPV4_NS_DEL", "NOT_ENOUGH_IPV4_NS_CHILD", // one NS
		"NAMESERVER_IP_PRIVATE_NETWORK", // loopback
	}
	dnsvizByDesign  = []string{"NS_NAME_PRIVATE_IP", "GLUE_PRIVATE_IP"} // loopback
	dnswalkByDesign = []string{"has only one authoritative nameserver"}
)

// TestDNSCheckersFindNoFault serves a forward zone and both kinds of reverse
// zone from a hosts file and from containers, delegated from a fake root,
// and has the DNS world's own checkers judge them: zonemaster and dnsviz
// find nothing beyond what the design and the test's addresses explain,
// every RRset of each AXFR is the direct answer, named-checkzone and
// kzonecheck pass the AXFRs, and a BIND secondary follows by NOTIFY.
func TestDNSCheckersFindNoFault(t *testing.T) {
	for program, pkg := range map[string]string{
		"named": "bind9", "named-checkzone": "bind9-utils", "kzonecheck": "knot-dnssecutils",
		"zonemaster-cli": "zonemaster-cli", "dnsviz": "dnsviz", "dnswalk": "dnswalk",
	} {
		dockertest.NeedProgram(t, program, pkg)
	}
	machine := Loopback(t, "checkers", primaryAddr, secondaryAddr)
	machine.WriteResolvConf(fmt.Sprintf("nameserver %s\n", primaryAddr)) // for dnswalk
	e := dockertest.Require(t)
	network, subnet := e.SubnetNetwork("checked", "--ipv6", "--subnet", ipv6Subnet)
	dir := t.TempDir()
	labels := strings.ReplaceAll(e.Prefix, "-", "") // the test's own label prefix: only its containers
	image := e.IdleImage()
	for _, name := range []string{"web", "db"} {
		e.Run(name, "--network", network, "--label", labels+".enable=true", image)
	}
	// The hosts file's addresses lie in the containers' zones, above the
	// addresses Docker hands out.
	fileAddr := subnet.Addr().As4()
	fileAddr[3] = 200
	hosts := filepath.Join(dir, "hosts")
	writeFile(t, hosts, fmt.Sprintf("%s files\nfd00:53::10 files v6only\n", netip.AddrFrom4(fileAddr)))

	fake := newFakeRoot(t, machine, dir)
	corefile := filepath.Join(dir, "Corefile")
	writeFile(t, corefile, fmt.Sprintf(`%s:53 %s:53 %s:53 {
	bind %s
	transfer {
		to * %s
		source %s
	}
	dockerhosts {
		hostsfile %s
		docker
		no_swarm
		opt_in
		label_prefix %s
	}
}
`, forwardZone, ipv4Zone, ipv6Zone, primaryAddr, secondaryAddr, primaryAddr, hosts, labels))
	primary := machine.Start(corednsBinary(t), "-conf", corefile)
	await.True(t, 20*time.Second, "dockerhosts serves both containers", func() bool {
		if exited, err := primary.Exited(); exited {
			t.Fatalf("coredns exited: %v\n%s", err, primary.Output())
		}
		m1, err1 := query(machine, "udp", primaryAddr, e.Name("web")+"."+forwardZone, dns.TypeAAAA)
		m2, err2 := query(machine, "udp", primaryAddr, e.Name("db")+"."+forwardZone, dns.TypeA)
		return err1 == nil && err2 == nil && len(m1.Answer) == 1 && len(m2.Answer) == 1
	})
	secondary := startSecondary(t, machine, dir)

	for _, zone := range checkedZones {
		t.Run(strings.TrimSuffix(zone, "."), func(t *testing.T) {
			transfer := axfrFrom(t, machine, zone)
			// Each zone holds names from both sources.
			for _, name := range []string{e.Name("web") + "." + forwardZone, "files." + forwardZone} {
				if !slices.ContainsFunc(transfer, func(rr dns.RR) bool { return strings.Contains(rr.String(), name) }) {
					t.Errorf("AXFR %s lacks %s: %v", zone, name, transfer)
				}
			}
			checkDirectAnswers(t, machine, transfer)
			checkZoneFile(t, machine, dir, zone, transfer)
			runZonemaster(t, machine, fake, zone)
			runDNSViz(t, machine, zone)
			runDNSWalk(t, machine, zone)
			await.True(t, 10*time.Second, "BIND loads "+zone+" at our serial", func() bool {
				ours, ok1 := serialAt(machine, primaryAddr, zone)
				theirs, ok2 := serialAt(machine, secondaryAddr, zone)
				return ok1 && ok2 && ours == theirs
			})
		})
	}

	// BIND refreshes every 2 hours (the SOA): only a NOTIFY brings this.
	writeFile(t, hosts, fmt.Sprintf("%s files\nfd00:53::10 files v6only\nfd00:53::11 added\n", netip.AddrFrom4(fileAddr)))
	await.True(t, 10*time.Second, "BIND serves the added name", func() bool {
		m, err := query(machine, "udp", secondaryAddr, "added."+forwardZone, dns.TypeAAAA)
		return err == nil && len(m.Answer) == 1
	})
	if !strings.Contains(secondary.Output(), "notify from "+primaryAddr.String()) {
		t.Errorf("BIND logged no NOTIFY from %s:\n%s", primaryAddr, secondary.Output())
	}
	if strings.Contains(secondary.Output(), "refused notify") {
		t.Errorf("BIND refused a NOTIFY:\n%s", secondary.Output())
	}
}

// fakeRoot is a named serving the root zone, which delegates the checked
// zones to dockerhosts with glue; hints is its root hints file.
type fakeRoot struct{ hints string }

func newFakeRoot(t *testing.T, machine *Namespace, dir string) *fakeRoot {
	t.Helper()
	var zone strings.Builder
	fmt.Fprintf(&zone, "$TTL 300\n. SOA a.root-servers.test. hostmaster.root-servers.test. 1 7200 1800 86400 300\n")
	fmt.Fprintf(&zone, ". NS a.root-servers.test.\na.root-servers.test. A %s\n", fakeRootAddr)
	for _, z := range checkedZones {
		fmt.Fprintf(&zone, "%s NS ns.dns.%s\nns.dns.%s A %s\n", z, z, z, primaryAddr)
	}
	writeFile(t, filepath.Join(dir, "root.zone"), zone.String())
	writeFile(t, filepath.Join(dir, "root.conf"), namedConf(dir, fakeRootAddr, `zone "." { type primary; file "root.zone"; };`))
	startNamed(t, machine, filepath.Join(dir, "root.conf"), fakeRootAddr, ".")
	r := &fakeRoot{hints: filepath.Join(dir, "hints")}
	writeFile(t, r.hints, fmt.Sprintf(". 3600000 NS a.root-servers.test.\na.root-servers.test. 3600000 A %s\n", fakeRootAddr))
	return r
}

// startSecondary runs BIND as the secondary of the checked zones, with
// dockerhosts as their primary (it takes NOTIFY from there only).
func startSecondary(t *testing.T, machine *Namespace, dir string) *Process {
	t.Helper()
	sdir := filepath.Join(dir, "secondary")
	if err := os.Mkdir(sdir, 0o755); err != nil {
		t.Fatal(err)
	}
	var zones strings.Builder
	for i, z := range checkedZones {
		fmt.Fprintf(&zones, "zone %q { type secondary; primaries { %s; }; file \"zone%d.db\"; };\n", z, primaryAddr, i)
	}
	conf := filepath.Join(sdir, "named.conf")
	writeFile(t, conf, namedConf(sdir, secondaryAddr, zones.String()))
	return startNamed(t, machine, conf, secondaryAddr, "")
}

func namedConf(dir string, addr netip.Addr, zones string) string {
	return fmt.Sprintf(`options {
	directory %q;
	listen-on { %s; };
	listen-on-v6 { none; };
	pid-file none;
	recursion no;
	notify no;
	dnssec-validation no;
};
controls { };
%s`, dir, addr, zones)
}

// startNamed runs named in the foreground on one thread until the test
// ends, and waits until it answers (for zone's SOA, when given).
func startNamed(t *testing.T, machine *Namespace, conf string, addr netip.Addr, zone string) *Process {
	t.Helper()
	p := machine.Start("named", "-g", "-n", "1", "-c", conf)
	await.True(t, 10*time.Second, "named answers on "+addr.String(), func() bool {
		if exited, err := p.Exited(); exited {
			t.Fatalf("named exited: %v\n%s", err, p.Output())
		}
		if zone == "" {
			return strings.Contains(p.Output(), "running")
		}
		m, err := query(machine, "udp", addr, zone, dns.TypeSOA)
		return err == nil && len(m.Answer) == 1
	})
	return p
}

// axfrFrom transfers zone from dockerhosts over TCP inside the machine.
func axfrFrom(t *testing.T, machine *Namespace, zone string) []dns.RR {
	t.Helper()
	conn, err := machine.Dial("tcp", netip.AddrPortFrom(primaryAddr, 53).String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tr := &dns.Transfer{Conn: &dns.Conn{Conn: conn}, ReadTimeout: 10 * time.Second}
	envs, err := tr.In(new(dns.Msg).SetAxfr(zone), "")
	if err != nil {
		t.Fatalf("AXFR %s: %v", zone, err)
	}
	var rrs []dns.RR
	for env := range envs {
		if env.Error != nil {
			t.Fatalf("AXFR %s: %v", zone, env.Error)
		}
		rrs = append(rrs, env.RR...)
	}
	if len(rrs) < 5 { // SOA, NS, glue, a record of ours, SOA
		t.Fatalf("AXFR %s: only %d records: %v", zone, len(rrs), rrs)
	}
	return rrs
}

// checkDirectAnswers: a secondary serves the transfer, a resolver the
// direct answer; they must agree on every RRset.
func checkDirectAnswers(t *testing.T, machine *Namespace, transfer []dns.RR) {
	t.Helper()
	for _, d := range knottest.DirectDiffs(transfer, func(name string, qtype uint16) (*dns.Msg, error) {
		return query(machine, "tcp", primaryAddr, name, qtype)
	}) {
		t.Error(d)
	}
}

// checkZoneFile writes the transfer as a zone file and has BIND's and
// Knot's zone checkers judge it, with every check an error.
func checkZoneFile(t *testing.T, machine *Namespace, dir, zone string, transfer []dns.RR) {
	t.Helper()
	var text strings.Builder
	for _, rr := range transfer[:len(transfer)-1] {
		text.WriteString(rr.String() + "\n")
	}
	file := filepath.Join(dir, strings.TrimSuffix(zone, ".")+".zone")
	writeFile(t, file, text.String())
	// Inside the machine: -i full may look names up.
	if out, err := machine.Run("named-checkzone", "-i", "full", "-k", "fail", "-m", "fail", "-M", "fail", "-n", "fail",
		"-r", "fail", "-S", "fail", "-T", "warn", zone, file); err != nil {
		t.Errorf("named-checkzone %s: %v\n%s\nzone:\n%s", zone, err, out, text.String())
	}
	if out, err := machine.Run("kzonecheck", "-o", zone, file); err != nil {
		t.Errorf("kzonecheck %s: %v\n%s\nzone:\n%s", zone, err, out, text.String())
	}
}

// runZonemaster runs every zonemaster test case against zone, through the
// fake root, and fails on each ERROR or CRITICAL not by design.
func runZonemaster(t *testing.T, machine *Namespace, fake *fakeRoot, zone string) {
	t.Helper()
	out, err := machine.Run("zonemaster-cli", "--hints", fake.hints, "--json", "--raw", "--level", "ERROR", "--no-progress", zone)
	if err != nil {
		t.Fatalf("zonemaster-cli %s: %v\n%s", zone, err, out)
	}
	var entries []struct {
		Level, Tag, Testcase string
		Args                 map[string]any
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("zonemaster-cli %s: %v\n%s", zone, err, out)
	}
	byDesign := 0
	for _, e := range entries {
		if slices.Contains(zonemasterByDesign, e.Tag) {
			byDesign++
			continue
		}
		t.Errorf("zonemaster %s: %s %s %s %v", zone, e.Level, e.Testcase, e.Tag, e.Args)
	}
	// The one-NS findings prove that zonemaster reached the zone at all.
	if byDesign == 0 {
		t.Errorf("zonemaster %s reported none of the findings by design: did it test the zone?\n%s", zone, out)
	}
}

// runDNSViz probes zone from the fake root down and fails on every error
// dnsviz finds in it, at any depth, that the test's addresses do not explain.
func runDNSViz(t *testing.T, machine *Namespace, zone string) {
	t.Helper()
	probe := filepath.Join(t.TempDir(), "probe.json")
	root := fmt.Sprintf(".:a.root-servers.test=%s", fakeRootAddr)
	if out, err := machine.Run("dnsviz", "probe", "-A", "-x", root, "-o", probe, zone); err != nil {
		t.Fatalf("dnsviz probe %s: %v\n%s", zone, err, out)
	}
	out, err := machine.Run("dnsviz", "grok", "-l", "error", "-r", probe)
	if err != nil {
		t.Fatalf("dnsviz grok %s: %v\n%s", zone, err, out)
	}
	var report map[string]any
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("dnsviz grok %s: %v\n%s", zone, err, out)
	}
	if _, ok := report[zone]; !ok {
		t.Errorf("dnsviz grok has no analysis of %s:\n%s", zone, out)
	}
	for _, f := range dnsvizErrors(report, "") {
		if !slices.Contains(dnsvizByDesign, f.code) {
			t.Errorf("dnsviz %s: %s %s: %s", zone, f.where, f.code, f.description)
		}
	}
}

// runDNSWalk transfers zone with dnswalk, which checks every record of it,
// and fails on each of its failures and errors not by design.
func runDNSWalk(t *testing.T, machine *Namespace, zone string) {
	t.Helper()
	// Its exit status counts its errors: the output says which.
	out, err := machine.Run("dnswalk", "-F", zone)
	if !strings.Contains(out, "Checking "+zone) {
		t.Fatalf("dnswalk %s: %v\n%s", zone, err, out)
	}
	// It prints the SOA once it has the zone; a failed transfer is a FAIL.
	if !strings.Contains(out, "SOA=ns.dns."+strings.TrimSuffix(zone, ".")) {
		t.Errorf("dnswalk %s did not transfer the zone:\n%s", zone, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if (strings.HasPrefix(line, "FAIL:") || strings.HasPrefix(line, "BAD:")) &&
			!slices.ContainsFunc(dnswalkByDesign, func(s string) bool { return strings.Contains(line, s) }) {
			t.Errorf("dnswalk %s: %s", zone, line)
		}
	}
}

type dnsvizFinding struct{ where, code, description string }

// dnsvizErrors collects the "errors" lists anywhere in a grok report.
func dnsvizErrors(v any, where string) []dnsvizFinding {
	var out []dnsvizFinding
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if k != "errors" {
				out = append(out, dnsvizErrors(child, where+"/"+k)...)
				continue
			}
			list, _ := child.([]any)
			for _, item := range list {
				e, _ := item.(map[string]any)
				code, _ := e["code"].(string)
				desc, _ := e["description"].(string)
				out = append(out, dnsvizFinding{where, code, desc})
			}
		}
	case []any:
		for _, child := range v {
			out = append(out, dnsvizErrors(child, where)...)
		}
	}
	return out
}

// serialAt is the SOA serial the server at addr serves for zone.
func serialAt(machine *Namespace, addr netip.Addr, zone string) (uint32, bool) {
	m, err := query(machine, "udp", addr, zone, dns.TypeSOA)
	if err != nil || len(m.Answer) != 1 {
		return 0, false
	}
	soa, ok := m.Answer[0].(*dns.SOA)
	if !ok {
		return 0, false
	}
	return soa.Serial, true
}
