package dockerhosts

import (
	"context"
	"fmt"
	golog "log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"

	// The plugins the metadata Corefiles use.
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/view"
)

func TestMetadataNamesAnswerAndClient(t *testing.T) {
	d := &DockerHosts{Zones: []string{"docker.", "17.172.in-addr.arpa."}, TTL: 5, index: index.New([]string{"docker.", "17.172.in-addr.arpa."})}
	engine := index.Source{Kind: dockerKind, Name: "host"}
	addr := func(ip, network string) index.Addr {
		a := netip.MustParseAddr(ip)
		return index.Addr{IP: a, Network: network, Subnet: netip.PrefixFrom(a, 16).Masked(), Scope: "host"}
	}
	d.index.Replace(engine, []index.Host{
		{ID: "c1", Names: []string{"appsrv1", "web"}, ReverseNames: []string{"appsrv1"}, Addrs: []index.Addr{addr("172.17.0.2", "bridge"), addr("172.18.0.2", "front")},
			Services: []index.Service{{Name: "http", Proto: "tcp", Port: 80}}},
		{ID: "c2", Names: []string{"client1"}, ReverseNames: []string{"client1"}, Addrs: []index.Addr{addr("172.17.0.7", "bridge"), addr("172.19.0.7", "back")}},
		{ID: "c3", Names: []string{"web", "other"}, ReverseNames: []string{"other"}, Addrs: []index.Addr{addr("172.18.0.3", "front")}},
	})
	d.index.Replace(index.Source{Kind: hostsFileKind, Name: "/etc/hosts", Priority: 10}, []index.Host{
		{ID: "1", Names: []string{"filed"}, ReverseNames: []string{"filed"}, Addrs: []index.Addr{{IP: netip.MustParseAddr("192.0.2.1")}}},
	})
	// The engine's swarm: a task's container is a client like any other; a
	// node (its address on no network) is not a container.
	d.index.Replace(index.Source{Kind: swarmKind, Name: "host"}, []index.Host{
		{ID: "task:t1", Names: []string{"web.1.t1", "tasks.web"}, ReverseNames: []string{"web.1.t1"}, Addrs: []index.Addr{addr("172.20.0.5", "overlay1")}},
		{ID: "node:n1", Names: []string{"node1"}, ReverseNames: []string{"node1"}, Addrs: []index.Addr{{IP: netip.MustParseAddr("192.0.2.9")}}},
	})
	cases := []struct {
		qname     string
		qtype     uint16
		client    string
		container string
		source    string
		clientC   string
		clientNet string
	}{
		{"appsrv1.docker.", dns.TypeA, "172.19.0.7", "appsrv1", "docker:host", "client1", "back"},
		{"AppSrv1.Docker.", dns.TypeAAAA, "172.17.0.7", "", "", "client1", "bridge"},
		{"web.docker.", dns.TypeA, "127.0.0.1", "appsrv1,other", "docker:host", "", ""},
		{"_http._tcp.appsrv1.docker.", dns.TypeSRV, "127.0.0.1", "appsrv1", "docker:host", "", ""},
		{"2.0.17.172.in-addr.arpa.", dns.TypePTR, "127.0.0.1", "appsrv1", "docker:host", "", ""},
		{"filed.docker.", dns.TypeA, "192.0.2.1", "/etc/hosts", "hostsfile:/etc/hosts", "", ""},
		{"nope.docker.", dns.TypeA, "172.18.0.3", "", "", "other", "front"},
		{"appsrv1.docker.", dns.TypeA, "172.20.0.5", "appsrv1", "docker:host", "web.1.t1", "overlay1"},
		{"tasks.web.docker.", dns.TypeA, "192.0.2.9", "web.1.t1", "swarm:host", "", ""},
	}
	for _, c := range cases {
		ctx := metadata.ContextWithMetadata(context.Background())
		state := request.Request{W: &test.ResponseWriter{RemoteIP: c.client}, Req: new(dns.Msg).SetQuestion(c.qname, c.qtype)}
		ctx = d.Metadata(ctx, state)
		value := func(label string) string { return metadata.ValueFunc(ctx, "dockerhosts/"+label)() }
		got := []string{value("container"), value("source"), value("client-container"), value("client-network")}
		if want := []string{c.container, c.source, c.clientC, c.clientNet}; !slices.Equal(got, want) {
			t.Errorf("%s %s from %s: container, source, client-container, client-network = %q, want %q",
				c.qname, dns.TypeToString[c.qtype], c.client, got, want)
		}
	}
}

// logLines captures what the log plugin prints, for one test, and returns
// what it printed so far.
func logLines(t *testing.T) func() string {
	path := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	golog.SetOutput(f)
	logged := func() string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
	t.Cleanup(func() {
		golog.SetOutput(os.Stderr)
		f.Close()
		if t.Failed() {
			t.Logf("the log:\n%s", logged())
		}
	})
	return logged
}

const metadataLogFormat = `log . "{name} {type} {rcode} container={/dockerhosts/container} source={/dockerhosts/source} client={/dockerhosts/client-container}"`

