package dockerhosts

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// TestNginxFollowsAWildcardSubdomain: nginx proxies each tenant to
// <tenant>.<app>.docker, a name no container has but that the wildcard label
// of the app's container answers, resolving at request time (a variable
// proxy_pass with a resolver): every tenant subdomain reaches the container,
// with no configuration per tenant and no reload.
func TestNginxFollowsAWildcardSubdomain(t *testing.T) {
	bin := dockertest.NeedProgram(t, "nginx", "nginx")
	l := newDockerLab(t)
	image := l.HostnameImage()
	s := startCoreDNS(t, dockerCorefile("", nil))
	app := l.Name("app")
	l.Run("app", "--network", l.net, "--hostname", app, "--label", "dockerhosts.wildcard=true", image)
	s.waitA(t, "tenant1."+fqdn(app), l.ip(app, l.net))

	front := freeLoopbackAddr(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	var temps strings.Builder
	for _, kind := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s;\n", kind, filepath.Join(dir, kind))
	}
	// One process (master_process off): nothing outlives the test's kill.
	writeFile(t, conf, fmt.Sprintf(`daemon off;
master_process off;
user root;
pid %s;
error_log stderr notice;
events { worker_connections 64; }
http {
    access_log off;
%s
    resolver %s ipv6=off valid=1s;
    server {
        listen %s;
        location / {
            # The tenant comes from the request; the variable makes nginx
            # resolve <tenant>.<app>.docker at request time.
            set $backend $arg_tenant.%s.docker;
            proxy_pass http://$backend:8080;
        }
    }
}
`, filepath.Join(dir, "nginx.pid"), temps.String(), s.udp, front, app))
	startListening(t, "nginx", exec.Command(bin, "-e", "stderr", "-p", dir, "-c", conf), front)

	get := func(tenant string) (int, string) {
		c := &http.Client{Timeout: 3 * time.Second}
		resp, err := c.Get("http://" + front + "/?tenant=" + tenant)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	for _, tenant := range []string{"tenant1", "acme", "Shop-42"} {
		await.True(t, dockerWithin, tenant+" reaches the app through the wildcard", func() bool {
			code, body := get(tenant)
			return code == http.StatusOK && body == app
		})
	}
	// A tenant name that is no DNS label gets nginx's 502, not the app.
	if code, body := get("bad..name"); code == http.StatusOK {
		t.Errorf("an invalid tenant reached %q", body)
	}
}
