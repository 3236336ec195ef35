package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/serial"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/knottest"
)

// TestRestartNeverMakesTheSecondaryRefuseTheZone restarts the binary, a
// primary of docker. with Knot as its secondary, right after a burst of
// changes, at once and after a pause, each time with a changed hosts file: Knot must take every new start's data,
// never see the serial go back ("remote is outdated"), and its serial must
// only increase. A restarted process knows nothing of the previous one.
func TestRestartNeverMakesTheSecondaryRefuseTheZone(t *testing.T) {
	knot := knottest.New(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	primary := knottest.FreeAddr(t)
	_, port, _ := net.SplitHostPort(primary)
	corefile := filepath.Join(dir, "Corefile")
	writeFile(t, corefile, fmt.Sprintf("docker.:%s {\n\tbind 127.0.0.1\n\ttransfer {\n\t\tto %s\n\t}\n\tdockerhosts {\n\t\thostsfile %s\n\t}\n}\n", port, knot.Addr, hosts))

	var server *exec.Cmd
	var serverLog strings.Builder
	stop := func() {
		if server != nil {
			server.Process.Signal(syscall.SIGTERM)
			server.Wait()
			server = nil
		}
	}
	// Registered before the first start: the server stops whatever happens.
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("server output:\n%s", serverLog.String())
		}
	})
	start := func() {
		server = exec.Command(bin, "-conf", corefile)
		server.Stdout, server.Stderr = &serverLog, &serverLog
		if err := server.Start(); err != nil {
			t.Fatal(err)
		}
	}
	knotA := func() string {
		r, err := knot.Query("appsrv1.docker.", dns.TypeA)
		if err != nil || len(r.Answer) != 1 {
			return ""
		}
		return r.Answer[0].(*dns.A).A.String()
	}

	writeFile(t, hosts, "172.17.0.1 appsrv1\n")
	start()
	knot.Start(t, primary, "docker.")
	await.True(t, 10*time.Second, "Knot loads the zone", func() bool { return knotA() == "172.17.0.1" })
	last, _ := knot.Serial("docker.")

	for i, pause := range []time.Duration{0, 0, 1500 * time.Millisecond} {
		// A burst of changes just before the stop: serials must not run
		// ahead of the clock, or the next start would go back.
		for j := range 20 {
			writeFile(t, hosts, fmt.Sprintf("172.17.1.%d appsrv1\n", j))
			time.Sleep(5 * time.Millisecond)
		}
		stop()
		time.Sleep(pause)
		want := fmt.Sprintf("172.17.0.%d", i+2)
		writeFile(t, hosts, want+" appsrv1\n")
		start()
		await.True(t, 10*time.Second, fmt.Sprintf("restart %d: Knot serves %s", i, want), func() bool { return knotA() == want })
		s, _ := knot.Serial("docker.")
		if !serial.Less(last, s) {
			t.Fatalf("restart %d: Knot's serial went from %d to %d", i, last, s)
		}
		last = s
	}
	if strings.Contains(knot.Log(), "remote is outdated") {
		t.Fatalf("Knot saw the serial go back:\n%s", knot.Log())
	}
	t.Logf("zone status: %s", strings.TrimSpace(knot.ZoneStatus("docker.")))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
