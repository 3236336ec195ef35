package dockerhosts

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// traefikImage tags the lab's idle image as Traefik's (traefik:<prefix>),
// which is all dockerhosts looks at to find the proxy: no Traefik needed.
func (l *dockerLab) traefikImage() string {
	l.t.Helper()
	ref := "traefik:" + l.Prefix
	l.Docker("tag", l.image, ref)
	l.t.Cleanup(func() {
		if _, err := l.TryDocker("image", "rm", ref); err != nil {
			l.t.Logf("cleanup: %v", err)
		}
	})
	return ref
}

// traefikCorefile serves docker. and lan. from the host's engine.
func traefikCorefile(props ...string) string {
	return strings.Replace(dockerCorefile("", props), "dockerhosts docker.", "dockerhosts docker. lan.", 1)
}

// TestTraefikHostNamesAliasTheProxy: each Host() name of a container's
// router rules inside the zones answers a CNAME to the proxy's name and the
// proxy's address; a name outside the zones is not served, a container with
// traefik.enable=false has none, and a malformed rule is counted.
func TestTraefikHostNamesAliasTheProxy(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, traefikCorefile())
	proxy := l.Name("proxy")
	proxyIP := l.ip(l.Run("proxy", "--network", l.net, l.traefikImage()), l.net)
	app, www, outside, off := l.Prefix+".lan", "www."+l.Prefix+".lan", l.Prefix+".example.com", "off."+l.Prefix+".lan"
	skipped := func() float64 { return gathered(t, "coredns_dockerhosts_skipped_labels_total", "engine", "host") }
	before := skipped()
	l.run("app",
		"--label", fmt.Sprintf("traefik.http.routers.app.rule=Host(`%s`) || (Host(`%s`) && PathPrefix(`/x`)) || Host(`%s`)", app, www, outside),
		"--label", "traefik.http.routers.bad.rule=Host(`"+app)
	l.run("off", "--label", "traefik.enable=false", "--label", "traefik.http.routers.off.rule=Host(`"+off+"`)")

	want := fmt.Sprintf("CNAME %s; A %s", fqdn(proxy), proxyIP)
	for _, name := range []string{app + ".", www + "."} {
		for _, proto := range []string{"udp", "tcp"} {
			await.True(t, dockerWithin, name+" answers "+want, func() bool {
				return answerText(s.exchange(t, proto, name, dns.TypeA)) == want
			})
		}
	}
	if r := s.exchange(t, "udp", outside+".", dns.TypeA); len(r.Answer) > 0 || r.Rcode == dns.RcodeSuccess {
		t.Errorf("%s, outside the zones, answered %s %q", outside, dns.RcodeToString[r.Rcode], answerText(r))
	}
	if r := s.exchange(t, "udp", off+".", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("%s of a traefik.enable=false container: %s %q, want NXDOMAIN", off, dns.RcodeToString[r.Rcode], answerText(r))
	}
	if got := skipped() - before; got != 1 {
		t.Errorf("skipped labels grew by %v, want 1 (the malformed rule)", got)
	}
	// The proxy going takes the names with it.
	l.Docker("rm", "--force", proxy)
	s.waitNXDOMAIN(t, app+".")
}

// TestTraefikStandInProxyServesTheApp: a client resolves a Host() name
// through dockerhosts and reaches the app through the proxy. The proxy is
// Debian's nginx with a server_name per host, run in the network namespace
// of the container whose image is tagged traefik.
func TestTraefikStandInProxyServesTheApp(t *testing.T) {
	bin := dockertest.NeedProgram(t, "nginx", "nginx")
	nsenter := dockertest.NeedProgram(t, "nsenter", "util-linux")
	l := newDockerLab(t)
	s := startCoreDNS(t, traefikCorefile())
	proxyID := l.Run("proxy", "--network", l.net, l.traefikImage())
	proxyIP := l.ip(proxyID, l.net)
	app, www := "app."+l.Prefix+".lan", "www."+l.Prefix+".lan"
	appName := l.Name("app")
	appIP := l.ip(l.Run("app", "--network", l.net, "--hostname", appName,
		"--label", fmt.Sprintf("traefik.http.routers.app.rule=Host(`%s`) || Host(`%s`)", app, www), l.HostnameImage()), l.net)

	args := nginxArgs(t, fmt.Sprintf(`
    server {
        listen 80 default_server;
        return 404;
    }
    server {
        listen 80;
        server_name %s %s;
        location / { proxy_pass http://%s:8080; }
    }
`, app, www, appIP))
	pid := l.Docker("inspect", "--format", "{{.State.Pid}}", proxyID)
	startListening(t, "nginx", exec.Command(nsenter, append([]string{"--net=/proc/" + pid + "/ns/net", bin}, args...)...),
		net.JoinHostPort(proxyIP, "80"))

	// The client's resolver is dockerhosts: it follows the CNAME to the
	// proxy's address, and sends the name asked as Host.
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", s.udp)
	}}
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{Resolver: resolver}).DialContext, DisableKeepAlives: true}}
	get := func(host string) (int, string) {
		resp, err := client.Get("http://" + host + "/")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	for _, host := range []string{app, www} {
		await.True(t, dockerWithin, host+" reaches the app through the proxy", func() bool {
			code, body := get(host)
			if code != http.StatusOK {
				t.Logf("%s: %d %s", host, code, body)
			}
			return code == http.StatusOK && body == appName
		})
	}
	// The proxy answers other names with its default server: the page came
	// through it, by name.
	if code, body := get(proxyIP); code != http.StatusNotFound {
		t.Errorf("the proxy's address without a Host() name: %d %q, want nginx's 404", code, body)
	}
}

