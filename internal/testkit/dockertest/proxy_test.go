package dockertest

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeEngine is an HTTP server on a Unix socket: GET /stream sends one line,
// then a second when next is signalled; every other request gets "ok".
type fakeEngine struct {
	socket string
	next   chan struct{}
	posts  atomic.Int64
}

func startFakeEngine(t *testing.T) *fakeEngine {
	f := &fakeEngine{socket: filepath.Join(shortDir(t), "engine.sock"), next: make(chan struct{})}
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			f.posts.Add(1)
		}
		if r.URL.Path != "/stream" {
			io.WriteString(w, "ok")
			return
		}
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-f.next:
			io.WriteString(w, "second\n")
		case <-r.Context().Done():
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return f
}

func shortDir(t *testing.T) string {
	dir := t.TempDir()
	if len(dir) > 80 { // socket paths are limited to about 100 bytes
		t.Skipf("temporary directory %s is too long for a socket path", dir)
	}
	return dir
}

func clientFor(socket string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
}

func get(c *http.Client, method, path string) (int, string, error) {
	req, _ := http.NewRequest(method, "http://engine"+path, strings.NewReader(""))
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestReadOnlyProxyForbidsWritesAndStreams(t *testing.T) {
	f := startFakeEngine(t)
	p := StartProxy(t, f.socket, ReadOnly)
	c := clientFor(p.Socket)

	for _, m := range []string{http.MethodGet, http.MethodHead} {
		if code, _, err := get(c, m, "/_ping"); err != nil || code != http.StatusOK {
			t.Fatalf("%s: %d %v", m, code, err)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodPut} {
		code, body, err := get(c, m, "/containers/x/kill")
		if err != nil || code != http.StatusForbidden || !strings.Contains(body, "forbidden") {
			t.Fatalf("%s: %d %q %v, want 403", m, code, body, err)
		}
	}
	// The connection survives a 403: the next request on it works.
	if code, _, err := get(c, http.MethodGet, "/_ping"); err != nil || code != http.StatusOK {
		t.Fatalf("GET after 403: %d %v", code, err)
	}
	if f.posts.Load() != 0 || p.Forbidden() != 3 {
		t.Fatalf("engine saw %d POSTs, proxy forbade %d requests", f.posts.Load(), p.Forbidden())
	}

	// A streamed response arrives line by line, not when it ends.
	resp, err := c.Get("http://engine/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("first line: %q %v", line, err)
	}
	f.next <- struct{}{}
	if line, err := r.ReadString('\n'); err != nil || line != "second\n" {
		t.Fatalf("second line: %q %v", line, err)
	}
}

func TestProxyCutAndRestore(t *testing.T) {
	f := startFakeEngine(t)
	p := StartProxy(t, f.socket, PassThrough)
	c := clientFor(p.Socket)

	if code, _, err := get(c, http.MethodPost, "/anything"); err != nil || code != http.StatusOK {
		t.Fatalf("pass-through POST: %d %v", code, err)
	}
	resp, err := c.Get("http://engine/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	p.Cut()
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("a live stream survived Cut")
	}
	if _, _, err := get(c, http.MethodGet, "/_ping"); err == nil {
		t.Fatal("a request went through while cut")
	}
	if p.Refused() == 0 {
		t.Fatal("no refused connection counted")
	}

	p.Restore()
	if code, _, err := get(c, http.MethodGet, "/_ping"); err != nil || code != http.StatusOK {
		t.Fatalf("after Restore: %d %v", code, err)
	}
}
