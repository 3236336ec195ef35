package dockerhosts

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
	"github.com/dockerhosts/dockerhosts/internal/testkit/knottest"
)

// healthProbe is how often the health image's check runs in these tests.
const healthProbe = "--health-interval=250ms"

// nodata reports whether name's A question gets an authoritative NODATA
// with the SOA: the name exists, no container behind it can take traffic.
func (s *coreDNS) nodata(t *testing.T, name string) bool {
	t.Helper()
	r := s.exchange(t, "udp", name, dns.TypeA)
	return r.Rcode == dns.RcodeSuccess && r.Authoritative && len(r.Answer) == 0 &&
		len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
}

func (s *coreDNS) waitNODATA(t *testing.T, name string) {
	t.Helper()
	await.True(t, dockerWithin, name+" is NODATA", func() bool { return s.nodata(t, name) })
}

// healthLab runs containers of the health image on the lab's network.
type healthLab struct {
	*dockerLab
	image string
}

func newHealthLab(t *testing.T) *healthLab {
	l := newDockerLab(t)
	return &healthLab{dockerLab: l, image: l.HealthImage()}
}

// run starts a health-image container named after suffix with a network
// alias, the given warm-up, and more docker run options.
func (l *healthLab) run(suffix, alias string, warmup time.Duration, args ...string) string {
	l.t.Helper()
	opts := []string{"--network", l.net, "--network-alias", alias, "--env", "WARMUP=" + warmup.String()}
	if !slices.Contains(args, "--no-healthcheck") {
		opts = append(opts, healthProbe)
	}
	return l.Run(suffix, append(append(opts, args...), l.image)...)
}

func (l *healthLab) health(id string) string {
	l.t.Helper()
	return l.Docker("inspect", "--format", "{{.State.Health.Status}}", id)
}

// TestHealthServiceNameFollowsTheCheck: the alias answers the container only
// while Docker says it is healthy; its own name answers all along.
func TestHealthServiceNameFollowsTheCheck(t *testing.T) {
	l := newHealthLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	alias := l.Name("svc")
	app := l.run("app", alias, 3*time.Second)
	ip := l.ip(app, l.net)

	// Warm-up: the identity name answers, the service name exists empty.
	s.waitA(t, fqdn(l.Name("app")), ip)
	if h := l.health(app); h == "healthy" {
		t.Fatalf("the container is already %s: the warm-up is too short to test", h)
	}
	if !s.nodata(t, fqdn(alias)) {
		t.Errorf("%s answers a container that is %s", alias, l.health(app))
	}

	s.waitA(t, fqdn(alias), ip)
	if h := l.health(app); h != "healthy" {
		t.Errorf("%s answers while the container is %s", alias, h)
	}

	l.Docker("exec", app, "/hostname", "sick")
	s.waitNODATA(t, fqdn(alias))
	if !s.answersA(t, "udp", fqdn(l.Name("app")), ip) {
		t.Error("the identity name of an unhealthy container does not answer")
	}
	if names, _ := s.ptr(t, "udp", ip); len(names) != 1 {
		t.Errorf("PTR of an unhealthy container: %v", names)
	}

	l.Docker("exec", app, "/hostname", "well")
	s.waitA(t, fqdn(alias), ip)
}

// TestHealthTurnedOff: the label <prefix>.health=ignore, or the block
// property health off, serves the service name of a container that is
// still warming up.
func TestHealthTurnedOff(t *testing.T) {
	l := newHealthLab(t)
	on := startCoreDNS(t, dockerCorefile("", nil))
	off := startCoreDNS(t, dockerCorefile("", []string{"health off"}))
	ignored, followed := l.Name("ignored"), l.Name("followed")
	ign := l.run("ign", ignored, time.Hour, "--label", "dockerhosts.health=ignore")
	fol := l.run("fol", followed, time.Hour)

	on.waitA(t, fqdn(ignored), l.ip(ign, l.net))
	off.waitA(t, fqdn(followed), l.ip(fol, l.net))
	on.waitA(t, fqdn(l.Name("fol")), l.ip(fol, l.net))
	if !on.nodata(t, fqdn(followed)) {
		t.Errorf("%s answers a starting container with health on", followed)
	}
}