// ttls returns the TTL of every record of the answer and additional
// sections, by type.
func ttls(r *dns.Msg) map[string][]uint32 {
	out := map[string][]uint32{}
	for _, rr := range slices.Concat(r.Answer, r.Extra) {
		if h := rr.Header(); h.Rrtype != dns.TypeOPT {
			out[dns.TypeToString[h.Rrtype]] = append(out[dns.TypeToString[h.Rrtype]], h.Ttl)
		}
	}
	return out
}

// TestTTLLabel: dockerhosts.ttl sets the TTL of the container's A, SRV (and
// its target's address) and TXT records; a name two containers share
// answers the smaller of their TTLs, and the block's TTL stays the default.
func TestTTLLabel(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", []string{"ttl 30"}))
	web, db, shared := l.Name("web"), l.Name("db"), l.Name("shared")
	l.run("web", "--network-alias", shared, "--label", "dockerhosts.ttl=60",
		"--label", "dockerhosts.srv=http:8080/tcp", "--label", "dockerhosts.txt=v=1")
	l.run("db", "--network-alias", shared, "--label", "dockerhosts.ttl=7")
	plain := l.Name("plain")
	l.run("plain")

	for _, c := range []struct {
		name  string
		qtype uint16
		want  map[string][]uint32
	}{
		{fqdn(web), dns.TypeA, map[string][]uint32{"A": {60}}},
		{"_http._tcp." + fqdn(web), dns.TypeSRV, map[string][]uint32{"SRV": {60}, "A": {60}}},
		{fqdn(web), dns.TypeTXT, map[string][]uint32{"TXT": {60}}},
		{fqdn(db), dns.TypeA, map[string][]uint32{"A": {7}}},
		{fqdn(shared), dns.TypeA, map[string][]uint32{"A": {7, 7}}},
		{fqdn(plain), dns.TypeA, map[string][]uint32{"A": {30}}},
	} {
		await.True(t, dockerWithin, fmt.Sprintf("%s %s has TTLs %v", c.name, dns.TypeToString[c.qtype], c.want), func() bool {
			got := ttls(s.exchange(t, "udp", c.name, c.qtype))
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Logf("%s %s: %v", c.name, dns.TypeToString[c.qtype], got)
				return false
			}
			return true
		})
	}
}

// TestHAProxySeesSRVWeights: HAProxy's server-template follows the SRV
// records of two replicas and takes their weights from the records, as
// its stats socket reports; a replica labelled weight 0 is drained.
func TestHAProxySeesSRVWeights(t *testing.T) {
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	image := l.HostnameImage()
	alias := l.Name("api")
	replica := func(suffix, weight string) string {
		return l.ip(l.Run(suffix, "--network", l.net, "--network-alias", alias, "--hostname", l.Name(suffix),
			"--label", "dockerhosts.srv=http:8080/tcp", "--label", "dockerhosts.srv.weight="+weight, image), l.net)
	}
	heavy, light, drained := replica("heavy", "2560"), replica("light", "256"), replica("drained", "0")
	srvName := "_http._tcp." + fqdn(alias)
	await.True(t, dockerWithin, srvName+" has three records", func() bool {
		return len(s.exchange(t, "udp", srvName, dns.TypeSRV).Answer) == 3
	})

	sock := filepath.Join(t.TempDir(), "haproxy.sock")
	startHAProxy(t, "global\n    stats socket "+sock+" level admin\n"+followSRV(s.udp, strings.TrimSuffix(srvName, ".")))
	// HAProxy scales an SRV weight (0-65535) to its own (0-256), rounding
	// up: 2560 is 10, 256 is 1, and 0 stays 0.
	want := map[string]int{heavy: 10, light: 1, drained: 0}
	await.True(t, dockerWithin, fmt.Sprintf("haproxy reports the weights %v", want), func() bool {
		got := haproxyWeights(t, sock, "app")
		for ip, w := range want {
			if g, ok := got[ip]; !ok || g != w {
				t.Logf("haproxy reports %v", got)
				return false
			}
		}
		return true
	})
}

