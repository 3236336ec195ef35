package dockertest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/moby/moby/client"
)

// ProxyMode says what a Proxy lets through.
type ProxyMode int

const (
	// PassThrough forwards the bytes of every connection as they are.
	PassThrough ProxyMode = iota
	// ReadOnly forwards GET and HEAD requests and answers every other
	// method 403 Forbidden without forwarding it, like the read-only socket
	// proxies people put in front of the Docker socket.
	ReadOnly
)

// Proxy is a proxy to the Docker Engine's Unix socket that a test controls:
// it can cut every connection and refuse new ones, as if the engine went
// away, and restore service later. It listens on a Unix socket of its own
// (StartProxy) or on TLS over TCP (StartTLSProxy).
type Proxy struct {
	// Socket is the path clients dial: use "unix://" + Socket as endpoint.
	Socket string
	target string
	mode   ProxyMode
	ln     net.Listener

	mu     sync.Mutex
	cut    bool
	closed bool
	conns  map[net.Conn]struct{} // live client and engine connections
	wg     sync.WaitGroup

	refused, rejected, forbidden, forwarded atomic.Int64
}

// EngineSocket is the path of the engine's Unix socket: DOCKER_HOST's when
// it is a unix:// address, else the default.
func EngineSocket() string {
	if h, ok := strings.CutPrefix(os.Getenv(client.EnvOverrideHost), "unix://"); ok {
		return h
	}
	return strings.TrimPrefix(client.DefaultDockerHost, "unix://")
}

// StartProxy listens on a new Unix socket and forwards each connection to
// the Unix socket at target (EngineSocket() for the engine). It stops, and
// closes every connection, when the test ends.
func StartProxy(t testing.TB, target string, mode ProxyMode) *Proxy {
	t.Helper()
	// A short directory: socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "dhproxy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	p := serveProxy(t, ln, target, mode)
	p.Socket = socket
	return p
}

// serveProxy forwards the connections accepted on ln to target until the
// test ends.
func serveProxy(t testing.TB, ln net.Listener, target string, mode ProxyMode) *Proxy {
	p := &Proxy{ln: ln, target: target, mode: mode, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// Endpoint is the proxy's address as a Docker endpoint.
func (p *Proxy) Endpoint() string { return "unix://" + p.Socket }

// Cut closes every live connection and closes each new one as soon as it is
// accepted, until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore lets connections through again after Cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Refused counts the connections closed unserved while cut: the client's
// attempts to reconnect.
func (p *Proxy) Refused() int64 { return p.refused.Load() }

// Forbidden counts the requests a ReadOnly proxy answered with 403.
func (p *Proxy) Forbidden() int64 { return p.forbidden.Load() }

// Rejected counts TLS clients whose handshake failed (StartTLSProxy).
func (p *Proxy) Rejected() int64 { return p.rejected.Load() }

// Forwarded counts the connections passed on to the engine.
func (p *Proxy) Forwarded() int64 { return p.forwarded.Load() }

func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track registers a live connection; false when the proxy is cut or closed,
// and the connection must be dropped.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			p.refused.Add(1)
			c.Close()
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			// A TLS client proves itself before the engine is dialled: an
			// untrusted one never reaches it.
			if tc, ok := c.(*tls.Conn); ok && tc.Handshake() != nil {
				p.rejected.Add(1)
				return
			}
			up, err := net.Dial("unix", p.target)
			if err != nil {
				return
			}
			if !p.track(up) {
				up.Close()
				return
			}
			defer p.untrack(up)
			p.forwarded.Add(1)
			if p.mode == ReadOnly {
				p.filter(c, up)
			} else {
				pipe(c, up)
			}
		}()
	}
}

// pipe copies both ways until either side ends, then closes both.
func pipe(c, up net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(up, c)
		up.Close()
		c.Close()
	}()
	io.Copy(c, up)
	c.Close()
	up.Close()
	<-done
}

// filter serves one client connection request by request: GET and HEAD go to
// the engine and their responses, streamed ones included, come back as they
// arrive; anything else gets a 403 in the engine's error format.
func (p *Proxy) filter(c, up net.Conn) {
	cr, ur := bufio.NewReader(c), bufio.NewReader(up)
	for {
		req, err := http.ReadRequest(cr)
		if err != nil {
			return
		}
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			p.forbidden.Add(1)
			io.Copy(io.Discard, req.Body)
			req.Body.Close()
			body := fmt.Sprintf(`{"message":"read-only proxy: %s %s is forbidden"}`+"\n", req.Method, req.URL.Path)
			resp := &http.Response{
				StatusCode: http.StatusForbidden, ProtoMajor: 1, ProtoMinor: 1, Request: req,
				Header:        http.Header{"Content-Type": {"application/json"}},
				ContentLength: int64(len(body)), Body: io.NopCloser(strings.NewReader(body)),
			}
			if err := resp.Write(c); err != nil {
				return
			}
			continue
		}
		if err := req.Write(up); err != nil {
			return
		}
		resp, err := http.ReadResponse(ur, req)
		if err != nil {
			return
		}
		// Response.Write copies a chunked body chunk by chunk, straight to
		// the connection: the event stream is not held back.
		err = resp.Write(c)
		resp.Body.Close()
		if err != nil || resp.Close {
			return
		}
	}
}
