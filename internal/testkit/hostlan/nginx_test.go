//go:build linux

package hostlan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// TestNginxFollowsAMovedBackend is nginx proxying to web.docker by name with
// a `resolver` and a variable proxy_pass: it re-resolves when the TTL runs
// out, so it follows the backend to its new address without a reload.
func TestNginxFollowsAMovedBackend(t *testing.T) {
	RequirePrograms(t, "nginx", "curl")
	lan, res := webLAN(t)
	proxy := lan.Machine("proxy", clientAddr)
	front := startNginx(t, proxy, fmt.Sprintf(`
    resolver %s ipv6=off;
    resolver_timeout 2s;
    server {
        listen 127.0.0.1:8081;
        location / {
            # A variable makes nginx resolve at request time, by the TTL,
            # instead of once at startup.
            set $backend web.docker;
            proxy_pass http://$backend:%s;
        }
    }`, resolverAddr, webPort))

	if got := curl(t, proxy, front); got != webAddr.String() {
		t.Fatalf("through nginx: reached %q, want %s", got, webAddr)
	}
	res.setHosts(t, webMovedAddr.String()+" web\n")
	moved := time.Now()
	await.True(t, followWithin, "nginx proxies to "+webMovedAddr.String(), func() bool {
		return curl(t, proxy, front) == webMovedAddr.String()
	})
	t.Logf("nginx followed the move in %s", time.Since(moved).Round(time.Millisecond))
}

// startNginx runs nginx in ns with the given http { } body, everything it
// writes kept under a directory of the test, and returns the URL of the
// first server (127.0.0.1:8081).
func startNginx(t *testing.T, ns *Namespace, httpBody string) string {
	t.Helper()
	dir := t.TempDir()
	var temps strings.Builder
	for _, kind := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s;\n", kind, filepath.Join(dir, kind))
	}
	conf := filepath.Join(dir, "nginx.conf")
	// Workers as root: the test's directories are not open to nobody.
	writeFile(t, conf, fmt.Sprintf(`daemon off;
user root;
worker_processes 1;
pid %s;
error_log stderr notice;
events { worker_connections 64; }
http {
    access_log off;
%s%s
}
`, filepath.Join(dir, "nginx.pid"), temps.String(), httpBody))
	p := ns.Start("nginx", "-e", "stderr", "-p", dir, "-c", conf)
	url := "http://127.0.0.1:8081/"
	await.True(t, 10*time.Second, "nginx listens", func() bool {
		if exited, err := p.Exited(); exited {
			t.Fatalf("nginx exited: %v\n%s", err, p.Output())
		}
		_, err := os.Stat(filepath.Join(dir, "nginx.pid"))
		return err == nil && curlOK(ns, url)
	})
	return url
}

// curlOK reports whether url answers at all, whatever the status.
func curlOK(ns *Namespace, url string) bool {
	_, err := ns.Run("curl", "-s", "-o", "/dev/null", "--max-time", "2", url)
	return err == nil
}