func TestLogLineNamesTheHostsFile(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "172.17.0.2 appsrv1\n")
	logs := logLines(t)
	s := startCoreDNS(t, fmt.Sprintf("docker.:0 {\n metadata\n %s\n dockerhosts {\n  hostsfile %s\n }\n}", metadataLogFormat, hosts))
	s.exchange(t, "udp", "appsrv1.docker.", dns.TypeA)
	want := fmt.Sprintf("appsrv1.docker. A NOERROR container=%s source=hostsfile:%s client=\n", hosts, hosts)
	await.True(t, 5*time.Second, "a log line "+want, func() bool { return strings.Contains(logs(), want) })
}

func TestLogLineNamesTheContainer(t *testing.T) {
	l := newDockerLab(t)
	name := l.Name("answering")
	l.run("answering")
	ip := l.ip(name, l.net)
	logs := logLines(t)
	s := startCoreDNS(t, dockerCorefile("", nil, "metadata", metadataLogFormat))
	s.waitA(t, fqdn(name), ip)
	want := fmt.Sprintf("%s A NOERROR container=%s source=docker:host", fqdn(name), name)
	await.True(t, 5*time.Second, "a log line "+want, func() bool { return strings.Contains(logs(), want) })
}

// Two client networks, 127.0.0.2/32 and the rest of loopback, get different
// answers for one name from two server blocks chosen by view.
func TestViewAnswersPerClientNetwork(t *testing.T) {
	dir := t.TempDir()
	front, rest := filepath.Join(dir, "front"), filepath.Join(dir, "rest")
	writeFile(t, front, "10.0.1.1 web\n")
	writeFile(t, rest, "10.0.2.1 web\n")
	s := startCoreDNS(t, fmt.Sprintf(`docker.:0 {
		view front {
			expr incidr(client_ip(), '127.0.0.2/32')
		}
		dockerhosts {
			hostsfile %s
		}
	}
	docker.:0 {
		dockerhosts {
			hostsfile %s
		}
	}`, front, rest))
	ask := func(from net.IP) []string {
		c := &dns.Client{Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: from}}}
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion("web.docker.", dns.TypeA), s.udp)
		if err != nil {
			t.Fatalf("from %s: %v", from, err)
		}
		return answerA(r)
	}
	if got := ask(net.IPv4(127, 0, 0, 2)); !slices.Equal(got, []string{"10.0.1.1"}) {
		t.Errorf("from 127.0.0.2: %v, want the front file's 10.0.1.1", got)
	}
	if got := ask(net.IPv4(127, 0, 0, 1)); !slices.Equal(got, []string{"10.0.2.1"}) {
		t.Errorf("from 127.0.0.1: %v, want the other file's 10.0.2.1", got)
	}
}

// TestViewAndLogByClientContainer runs client containers on two networks
// that ask the server on their networks' gateways: a view on
// dockerhosts/client-network answers the front network's client from its own
// hosts file, the other from another, and the log names each client
// container and its network.
func TestViewAndLogByClientContainer(t *testing.T) {
	l := newDockerLab(t)
	back, backSubnet := l.SubnetNetwork("back")
	// Docker gives a bridge network's first address to the host.
	frontGW, backGW := l.subnet.Addr().Next().String(), backSubnet.Addr().Next().String()
	dir := t.TempDir()
	frontFile, restFile := filepath.Join(dir, "front"), filepath.Join(dir, "rest")
	writeFile(t, frontFile, "192.0.2.1 web\n")
	writeFile(t, restFile, "192.0.2.2 web\n")
	// A port free on both gateways: the server binds to them only.
	ln, err := net.ListenPacket("udp", frontGW+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(ln.LocalAddr().String())
	ln.Close()
	logs := logLines(t)
	block := func(view, file string) string {
		return fmt.Sprintf(`docker.:%s {
		bind %s %s
		metadata
		%s
		log . "{name} from {/dockerhosts/client-container} on {/dockerhosts/client-network}"
		dockerhosts {
			docker
			hostsfile %s
		}
	}
	`, port, frontGW, backGW, view, file)
	}
	startCoreDNS(t, block(fmt.Sprintf("view front {\n expr metadata('dockerhosts/client-network') == '%s'\n }", l.net), frontFile)+block("", restFile))

	image := l.DNSClientImage()
	frontClient := l.Name("front-client")
	l.Run("front-client", "--network", l.net, image, frontGW+":"+port, "web.docker.")
	backClient := l.Name("back-client")
	l.Run("back-client", "--network", back, image, backGW+":"+port, "web.docker.")
	answers := func(container, want string) func() bool {
		return func() bool { return slices.Contains(strings.Split(l.Docker("logs", container), "\n"), want) }
	}
	await.True(t, dockerWithin, "the front client gets the front file's 192.0.2.1", answers(frontClient, "192.0.2.1"))
	await.True(t, dockerWithin, "the back client gets the other file's 192.0.2.2", answers(backClient, "192.0.2.2"))
	if slices.Contains(strings.Split(l.Docker("logs", backClient), "\n"), "192.0.2.1") {
		t.Errorf("the back client got the front view's answer")
	}
	for _, want := range []string{"web.docker. from " + frontClient + " on " + l.net, "web.docker. from " + backClient + " on " + back} {
		await.True(t, 5*time.Second, "a log line "+want, func() bool { return strings.Contains(logs(), want) })
	}
}
