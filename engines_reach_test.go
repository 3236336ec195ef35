//go:build linux

package dockerhosts

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
	"github.com/dockerhosts/dockerhosts/internal/testkit/hostlan"
)

// TestAContainerOfAnotherMachineReachesAPublishedContainer: two machines on
// a LAN, each a network namespace running its own dockerd (its own docker0,
// 172.17.0.0/16 on both, its API over TCP), served by one resolver on this
// host. A container of machine B, whose queries arrive through B's NAT as
// B, resolves a container of machine A that publishes a port to A's address
// and reaches it over HTTP, never B's own container at the same bridge
// address; a LAN machine reaches the published containers of both. One
// name at one address on both machines is each machine's own container to
// its containers, the other's published address after it.
func TestAContainerOfAnotherMachineReachesAPublishedContainer(t *testing.T) {
	lab := newDockerLab(t)
	hostlan.RequirePrograms(t, "nsenter", "getent", "curl")
	subnet := hostlan.FreeSubnet(t)
	at := func(i byte) netip.Addr { a := subnet.Addr().As4(); a[3] = i; return netip.AddrFrom4(a) }
	resolverAddr, addrA, addrB, addrLAN := at(1), at(11), at(12), at(20)

	lan := hostlan.NewLAN(t, 24)
	lan.JoinHost(resolverAddr)
	machineA, machineB := lan.Machine("a", addrA), lan.Machine("b", addrB)
	client := lan.Machine("lan", addrLAN)
	client.WriteResolvConf("nameserver " + resolverAddr.String() + "\n")
	engineA := lab.StartDaemon(dockertest.DaemonOptions{Netns: machineA.Name, TCP: addrA})
	engineB := lab.StartDaemon(dockertest.DaemonOptions{Netns: machineB.Name, TCP: addrB})

	web, fetch := lab.HostnameImage(), lab.ProgramImage("fetch")
	engineA.CopyImage(web)
	engineB.CopyImage(web)
	engineB.CopyImage(fetch)

	s := startCoreDNS(t, fmt.Sprintf(`docker.:53 {
	bind %s
	dockerhosts {
		docker %s a
		docker %s b
	}
}`, resolverAddr, engineA.Endpoint(), engineB.Endpoint()))

	ip := func(d *dockertest.Daemon, id string) string {
		return d.Docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", id)
	}
	port := func(d *dockertest.Daemon, id string) string {
		out := d.Docker("port", id, "8080/tcp")
		first, _, _ := strings.Cut(out, "\n")
		return first[strings.LastIndex(first, ":")+1:]
	}
	// B's first container takes 172.17.0.2 on B, the address A's web has
	// on A.
	decoy := engineB.Run("decoy", web)
	webA := engineA.Run("weba", "-p", "8080", web)
	webB := engineB.Run("webb", "-p", "8080", web)
	if ip(engineA, webA) != ip(engineB, decoy) {
		t.Fatalf("A's web has %s, B's decoy %s: the test wants one address on both machines", ip(engineA, webA), ip(engineB, decoy))
	}
	nameA, nameB := engineA.Name("weba")+".docker", engineB.Name("webb")+".docker"
	urlA := "http://" + nameA + ":" + port(engineA, webA) + "/"
	urlB := "http://" + nameB + ":" + port(engineB, webB) + "/"

	// The LAN machine: each published container at its machine's address.
	for _, c := range []struct{ name, url, addr, id string }{
		{nameA, urlA, addrA.String(), webA}, {nameB, urlB, addrB.String(), webB},
	} {
		await.True(t, dockerWithin, "the LAN machine resolves "+c.name+" to "+c.addr, func() bool {
			out, err := client.Run("getent", "ahostsv4", c.name)
			return err == nil && strings.HasPrefix(out, c.addr+" ")
		})
		if out, err := client.Run("curl", "-sS", "--max-time", "5", c.url); err != nil || strings.TrimSpace(out) != c.id[:12] {
			t.Errorf("curl %s from the LAN machine: %q, %v; want container %.12s", c.url, out, err, c.id)
		}
	}

	// A container of B, asking through B's NAT.
	asker := engineB.Run("asker", "--dns", resolverAddr.String(), fetch, urlA)
	want := addrA.String() + " " + webA[:12]
	await.True(t, dockerWithin, "B's container resolves and reaches A's web: "+want, func() bool {
		return slices.Contains(strings.Split(engineB.Docker("logs", asker), "\n"), want)
	})
	for _, line := range strings.Split(engineB.Docker("logs", asker), "\n") {
		if strings.Contains(line, decoy[:12]) || strings.HasPrefix(line, ip(engineA, webA)+" ") {
			t.Errorf("B's container was told A's bridge address or reached B's own container: %q", line)
		}
	}
	// One name on both machines, one address on both (a network of the
	// same subnet on each): B's container is told B's own first, then A's
	// where A publishes it; the LAN machine A's published address and B's
	// own, B publishing nothing.
	for _, d := range []*dockertest.Daemon{engineA, engineB} {
		d.Network("same", "--subnet", "10.77.0.0/24")
	}
	engineA.Run("shared", "--network", engineA.Name("same"), "--ip", "10.77.0.10", "-p", "8080", web)
	engineB.Run("shared", "--network", engineB.Name("same"), "--ip", "10.77.0.10", web)
	shared := engineA.Name("shared") + ".docker"
	dnsClient := lab.DNSClientImage()
	engineB.CopyImage(dnsClient)
	dnsAsker := engineB.Run("dns-asker", dnsClient, resolverAddr.String()+":53", shared)
	want = "10.77.0.10 " + addrA.String()
	await.True(t, dockerWithin, "B's container is told "+want+" for "+shared, func() bool {
		return slices.Contains(strings.Split(engineB.Docker("logs", dnsAsker), "\n"), want)
	})
	if got := answerA(askAt(t, client, resolverAddr, dns.Fqdn(shared), dns.TypeA)); !slices.Equal(got, slices.Sorted(slices.Values([]string{"10.77.0.10", addrA.String()}))) {
		t.Errorf("the LAN machine is told %v for %s, want A's %s and B's own 10.77.0.10", got, shared, addrA)
	}

	// The same question from this host, which is on neither engine.
	if r := s.exchange(t, "udp", dns.Fqdn(nameA), dns.TypeA); !slices.Equal(answerA(r), []string{addrA.String()}) {
		t.Errorf("this host is told %v for %s, want %s", answerA(r), nameA, addrA)
	}
}
