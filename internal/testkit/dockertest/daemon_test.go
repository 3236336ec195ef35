package dockertest

import (
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

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
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
	idle, web := e.IdleImage(), e.HostnameImage()
	d.CopyImage(idle)
	d.CopyImage(web)
	survivor := d.Run("survivor", "--publish", "127.0.0.2::8080", web)
	port := d.Docker("port", survivor, "8080/tcp")
	victim := d.Run("victim", idle)
	victimPID := d.Docker("inspect", "--format", "{{.State.Pid}}", victim)

	stop := time.Now()
	d.Stop()
	t.Logf("stop took %s", time.Since(stop))
	// Dies while the daemon is down: no one is there to see it.
	if err := syscall.Kill(atoi(victimPID), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d.Start()
	t.Logf("start took %s", time.Since(start))

	if got := d.Docker("inspect", "--format", "{{.State.Status}}", survivor); got != "running" {
		t.Errorf("after a live-restore restart the survivor is %q, want running", got)
	}
	if got := httpGet(t, port); got != survivor[:12] {
		t.Errorf("after a live-restore restart port %s answered %q, want %s", port, got, survivor[:12])
	}
	// The daemon may still call it running for a moment after its API is
	// back: it learns of the exit from its containerd.
	await.True(t, 10*time.Second, "a container killed while the daemon was down comes back exited", func() bool {
		return d.Docker("inspect", "--format", "{{.State.Status}}", victim) == "exited"
	})
}

func TestDaemonPublishedPortOnLoopback(t *testing.T) {
	e := Require(t)
	d := e.StartDaemon(DaemonOptions{})
	image := e.HostnameImage()
	d.CopyImage(image)
	id := d.Run("web", "--publish", "127.0.0.2::8080", image)
	port := d.Docker("port", id, "8080/tcp") // "127.0.0.2:49153"

	if body := httpGet(t, port); body != id[:12] {
		t.Errorf("published port %s answered %q, want the container's hostname %s", port, body, id[:12])
	}
}

// httpGet returns the trimmed body that http://addr/ answers, waiting for
// the server to come up.
func httpGet(t *testing.T, addr string) string {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	var body string
	await.True(t, 10*time.Second, "http://"+addr+"/ answers", func() bool {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		body = strings.TrimSpace(string(data))
		return err == nil
	})
	return body
}

// TestDaemonCleanupLeavesNothing runs tests that end in each hard way, with
// a daemon that has a running container, a user network and a published
// port, and then checks from outside that nothing of it is left.
func TestDaemonCleanupLeavesNothing(t *testing.T) {
	// The image is the parent's, so that its sweep removes it even after a
	// child that was killed.
	image := Require(t).HostnameImage()
	docker0 := addrsOf("docker0")
	for _, ending := range []string{"pass", "failnow", "panic", "stopped", "killed"} {
		t.Run(ending, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonEndsBadly$", "-test.v")
			cmd.Env = append(os.Environ(), daemonEndingEnv+"="+ending, daemonImageEnv+"="+image)
			out, err := cmd.CombinedOutput()
			if wantFail := ending != "pass" && ending != "stopped"; (err != nil) != wantFail {
				t.Errorf("test that ends with %s: err %v, want failure %v; output:\n%s", ending, err, wantFail, out)
			}
			m := regexp.MustCompile(`second dockerd (\w+) started .*pool ([0-9./]+)\)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no daemon started; output:\n%s", out)
			}
			id, pool := string(m[1]), netip.MustParsePrefix(string(m[2]))
			if ending == "killed" { // no cleanup ran: the next StartDaemon reaps
				if len(leftovers(id, pool, docker0)) == 0 {
					t.Error("a killed test left nothing to reap")
				}
				reapAbandoned(t)
			}
			for _, problem := range leftovers(id, pool, docker0) {
				t.Error(problem)
			}
		})
	}
}

// daemonEndingEnv tells TestDaemonEndsBadly, run by
// TestDaemonCleanupLeavesNothing in a test binary of its own, how to end;
// daemonImageEnv which image of the machine's engine to run.
const (
	daemonEndingEnv = "DOCKERHOSTS_DAEMON_TEST_ENDING"
	daemonImageEnv  = "DOCKERHOSTS_DAEMON_TEST_IMAGE"
)

func TestDaemonEndsBadly(t *testing.T) {
	ending := os.Getenv(daemonEndingEnv)
	if ending == "" {
		t.Skip("run by TestDaemonCleanupLeavesNothing")
	}
	d := Require(t).StartDaemon(DaemonOptions{LiveRestore: true})
	image := os.Getenv(daemonImageEnv)
	d.CopyImage(image)
	d.Run("web", "--network", d.Network("net"), "--publish", "127.0.0.2::8080", image)
	switch ending {
	case "failnow":
		t.FailNow()
	case "panic":
		panic("test panics with a second dockerd running")
	case "stopped": // the daemon is down, its container alive
		d.Stop()
	case "killed": // as by go test -timeout: no cleanup runs
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
}
