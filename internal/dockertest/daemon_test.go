package dockertest

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/await"
)

func TestDaemonContainersAreItsOwn(t *testing.T) {
	e := Require(t)
	d := e.StartDaemon(DaemonOptions{})
	image := e.IdleImage()
	d.CopyImage(image)
	network := d.Network("net")
	name := d.Name("idle")
	d.Run("idle", "--network", network, image)

	if got := d.Docker("ps", "--quiet", "--filter", "name=^"+name+"$"); got == "" {
		t.Errorf("container %s is not running on the second engine", name)
	}
	if _, err := e.TryDocker("container", "inspect", name); err == nil {
		t.Errorf("container %s of the second engine is visible on the machine's", name)
	}
	subnet := d.Docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", network)
	if p, err := netip.ParsePrefix(subnet); err != nil || !d.Pool().Contains(p.Addr()) {
		t.Errorf("network %s got subnet %q, want one in the daemon's pool %s", network, subnet, d.Pool())
	}
	_, gateway, _ := d.Bridge()
	if got := d.Docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "bridge"); got != gateway.String() {
		t.Errorf("default bridge gateway is %q, want the test's bridge %s", got, gateway)
	}
}

func TestDaemonRestartWithLiveRestoreKeepsContainers(t *testing.T) {
	e := Require(t)
	d := e.StartDaemon(DaemonOptions{LiveRestore: true})
	image := e.IdleImage()
	d.CopyImage(image)
	survivor := d.Run("survivor", image)
	victim := d.Run("victim", image)
	victimPID := d.Docker("inspect", "--format", "{{.State.Pid}}", victim)

	stop := time.Now()
	d.Stop()
	t.Logf("stop took %s", time.Since(stop))
	// Dies while the daemon is down: no one is there to see it.
	pid := atoi(t, victimPID)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d.Start()
	t.Logf("start took %s", time.Since(start))

	if got := d.Docker("inspect", "--format", "{{.State.Status}}", survivor); got != "running" {
		t.Errorf("after a live-restore restart the survivor is %q, want running", got)
	}
	if got := d.Docker("inspect", "--format", "{{.State.Status}}", victim); got != "exited" {
		t.Errorf("a container killed while the daemon was down is %q, want exited", got)
	}
}

func TestDaemonPublishedPortOnLoopback(t *testing.T) {
	e := Require(t)
	d := e.StartDaemon(DaemonOptions{})
	image := e.HostnameImage()
	d.CopyImage(image)
	id := d.Run("web", "--publish", "127.0.0.2::8080", image)
	port := d.Docker("port", id, "8080/tcp") // "127.0.0.2:49153"

	client := &http.Client{Timeout: time.Second}
	var body string
	await.True(t, 10*time.Second, "published port "+port+" answers", func() bool {
		resp, err := client.Get("http://" + port + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		body = strings.TrimSpace(string(data))
		return err == nil
	})
	if body != id[:12] {
		t.Errorf("published port %s answered %q, want the container's hostname %s", port, body, id[:12])
	}
}

// TestDaemonCleanupLeavesNothing runs tests that end in each hard way, with
// a daemon that has a running container, a user network and a published
// port, and then checks from outside that nothing of it is left.
func TestDaemonCleanupLeavesNothing(t *testing.T) {
	Require(t)
	docker0 := addrsOf("docker0")
	for _, ending := range []string{"pass", "failnow", "panic", "stopped"} {
		t.Run(ending, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonEndsBadly$", "-test.v")
			cmd.Env = append(os.Environ(), daemonEndingEnv+"="+ending)
			out, err := cmd.CombinedOutput()
			wantFail := ending == "failnow" || ending == "panic"
			if (err != nil) != wantFail {
				t.Errorf("test that ends with %s: err %v, want failure %v; output:\n%s", ending, err, wantFail, out)
			}
			m := regexp.MustCompile(`second dockerd (\w+) started`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no daemon started; output:\n%s", out)
			}
			for _, problem := range leftovers(string(m[1]), docker0) {
				t.Error(problem)
			}
		})
	}
}

// daemonEndingEnv tells TestDaemonEndsBadly, run by
// TestDaemonCleanupLeavesNothing in a test binary of its own, how to end.
const daemonEndingEnv = "DOCKERHOSTS_DAEMON_TEST_ENDING"

func TestDaemonEndsBadly(t *testing.T) {
	ending := os.Getenv(daemonEndingEnv)
	if ending == "" {
		t.Skip("run by TestDaemonCleanupLeavesNothing")
	}
	e := Require(t)
	d := e.StartDaemon(DaemonOptions{LiveRestore: true})
	image := e.HostnameImage()
	d.CopyImage(image)
	d.Run("web", "--network", d.Network("net"), "--publish", "127.0.0.2::8080", image)
	switch ending {
	case "failnow":
		t.FailNow()
	case "panic":
		panic("test panics with a second dockerd running")
	case "stopped": // the daemon is down, its container alive
		d.Stop()
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
