package dockerhosts

import (
	"testing"
)

// TestPodmanHealthServiceName: the health rules on Podman. Podman 4.3 runs
// health checks from systemd timers; the test drives each check itself with
// `podman healthcheck run` (the interval is an hour, so that a host with
// systemd runs none meanwhile), and each check sends a bare health_status
// event. The alias answers the container only while Podman says healthy;
// its name answers all along. Podman's kill event does not say which
// signal was sent, so a kill -s HUP (a reload) leaves the alias; a stop
// sends no event until the container exits, and then withdraws both names.
func TestPodmanHealthServiceName(t *testing.T) {
	l := newPodmanLab(t)
	s := startCoreDNS(t, podmanCorefile())
	name, alias := fqdn(l.Name("app")), fqdn(l.Name("svc"))
	app := l.Run("app", "--network", l.net, "--network-alias", l.Name("svc"),
		"--health-cmd", `["/hostname", "check"]`, "--health-interval", "1h", "--health-retries", "1",
		"--env", "DRAIN=2s", l.HostnameImage())
	ip := l.ip(app, l.net)
	check := func(want string) {
		t.Helper()
		out, _ := l.TryDocker("healthcheck", "run", app) // exits 1 when unhealthy
		if got := l.Docker("inspect", "--format", "{{.State.Health.Status}}", app); got != want {
			t.Fatalf("after podman healthcheck run (%q): health %q, want %q", out, got, want)
		}
	}

	// No check has run: starting, not ready.
	s.waitA(t, name, ip)
	if !s.nodata(t, alias) {
		t.Errorf("%s answers a container whose health check has not run", alias)
	}

	check("healthy")
	s.waitA(t, alias, ip)

	l.Docker("exec", app, "/hostname", "sick")
	check("unhealthy")
	s.waitNODATA(t, alias)
	if !s.answersA(t, "udp", name, ip) {
		t.Error("the name of an unhealthy container does not answer")
	}

	l.Docker("exec", app, "/hostname", "well")
	check("healthy")
	s.waitA(t, alias, ip)

	l.Docker("kill", "--signal", "HUP", app)
	// Events apply in order: once a container started after the HUP is
	// served, the HUP has been applied too.
	marker := l.run("marker")
	s.waitA(t, fqdn(l.Name("marker")), l.ip(marker, l.net))
	if !s.answersA(t, "udp", alias, ip) {
		t.Fatalf("%s left after a SIGHUP", alias)
	}

	l.Docker("stop", "--time", "30", app)
	s.waitNXDOMAIN(t, alias)
	s.waitNXDOMAIN(t, name)
}
