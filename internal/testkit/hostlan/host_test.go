//go:build linux

package hostlan

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// TestHostResolvesThroughGlibc is the host whose /etc/resolv.conf is the
// shipped recipe: glibc (getent) and curl find web.docker, its reverse, and
// follow it when it moves; a name that does not exist fails at once.
func TestHostResolvesThroughGlibc(t *testing.T) {
	RequirePrograms(t, "getent", "curl")
	lan, res := webLAN(t)
	host := lan.Machine("host", clientAddr)
	host.WriteResolvConf(recipe(t, "resolv.conf", resolverAddr))

	want := webAddr.String()
	if out, err := host.Run("getent", "hosts", "web.docker"); err != nil || !strings.HasPrefix(out, want+" ") {
		t.Errorf("getent hosts web.docker = %q, %v; want %s", out, err, want)
	}
	// ahosts asks A and AAAA: the AAAA is NODATA, so only IPv4 lines come back.
	out, err := host.Run("getent", "ahosts", "web.docker")
	if err != nil {
		t.Errorf("getent ahosts web.docker: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, want+" ") {
			t.Errorf("getent ahosts web.docker: line %q, want only %s", line, want)
		}
	}
	if out, err := host.Run("getent", "hosts", want); err != nil || strings.Join(strings.Fields(out), " ") != want+" web.docker" {
		t.Errorf("getent hosts %s (PTR) = %q, %v; want %s web.docker", want, out, err, want)
	}
	if got := curl(t, host, "http://web.docker:"+webPort+"/"); got != want {
		t.Errorf("curl http://web.docker: reached %q, want %s", got, want)
	}
	// The recipe's `search docker` lets short names work.
	if got := curl(t, host, "http://web:"+webPort+"/"); got != want {
		t.Errorf("curl http://web (search docker): reached %q, want %s", got, want)
	}

	// An authoritative NXDOMAIN: no timeouts, no retries. glibc's exit
	// status 2 is "not found"; a resolver timeout would take seconds.
	start := time.Now()
	_, err = host.Run("getent", "hosts", "nosuch.docker")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("getent hosts nosuch.docker: %v, want exit status 2 (not found)", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("getent hosts nosuch.docker took %s: a missing name must fail fast", took.Round(time.Millisecond))
	}

	// glibc keeps no cache: the new address is there once dockerhosts has it,
	// well within the TTL.
	res.setHosts(t, webMovedAddr.String()+" web\n")
	moved := time.Now()
	await.True(t, ttl*time.Second, "getent and curl follow web.docker to "+webMovedAddr.String(), func() bool {
		out, err := host.Run("getent", "hosts", "web.docker")
		return err == nil && strings.HasPrefix(out, webMovedAddr.String()+" ") &&
			curl(t, host, "http://web.docker:"+webPort+"/") == webMovedAddr.String()
	})
	t.Logf("followed the move in %s", time.Since(moved).Round(time.Millisecond))
}

// curl fetches url from inside ns and returns the body, trimmed; "" on error.
func curl(t *testing.T, ns *Namespace, url string) string {
	t.Helper()
	out, err := ns.Run("curl", "-sS", "--max-time", "5", url)
	if err != nil {
		t.Logf("curl %s: %v", url, err)
		return ""
	}
	return strings.TrimSpace(out)
}