// haproxyWeights asks HAProxy's stats socket for the servers of backend and
// returns each address's user weight.
func haproxyWeights(t *testing.T, sock, backend string) map[string]int {
	t.Helper()
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		t.Logf("stats socket: %v", err)
		return nil
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "show servers state %s\n", backend)
	out := map[string]int{}
	var cols []string
	for sc := bufio.NewScanner(c); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "# be_id"):
			cols = strings.Fields(strings.TrimPrefix(line, "#"))
		case line == "" || strings.HasPrefix(line, "#") || cols == nil:
		default:
			f := strings.Fields(line)
			addr, weight := slices.Index(cols, "srv_addr"), slices.Index(cols, "srv_uweight")
			if addr < 0 || weight < 0 || len(f) <= max(addr, weight) {
				continue
			}
			if w, err := strconv.Atoi(f[weight]); err == nil {
				out[f[addr]] = w
			}
		}
	}
	return out
}

// TestExposedPortSRVOnTheNetworks: a container's ports answer SRV at the
// container and its container port to a client on its network, while the
// host (elsewhere) keeps the published host port; a port only exposed is
// no record for the host.
func TestExposedPortSRVOnTheNetworks(t *testing.T) {
	dig := dockertest.NeedProgram(t, "dig", "bind9-dnsutils")
	nsenter := dockertest.NeedProgram(t, "nsenter", "util-linux")
	l := newDockerLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	db := l.Name("db")
	id := l.run("db", "--expose", "9187", "-p", "127.0.0.1::5432")
	published := l.Docker("port", id, "5432/tcp")
	_, hostPort, _ := strings.Cut(strings.Split(published, "\n")[0], ":")
	gateway := l.subnet.Masked().Addr().Next().String() // Docker's default gateway: the first address
	_, port, _ := net.SplitHostPort(s.udp)
	pid := l.Docker("inspect", "--format", "{{.State.Pid}}", l.run("client"))

	// fromClient asks as the client container does: from its network
	// namespace, to the server on the network's gateway.
	fromClient := func(name string) string {
		out, err := exec.Command(nsenter, "--net=/proc/"+pid+"/ns/net", dig, "+short", "+tries=1", "+time=1",
			"@"+gateway, "-p", port, "SRV", name).CombinedOutput()
		if err != nil {
			t.Logf("dig from the client: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	fromHost := func(name string) string {
		var out []string
		for _, rr := range s.exchange(t, "udp", name, dns.TypeSRV).Answer {
			out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
		return strings.Join(out, "\n")
	}
	for _, c := range []struct {
		from       string
		ask        func(string) string
		name, want string
	}{
		{"the client", fromClient, "_5432._tcp." + fqdn(db), "10 10 5432 " + fqdn(db)},
		{"the client", fromClient, "_9187._tcp." + fqdn(db), "10 10 9187 " + fqdn(db)},
		{"the host", fromHost, "_5432._tcp." + fqdn(db), "10 10 " + hostPort + " 127-0-0-1.host.docker."},
		{"the host", fromHost, "_9187._tcp." + fqdn(db), ""},
	} {
		await.True(t, dockerWithin, fmt.Sprintf("%s asking %s gets %q", c.from, c.name, c.want), func() bool {
			got := c.ask(c.name)
			if got != c.want {
				t.Logf("%s: %s: %q", c.from, c.name, got)
			}
			return got == c.want
		})
	}
	// The host's empty answer is NODATA: the name exists for others.
	if r := s.exchange(t, "udp", "_9187._tcp."+fqdn(db), dns.TypeSRV); r.Rcode != dns.RcodeSuccess || len(r.Ns) == 0 {
		t.Errorf("the host asking for an exposed-only port: %s, want NODATA with SOA", dns.RcodeToString[r.Rcode])
	}
}
