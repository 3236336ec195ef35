package dockerhosts

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// testSwarmServiceLabels: the labels of a service (docker service create
// --label) act on it as a container's on the container; the labels of its
// task containers (--container-label) are not read, the swarm source serves
// them.
func testSwarmServiceLabels(t *testing.T, lab *swarmLab) {
	l := lab.For(t)
	www, ignored := l.Name("www"), l.Name("ignored")
	svc := l.Service("labelled", "--network", l.net, "--replicas", "2",
		"--label", "dockerhosts.name="+www, "--label", "dockerhosts.txt=v=1", "--label", "dockerhosts.txt._acme=token",
		"--label", "dockerhosts.wildcard=true", "--label", "dockerhosts.srv=http:8080/tcp",
		"--container-label", "dockerhosts.name="+ignored, l.idle)
	alias := l.Service("cname", "--network", l.net, "--label", "dockerhosts.cname="+svc, l.idle)
	tasks := l.tasks(svc, 2)
	vip, addrs := l.vip(svc), l.taskAddrs(tasks)

	l.dns.waitA(t, fqdn(www), vip)
	l.dns.waitA(t, fqdn("tasks."+www), addrs...)
	l.dns.waitA(t, fqdn("any."+svc), vip)
	l.dns.waitA(t, fqdn(alias), vip) // through the CNAME
	if r := l.dns.exchange(t, "udp", fqdn(alias), dns.TypeCNAME); len(r.Answer) != 1 ||
		!strings.EqualFold(r.Answer[0].(*dns.CNAME).Target, fqdn(svc)) {
		t.Errorf("%s CNAME: %v, want %s", alias, r.Answer, fqdn(svc))
	}
	for name, want := range map[string]string{fqdn(svc): "v=1", fqdn(www): "v=1", fqdn("_acme." + svc): "token"} {
		r := l.dns.exchange(t, "udp", name, dns.TypeTXT)
		if len(r.Answer) != 1 || strings.Join(r.Answer[0].(*dns.TXT).Txt, "") != want {
			t.Errorf("%s TXT: %v, want %q", name, r.Answer, want)
		}
	}
	// The port at the service (its VIP) and at each task (its container).
	r := l.dns.exchange(t, "udp", fqdn("_http._tcp."+svc), dns.TypeSRV)
	if targets := srvTargets(r, fqdn(svc)); !slices.Equal(targets, []uint16{8080}) || !slices.Equal(answerAdditionalA(r), []string{vip}) {
		t.Errorf("_http._tcp.%s: %v, want %s:8080 at %s", svc, r, fqdn(svc), vip)
	}
	await.True(t, swarmWithin, "one SRV record per task", func() bool {
		r := l.dns.exchange(t, "udp", fqdn("_http._tcp.tasks."+svc), dns.TypeSRV)
		return len(r.Answer) == 2 && slices.Equal(answerAdditionalA(r), addrs)
	})
	if !l.dns.nxdomain(t, fqdn(ignored)) {
		t.Errorf("%s answers: a task container's label was read", ignored)
	}
}
