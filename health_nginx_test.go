package dockerhosts

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// TestNginxRollingReplace is the scenario health-aware names exist for:
// nginx follows an alias through DNS (resolver valid=1s, a variable
// proxy_pass) in front of an app that answers 503 for 4 s of warm-up and
// drains for 3 s after SIGTERM. A rolling replace (start the new container,
// wait until Docker says it is healthy, docker stop the old one): with
// health on, every request answers 200; with health off the alias hands
// nginx the warming container (503) and the exited one (502).
func TestNginxRollingReplace(t *testing.T) {
	bin := dockertest.NeedProgram(t, "nginx", "nginx")
	l := newHealthLab(t)
	for _, tc := range []struct {
		name  string
		props []string
	}{{"health on", nil}, {"health off", []string{"health off"}}} {
		t.Run(tc.name, func(t *testing.T) {
			codes := rollingReplace(t, l, bin, strings.ReplaceAll(tc.name, " ", "-"), tc.props)
			failed := 0
			for code, n := range codes {
				if code != http.StatusOK {
					failed += n
				}
			}
			t.Logf("%s: responses by status %v", tc.name, codes)
			switch {
			case codes[http.StatusOK] == 0:
				t.Fatal("no request went through")
			case tc.props == nil && failed > 0:
				t.Errorf("%d requests failed through the rolling replace", failed)
			case tc.props != nil && failed == 0:
				t.Errorf("with health off no request failed: the scenario no longer shows the problem")
			}
		})
	}
}

// rollingReplace serves the lab's engine with props, puts nginx in front
// of an alias, replaces its one container under load, and returns the
// count of responses by status code (0: no response).
func rollingReplace(t *testing.T, l *healthLab, nginx, suffix string, props []string) map[int]int {
	s := startCoreDNS(t, dockerCorefile("", props))
	alias := l.Name(suffix)
	old := l.run(suffix+"-old", alias, 0, "--env", "DRAIN=3s")
	s.waitA(t, fqdn(alias), l.ip(old, l.net))
	front := startNginx(t, nginx, s.udp, fqdn(alias))

	get := func() int {
		c := &http.Client{Timeout: 3 * time.Second}
		resp, err := c.Get("http://" + front + "/")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	await.True(t, dockerWithin, "nginx reaches the app", func() bool { return get() == http.StatusOK })

	ctx, stop := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				code := get()
				mu.Lock()
				codes[code]++
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	fresh := l.run(suffix+"-new", alias, 4*time.Second, "--env", "DRAIN=3s")
	await.True(t, dockerWithin, "the new container is healthy", func() bool { return l.health(fresh) == "healthy" })
	l.Docker("stop", "--time", "10", old) // returns once it has drained and exited
	// nginx keeps an address up to 2 s (valid=1s, whole seconds): past that,
	// every request goes to the new container.
	time.Sleep(3 * time.Second)
	stop()
	wg.Wait()
	return codes
}

// startNginx runs nginx on a free loopback address, proxying every request
// to port 8080 of backend, a name it resolves at request time at resolver
// (valid=1s) as a load balancer following replicas does; it returns the
// address.
func startNginx(t *testing.T, bin, resolver, backend string) string {
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
events { worker_connections 256; }
http {
    access_log off;
%s
    resolver %s ipv6=off valid=1s;
    server {
        listen %s;
        location / {
            set $backend %s;
            proxy_pass http://$backend:8080;
        }
    }
}
`, filepath.Join(dir, "nginx.pid"), temps.String(), resolver, front, strings.TrimSuffix(backend, ".")))
	startListening(t, "nginx", exec.Command(bin, "-e", "stderr", "-p", dir, "-c", conf), front)
	return front
}
