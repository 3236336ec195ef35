package dockerhosts

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/coredns/caddy"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// twoEngines is the machine's engine ("main", through l) and a second
// dockerd of the test's own ("second", d), served by one resolver.
type twoEngines struct {
	l    *dockerLab
	d    *dockertest.Daemon
	net2 string // a user network on the second engine
	s    *coreDNS
}

func startTwoEngines(t *testing.T, props ...string) *twoEngines {
	t.Helper()
	l := newDockerLab(t)
	d := l.StartDaemon(dockertest.DaemonOptions{LiveRestore: true})
	d.CopyImage(l.image)
	w := &twoEngines{l: l, d: d, net2: d.Network("n2")}
	w.s = startCoreDNS(t, dockerCorefile("unix://"+dockertest.EngineSocket()+" main",
		append([]string{"docker " + d.Host() + " second"}, props...)))
	return w
}

// run2 starts a container on the second engine's user network.
func (w *twoEngines) run2(suffix string, args ...string) string {
	w.l.t.Helper()
	return w.d.Run(suffix, append(append([]string{"--network", w.net2}, args...), w.l.image)...)
}

func (w *twoEngines) ip2(id string) string {
	w.l.t.Helper()
	ip := w.d.Docker("inspect", "--format", fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, w.net2), id)
	if ip == "" {
		w.l.t.Fatalf("container %.12s has no address on %s", id, w.net2)
	}
	return ip
}

// TestTwoEnginesOneZone: containers of two real engines answer from one
// resolver; a name on both answers both addresses, <name>.<engine> one.
// Then the second engine goes through a real daemon restart (SIGTERM, start
// again, live-restore): the first engine keeps answering and following, the
// second's running containers keep their last address, and after it returns
// a container that died meanwhile (no event) is gone and one restarted onto
// a new address is answered there, never at its old one.
func TestTwoEnginesOneZone(t *testing.T) {
	w := startTwoEngines(t)
	l, d, s := w.l, w.d, w.s

	webMain := l.ip(l.run("web"), l.net)
	webSecond := w.ip2(w.run2("web"))
	web := l.Name("web")
	s.waitA(t, fqdn(web), webMain, webSecond)
	s.waitA(t, web+".main.docker.", webMain)
	s.waitA(t, web+".second.docker.", webSecond)

	doomed := w.run2("doomed")
	doomedIP := w.ip2(doomed)
	mover := w.run2("mover")
	moverOld := w.ip2(mover)
	s.waitA(t, fqdn(l.Name("doomed")), doomedIP)
	s.waitA(t, fqdn(l.Name("mover")), moverOld)

	// The second engine goes down. With live-restore its containers run
	// on; one dies while nobody watches.
	pid, err := strconv.Atoi(d.Docker("inspect", "--format", "{{.State.Pid}}", doomed))
	if err != nil || pid <= 0 {
		t.Fatalf("pid of doomed: %d, %v", pid, err)
	}
	d.Stop()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill doomed (pid %d): %v", pid, err)
	}
	await.True(t, dockerWithin, "doomed's process gone", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		return os.IsNotExist(err)
	})

	// Meanwhile: the first engine follows, the second's names keep their
	// last, right addresses.
	late := l.ip(l.run("late"), l.net)
	s.waitA(t, fqdn(l.Name("late")), late)
	for name, ip := range map[string]string{web + ".second.docker.": webSecond, fqdn(l.Name("mover")): moverOld} {
		if !s.answersA(t, "udp", name, ip) {
			t.Errorf("while the second engine is down, %s does not answer its last address %s", name, ip)
		}
	}

	d.Start()
	// The resync finds doomed Exited (no event ever said so).
	s.waitNXDOMAIN(t, fqdn(l.Name("doomed")))

	// mover restarts onto a new address: a squatter takes its old one.
	d.Docker("stop", "--time", "1", mover)
	s.waitNXDOMAIN(t, fqdn(l.Name("mover")))
	w.run2("squatter", "--ip", moverOld)
	d.Docker("start", mover)
	moverNew := w.ip2(mover)
	if moverNew == moverOld {
		t.Fatalf("mover got its old address %s back despite the squatter", moverOld)
	}
	s.waitA(t, fqdn(l.Name("mover")), moverNew)
	s.waitA(t, fqdn(l.Name("squatter")), moverOld)
	for range 20 {
		if ips := answerA(s.exchange(t, "udp", fqdn(l.Name("mover")), 1)); strings.Contains(strings.Join(ips, ","), moverOld) {
			t.Fatalf("mover answers its old address %s (now the squatter's): %v", moverOld, ips)
		}
	}
}

// TestDockerUpAfterAReload: a Corefile reload starts the new instance before
// it stops the old one; docker_up{engine} must read 1 afterwards, not the 0
// the old instance leaves as it stops.
func TestDockerUpAfterAReload(t *testing.T) {
	l := newDockerLab(t)
	corefile := func(ttl int) string {
		return dockerCorefile("unix://"+dockertest.EngineSocket()+" reloaded", []string{fmt.Sprintf("ttl %d", ttl)})
	}
	s := startCoreDNS(t, corefile(5))
	id := l.run("app")
	s.waitA(t, fqdn(l.Name("app")), l.ip(id, l.net))
	up := func() float64 { return gathered(t, "coredns_dockerhosts_docker_up", "engine", "reloaded") }
	await.True(t, dockerWithin, "docker_up 1 before the reload", func() bool { return up() == 1 })

	inst, err := s.inst.Restart(caddy.CaddyfileInput{Contents: []byte(corefile(6)), ServerTypeName: "dns"})
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	s.inst = inst
	s.addrs(t)
	s.waitA(t, fqdn(l.Name("app")), l.ip(id, l.net))
	if got := up(); got != 1 {
		t.Errorf("docker_up after the reload: %v, want 1", got)
	}
}
