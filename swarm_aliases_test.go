package dockerhosts

import (
	"net"
	"slices"
	"strconv"
	"testing"

	"github.com/coredns/caddy"

	"github.com/dockerhosts/dockerhosts/internal/testkit/hostlan"
)

// testSwarmAliasesPerNetwork: a service alias answers as Docker's DNS
// answers it, network by network. api is on the lab's overlay (front) and
// on back, with the alias db on back only; other (dnsrr) is on front with
// the alias db there. A container on each network asks Docker's 127.0.0.11
// and a CoreDNS that sees it by its own address (seatedCoreDNS): db is
// api's on back, other's on front. This machine, on neither network, gets
// every address where db exists.
func testSwarmAliasesPerNetwork(t *testing.T, lab *swarmLab, probe string) {
	l := lab.For(t)
	front := l
	back := *l
	back.net, _ = l.Overlay("back")
	back.netID = l.Docker("network", "inspect", "--format", "{{.ID}}", back.net)
	db := l.Name("db")
	api := l.Service("api", "--network", front.net, "--network", "name="+back.net+",alias="+db, "--replicas", "2", l.idle)
	other := l.Service("other", "--network", "name="+front.net+",alias="+db, "--endpoint-mode", "dnsrr", "--replicas", "2", l.idle)
	apiTasks, otherTasks := l.tasks(api, 2), l.tasks(other, 2)

	// This machine is on none of the networks: db where it exists, api's
	// VIP on back and other's tasks on front, as a container's alias.
	l.dns.waitA(t, fqdn(db), append(front.taskAddrs(otherTasks), back.vip(api))...)
	l.dns.waitA(t, fqdn("tasks."+db), append(front.taskAddrs(otherTasks), back.taskAddrs(apiTasks)...)...)

	seat, port := l.seatedCoreDNS(dockerCorefile("", nil), front.net, back.net)
	l.probeAt(front.net, net.JoinHostPort(seat[front.net], port), probe,
		api, "tasks."+api, other, "tasks."+other, db, "tasks."+db)
	// other is not on back: Docker does not answer its name there, while
	// a service's name answers everyone here, as a container's does.
	l.probeAt(back.net, net.JoinHostPort(seat[back.net], port), probe, api, "tasks."+api, db, "tasks."+db)
}

// seatedCoreDNS starts CoreDNS with corefile inside the network namespace of
// a container attached to networks, and returns the container's address on
// each network and the port CoreDNS listens on. A client on one of the
// networks asks it there and is seen by its own address, as by a resolver
// deployed on the swarm; asked through docker_gwbridge, the only way from an
// overlay to this host, it would be seen by an address no engine lists.
func (l *swarmLab) seatedCoreDNS(corefile string, networks ...string) (addrs map[string]string, port string) {
	l.t.Helper()
	id := l.Run("seat", "--network", networks[0], l.idle)
	for _, n := range networks[1:] {
		l.Docker("network", "connect", n, id)
	}
	pid, err := strconv.Atoi(l.Docker("inspect", "--format", "{{.State.Pid}}", id))
	if err != nil {
		l.t.Fatal(err)
	}
	ns := hostlan.Attach(l.t, "seat", pid)
	var inst *caddy.Instance
	// Its sockets are opened inside the namespace and stay there.
	if err := ns.Do(func() (err error) {
		inst, err = caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), ServerTypeName: "dns"})
		return err
	}); err != nil {
		l.t.Fatalf("start CoreDNS in the container's namespace: %v", err)
	}
	s := &coreDNS{inst: inst}
	l.t.Cleanup(func() { s.inst.Stop(); s.inst.ShutdownCallbacks() })
	s.addrs(l.t)
	_, port, err = net.SplitHostPort(s.udp)
	if err != nil {
		l.t.Fatal(err)
	}
	addrs = make(map[string]string, len(networks))
	for _, n := range networks {
		addrs[n] = l.Docker("inspect", "--format", `{{(index .NetworkSettings.Networks "`+n+`").IPAddress}}`, id)
	}
	if slices.Contains(slices.Collect(mapValues(addrs)), "") {
		l.t.Fatalf("the seat has no address on some of %v: %v", networks, addrs)
	}
	return addrs, port
}