// TestHealthStopRequestAndReload: `docker kill -s HUP` (a reload) keeps the
// container in its service name; `docker stop` withdraws it at once, while
// it drains, not when it exits; pause withdraws it until unpause.
func TestHealthStopRequestAndReload(t *testing.T) {
	l := newHealthLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	alias := l.Name("svc")
	// No health check here: ready as soon as it runs; a long drain.
	app := l.run("app", alias, 0, "--no-healthcheck", "--env", "DRAIN=30s")
	ip := l.ip(app, l.net)
	s.waitA(t, fqdn(alias), ip)

	l.Docker("kill", "--signal", "HUP", app)
	// Events apply in order: once a container started after the HUP is
	// served, the HUP has been applied too.
	marker := l.dockerLab.run("marker")
	s.waitA(t, fqdn(l.Name("marker")), l.ip(marker, l.net))
	if !s.answersA(t, "udp", fqdn(alias), ip) {
		t.Fatalf("%s left after a SIGHUP", alias)
	}

	l.Docker("pause", app)
	s.waitNODATA(t, fqdn(alias))
	if !s.answersA(t, "udp", fqdn(l.Name("app")), ip) {
		t.Error("the identity name of a paused container does not answer")
	}
	l.Docker("unpause", app)
	s.waitA(t, fqdn(alias), ip)

	stopped := make(chan error, 1)
	go func() {
		_, err := l.TryDocker("stop", "--time", "60", app)
		stopped <- err
	}()
	t.Cleanup(func() { l.TryDocker("kill", app); <-stopped })
	s.waitNODATA(t, fqdn(alias))
	if running := l.Docker("inspect", "--format", "{{.State.Running}}", app); running != "true" {
		t.Fatalf("the container is no longer running (%s): the withdrawal was not at the stop request", running)
	}
	if !s.answersA(t, "udp", fqdn(l.Name("app")), ip) {
		t.Error("the identity name of a draining container does not answer")
	}
}

// TestHealthRecoveredByResync: a container that became healthy while the
// engine was out of reach answers its service name after the resync.
func TestHealthRecoveredByResync(t *testing.T) {
	l := newHealthLab(t)
	proxy := dockertest.StartProxy(t, dockertest.EngineSocket(), dockertest.PassThrough)
	s := startCoreDNS(t, dockerCorefile(proxy.Endpoint(), nil))
	alias := l.Name("svc")
	app := l.run("app", alias, 3*time.Second)
	ip := l.ip(app, l.net)
	s.waitA(t, fqdn(l.Name("app")), ip)
	if !s.nodata(t, fqdn(alias)) {
		t.Fatalf("%s answers during the warm-up", alias)
	}

	proxy.Cut()
	await.True(t, dockerWithin, "the container becomes healthy", func() bool { return l.health(app) == "healthy" })
	// Past the window the new subscription replays (sinceMargin, 5 s): the
	// health_status event is lost, only the resync's inspect can tell.
	time.Sleep(6 * time.Second)
	if !s.nodata(t, fqdn(alias)) {
		t.Fatalf("%s changed while the engine was cut", alias)
	}
	proxy.Restore()
	s.waitA(t, fqdn(alias), ip)
}

// TestHealthSRVFollowsReadiness: the SRV record at a service name follows
// it: the name exists empty while no replica is ready.
func TestHealthSRVFollowsReadiness(t *testing.T) {
	l := newHealthLab(t)
	s := startCoreDNS(t, dockerCorefile("", nil))
	alias := l.Name("svc")
	l.run("app", alias, time.Hour, "--label", "dockerhosts.srv=http:8080/tcp")
	srvName := "_http._tcp." + fqdn(alias)
	own := "_http._tcp." + fqdn(l.Name("app"))
	await.True(t, dockerWithin, own+" answers", func() bool {
		return len(s.exchange(t, "udp", own, dns.TypeSRV).Answer) == 1
	})
	r := s.exchange(t, "udp", srvName, dns.TypeSRV)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Errorf("%s of a starting container: want NODATA, got %s", srvName, fmt.Sprint(r))
	}
}

// TestHealthZoneTransferCarriesWhatIsServed: a secondary (Knot) must not
// hand out a starting container: the alias reaches it by NOTIFY once the
// container is healthy, and its identity name all along.
func TestHealthZoneTransferCarriesWhatIsServed(t *testing.T) {
	l := newHealthLab(t)
	knot := knottest.New(t)
	addr := knottest.FreeAddr(t)
	s := startCoreDNS(t, fmt.Sprintf(`docker.:%s {
		bind 127.0.0.1
		transfer {
			to %s
		}
		dockerhosts {
			docker
		}
	}`, portOf(addr), knot.Addr))
	alias := l.Name("svc")
	app := l.run("app", alias, 5*time.Second)
	ip := l.ip(app, l.net)
	s.waitA(t, fqdn(l.Name("app")), ip)
	knot.Start(t, addr, "docker.")
	knotA := func(name string) []string {
		r, err := knot.Query(name, dns.TypeA)
		if err != nil {
			return nil
		}
		return answerA(r)
	}
	await.True(t, dockerWithin, "Knot serves the identity name", func() bool {
		return slices.Equal(knotA(fqdn(l.Name("app"))), []string{ip})
	})
	if l.health(app) != "healthy" {
		for _, rr := range axfr(t, addr, "docker.") {
			if rr.Header().Name == fqdn(alias) {
				t.Errorf("AXFR during the warm-up carries %v", rr)
			}
		}
		if got := knotA(fqdn(alias)); len(got) != 0 {
			t.Errorf("Knot answers %s with %v during the warm-up", alias, got)
		}
	}
	await.True(t, dockerWithin, "Knot serves the alias once healthy", func() bool {
		return slices.Equal(knotA(fqdn(alias)), []string{ip})
	})
}

// TestHealthSwarmTaskServedOnceHealthy: Swarm's own rule agrees with ours: a
// task whose container is still starting is not running, so tasks.<svc>
// does not answer it until Docker says it is healthy.
func TestHealthSwarmTaskServedOnceHealthy(t *testing.T) {
	l := newSwarmLab(t)
	image := l.HealthImage()
	// A start period: Swarm replaces a task whose container turns
	// unhealthy, as a failed check during the warm-up would make it.
	svc := l.Service("health", "--network", l.net, "--endpoint-mode", "dnsrr", "--health-interval", "250ms",
		"--health-start-period", "20s", "--env", "WARMUP=4s", image)
	var ctr string
	await.True(t, swarmWithin, "the task's container exists", func() bool {
		ctr, _ = l.TryDocker("ps", "--quiet", "--filter", "label=com.docker.swarm.service.name="+svc)
		return ctr != "" && !strings.Contains(ctr, "\n")
	})
	sawStarting := false
	await.True(t, swarmWithin, "the task's container is healthy", func() bool {
		answered := len(answerA(l.dns.exchange(t, "udp", fqdn("tasks."+svc), dns.TypeA))) > 0
		health, _ := l.TryDocker("inspect", "--format", "{{.State.Health.Status}}", ctr)
		if answered && health != "healthy" {
			t.Fatalf("tasks.%s answers a task whose container is %s", svc, health)
		}
		sawStarting = sawStarting || health == "starting"
		return health == "healthy"
	})
	if !sawStarting {
		t.Error("the container was never seen starting: the warm-up is too short to test")
	}
	l.dns.waitA(t, fqdn("tasks."+svc), l.taskAddrs(l.tasks(svc, 1))...)
}
