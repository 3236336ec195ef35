// Command docker-lag measures how fast Docker Engine changes reach the
// answers of a built custom CoreDNS serving docker. with dockerhosts:
//
//   - initial sync: with -sync idle containers running, the time from
//     starting CoreDNS to its first DNS answer, to /ready answering 200, and
//     to every container name answering;
//   - restart lag, -n times: stop the app container, pin a squatter to its
//     address with --ip, start the app again (so it gets a new address), and
//     time from the engine's start event (its TimeNano) to the first DNS
//     answer carrying an address, polling over UDP every -interval. The
//     squatter's address in that answer is an error.
//   - health lag, -health times (health.go): a service name's withdrawal and
//     return on health_status events, and its withdrawal at docker stop's
//     kill event (targets: p50 <= 5 ms, max <= 50 ms).
//
// It prints p50 and max (targets: p50 <= 20 ms, max <= 100 ms). Everything it
// creates carries a per-run prefix and label and is removed at the end, on
// error and on SIGINT/SIGTERM too. Only 127.0.0.1 receives DNS traffic.
//
//	go run ./bench/docker-lag -coredns ./coredns
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

func main() {
	coredns := flag.String("coredns", envOr("COREDNS", "./coredns"), "the custom CoreDNS binary (make build); default $COREDNS or ./coredns")
	n := flag.Int("n", 20, "restarts to time")
	syncN := flag.Int("sync", 200, "running containers for the initial-sync measurement (0 skips it)")
	port := flag.Int("port", 15360, "DNS port on 127.0.0.1; the ready endpoint listens on the next one")
	interval := flag.Duration("interval", 200*time.Microsecond, "DNS poll interval")
	timeout := flag.Duration("timeout", 20*time.Second, "give up on one wait after this long")
	logPath := flag.String("log", "", "keep CoreDNS's output in this file (default: a temporary file, removed)")
	health := flag.Int("health", 10, "health changes and stops to time on a service name (0 skips them)")
	engines := flag.Int("engines", 1, "Docker engines the resolver follows: the engine, then more endpoints to it (socket symlinks), each a source of its own")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	b := &bench{
		coredns: *coredns, interval: *interval, timeout: *timeout,
		dnsAddr:   fmt.Sprintf("127.0.0.1:%d", *port),
		readyAddr: fmt.Sprintf("127.0.0.1:%d", *port+1),
		prefix:    "dhbench-" + randomHex(4),
		serverLog: *logPath,
		engines:   max(1, *engines),
	}
	err := b.run(ctx, *n, *syncN, *health)
	b.cleanup()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "docker-lag:", err)
		os.Exit(1)
	}
}

type bench struct {
	coredns             string
	dnsAddr, readyAddr  string
	interval, timeout   time.Duration
	prefix              string
	image, network, dir string
	healthImage         string

	engines int // engine sources; every one past the first reaches the same engine by another path

	mu        sync.Mutex
	server    *exec.Cmd // CoreDNS
	events    *exec.Cmd // docker events
	more      []*exec.Cmd
	serverLog string
}

func (b *bench) run(ctx context.Context, n, syncN, health int) error {
	bin, err := filepath.Abs(b.coredns)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (build it with make build)", bin, err)
	}
	b.coredns = bin
	if b.dir, err = os.MkdirTemp("", b.prefix); err != nil {
		return err
	}

	say("building the idle image and a network (prefix %s)", b.prefix)
	b.image = b.prefix + "-idle:latest"
	if err := dockertest.ImportIdleImage(ctx, b.image); err != nil {
		return err
	}
	b.network = b.prefix + "-net"
	subnet, err := dockertest.CreateSubnetNetwork(ctx, b.network, "--label", b.label())
	if err != nil {
		return err
	}
	say("network %s, subnet %s", b.network, subnet)

	if syncN > 0 {
		if err := b.initialSync(ctx, syncN); err != nil {
			return err
		}
	} else if err := b.startServer(); err != nil {
		return err
	}
	if err := b.restartLag(ctx, n); err != nil {
		return err
	}
	if health > 0 {
		return b.healthLag(ctx, health)
	}
	return nil
}

// initialSync starts syncN containers, then CoreDNS, and times it.
func (b *bench) initialSync(ctx context.Context, syncN int) error {
	say("starting %d idle containers", syncN)
	names := make([]string, syncN)
	for i := range names {
		names[i] = fmt.Sprintf("%s-sync-%03d", b.prefix, i)
	}
	began := time.Now()
	if err := parallel(ctx, 4, names, func(name string) error {
		_, err := b.runContainer(ctx, name)
		return err
	}); err != nil {
		return err
	}
	say("%d containers started in %s", syncN, time.Since(began).Round(time.Millisecond))

	start := time.Now()
	if err := b.startServer(); err != nil {
		return err
	}
	first, err := b.until(ctx, "first DNS answer", func() (bool, error) {
		_, err := query(b.dnsAddr, "docker.", dns.TypeSOA)
		return err == nil, nil
	})
	if err != nil {
		return err
	}
	ready, err := b.until(ctx, "/ready 200", func() (bool, error) { return readyOK(b.readyAddr), nil })
	if err != nil {
		return err
	}
	next := 0
	all, err := b.until(ctx, fmt.Sprintf("all %d names answer", syncN), func() (bool, error) {
		for ; next < len(names); next++ {
			r, err := query(b.dnsAddr, names[next]+".docker.", dns.TypeA)
			if err != nil || len(r.Answer) == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("initial sync of %d running containers, from CoreDNS process start: first DNS answer %s, ready %s, all %d names answer %s\n",
		syncN, ms(first.Sub(start)), ms(ready.Sub(start)), syncN, ms(all.Sub(start)))

	say("removing the %d containers", syncN)
	removed := time.Now()
	if err := removeOneByOne(ctx, names); err != nil {
		return err
	}
	rmDone := time.Now()
	next = 0
	gone, err := b.until(ctx, fmt.Sprintf("all %d names gone", syncN), func() (bool, error) {
		for ; next < len(names); next++ {
			r, err := query(b.dnsAddr, names[next]+".docker.", dns.TypeA)
			if err != nil || r.Rcode != dns.RcodeNameError {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("removal of %d containers one by one: docker rm took %s, all names NXDOMAIN %s after the last returned\n",
		syncN, ms(rmDone.Sub(removed)), ms(gone.Sub(rmDone)))
	return nil
}

// restartLag times n forced address changes of one container.
func (b *bench) restartLag(ctx context.Context, n int) error {
	app := b.prefix + "-app"
	name := app + ".docker."
	id, err := b.runContainer(ctx, app)
	if err != nil {
		return err
	}
	ip, err := b.ip(ctx, id)
	if err != nil {
		return err
	}
	if _, err := b.until(ctx, name+" answers", func() (bool, error) {
		r, err := query(b.dnsAddr, name, dns.TypeA)
		return err == nil && slices.Contains(addrs(r), ip), nil
	}); err != nil {
		return err
	}

	events, err := b.startEvents(ctx, id)
	if err != nil {
		return err
	}
	say("timing %d restarts of %s at a new address", n, app)
	var lags []time.Duration
	for i := range n {
		if _, err := docker(ctx, "stop", "--time", "5", id); err != nil {
			return err
		}
		// The name must be gone before the clock starts, so that the first
		// answer found is the restarted container's.
		if _, err := b.until(ctx, name+" is NXDOMAIN after stop", func() (bool, error) {
			r, err := query(b.dnsAddr, name, dns.TypeA)
			return err == nil && r.Rcode == dns.RcodeNameError, nil
		}); err != nil {
			return err
		}
		if _, err := b.runContainer(ctx, fmt.Sprintf("%s-squatter-%02d", b.prefix, i), "--ip", ip); err != nil {
			return err
		}

		// A socket per restart: late answers to the previous restart's
		// queries must not count for this one.
		conn, err := dns.Dial("udp", b.dnsAddr)
		if err != nil {
			return err
		}
		answered := make(chan answer, 1)
		pollCtx, cancel := context.WithTimeout(ctx, b.timeout)
		go func() { answered <- firstAnswer(pollCtx, conn, name, b.interval) }()
		_, startErr := docker(ctx, "start", id)
		a := <-answered
		cancel()
		conn.Close()
		if startErr != nil {
			return startErr
		}
		if a.err != nil {
			return fmt.Errorf("restart %d: %w", i+1, a.err)
		}
		newIP, err := b.ip(ctx, id)
		if err != nil {
			return err
		}
		if newIP == ip {
			return fmt.Errorf("restart %d: the app kept %s although a squatter holds it", i+1, ip)
		}
		if !slices.Equal(a.addrs, []string{newIP}) {
			return fmt.Errorf("restart %d: first answer %v, want the new address %s (old %s)", i+1, a.addrs, newIP, ip)
		}
		var at int64
		select {
		case at = <-events:
		case <-time.After(b.timeout):
			return fmt.Errorf("restart %d: no start event", i+1)
		case <-ctx.Done():
			return ctx.Err()
		}
		lags = append(lags, a.at.Sub(time.Unix(0, at)))
		ip = newIP
	}
	inOrder := slices.Clone(lags)
	slices.Sort(lags)
	fmt.Printf("restart at a new address, start event -> first answer: n=%d p50=%s max=%s (targets p50 <= 20ms, max <= 100ms); in order: %s\n",
		len(lags), ms(lags[(len(lags)-1)/2]), ms(lags[len(lags)-1]), msAll(inOrder))
	return nil
}

type answer struct {
	at    time.Time
	addrs []string
	err   error
}

// firstAnswer queries name over conn every interval until an answer carries
// an address, and returns when it arrived.
func firstAnswer(ctx context.Context, conn *dns.Conn, name string, interval time.Duration) answer {
	return firstMatch(ctx, conn, name, interval, func(r *dns.Msg) bool { return len(addrs(r)) > 0 })
}

// startEvents follows the container's start events and sends each one's
// engine time (TimeNano).
func (b *bench) startEvents(ctx context.Context, id string) (<-chan int64, error) {
	since := time.Now()
	cmd := exec.CommandContext(ctx, "docker", "events",
		"--since", fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
		"--filter", "container="+id, "--filter", "event=start", "--format", "{{.TimeNano}}")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.events = cmd
	b.mu.Unlock()
	ch := make(chan int64, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, err := strconv.ParseInt(strings.TrimSpace(sc.Text()), 10, 64); err == nil {
				ch <- v
			}
		}
	}()
	return ch, nil
}

func (b *bench) startServer() error {
	corefile := filepath.Join(b.dir, "Corefile")
	_, dnsPort, _ := net.SplitHostPort(b.dnsAddr)
	dockerLines := "docker"
	if b.engines > 1 {
		// More engines: the same engine through symlinks to its socket,
		// so each is a source of its own that gets every event too.
		dockerLines = "docker unix://" + dockertest.EngineSocket() + " e1"
		for i := 2; i <= b.engines; i++ {
			link := filepath.Join(b.dir, fmt.Sprintf("e%d.sock", i))
			if err := os.Symlink(dockertest.EngineSocket(), link); err != nil {
				return err
			}
			dockerLines += fmt.Sprintf("\n\t\tdocker unix://%s e%d", link, i)
		}
	}
	if err := os.WriteFile(corefile, []byte(fmt.Sprintf(`docker.:%s {
	bind 127.0.0.1
	ready %s
	dockerhosts {
		%s
	}
}
`, dnsPort, b.readyAddr, dockerLines)), 0o644); err != nil {
		return err
	}
	for _, addr := range []string{b.dnsAddr, b.readyAddr} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return fmt.Errorf("%s is in use; pick another -port", addr)
		}
	}
	if b.serverLog == "" {
		b.serverLog = filepath.Join(b.dir, "coredns.log")
	}
	logFile, err := os.Create(b.serverLog)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(b.coredns, "-conf", corefile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	b.mu.Lock()
	b.server = cmd
	b.mu.Unlock()
	return nil
}

// until polls cond every 200 µs and returns when it first held.
func (b *bench) until(ctx context.Context, what string, cond func() (bool, error)) (time.Time, error) {
	deadline := time.Now().Add(b.timeout)
	for {
		ok, err := cond()
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			return time.Now(), nil
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("not within %s: %s%s", b.timeout, what, b.logTail())
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func (b *bench) logTail() string {
	data, err := os.ReadFile(b.serverLog)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return "\nCoreDNS log (tail):\n" + strings.Join(lines[max(0, len(lines)-10):], "\n")
}

func (b *bench) label() string { return "dockerhosts.bench=" + b.prefix }

// runContainer starts an idle container on the bench network; args go
// before the image.
func (b *bench) runContainer(ctx context.Context, name string, args ...string) (string, error) {
	run := append([]string{"run", "--detach", "--name", name, "--label", b.label(), "--network", b.network}, args...)
	return docker(ctx, append(run, b.image)...)
}

func (b *bench) ip(ctx context.Context, id string) (string, error) {
	return docker(ctx, "inspect", "--format", fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, b.network), id)
}

// cleanup stops CoreDNS and removes every container, the network and the
// image of this run, whatever happened before.
func (b *bench) cleanup() {
	b.mu.Lock()
	for _, cmd := range append([]*exec.Cmd{b.server, b.events}, b.more...) {
		if cmd != nil && cmd.Process != nil {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if ids, err := docker(ctx, "ps", "--all", "--quiet", "--filter", "label="+b.label()); err == nil && ids != "" {
		if err := removeOneByOne(ctx, strings.Fields(ids)); err != nil {
			warn("cleanup: %v", err)
		}
	} else if err != nil {
		warn("cleanup: %v", err)
	}
	if b.network != "" {
		if _, err := docker(ctx, "network", "rm", b.network); err != nil && !strings.Contains(err.Error(), "No such") {
			warn("cleanup: %v", err)
		}
	}
	for _, img := range []string{b.healthImage, b.healthImage + "-base"} {
		if b.healthImage == "" {
			break
		}
		if _, err := docker(ctx, "image", "rm", "--force", img); err != nil && !strings.Contains(err.Error(), "No such") {
			warn("cleanup: %v", err)
		}
	}
	if b.image != "" {
		if _, err := docker(ctx, "image", "rm", "--force", b.image); err != nil && !strings.Contains(err.Error(), "No such") {
			warn("cleanup: %v", err)
		}
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// removeOneByOne removes containers one at a time: Docker 20.10 can lose
// count of a network's endpoints when containers on it are removed
// concurrently (moby/moby#42119), and the network then cannot be removed
// until the daemon restarts.
func removeOneByOne(ctx context.Context, ids []string) error {
	var errs []error
	for _, id := range ids {
		if _, err := docker(ctx, "rm", "--force", "--volumes", id); err != nil && !strings.Contains(err.Error(), "No such") {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		shown := strings.Join(args, " ")
		if len(shown) > 120 {
			shown = shown[:120] + "..."
		}
		return "", fmt.Errorf("docker %s: %v: %s", shown, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// parallel calls f on every item with at most workers calls at a time and
// returns the first error.
func parallel(ctx context.Context, workers int, items []string, f func(string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan string)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for item := range next {
				if err := f(item); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for _, item := range items {
		select {
		case next <- item:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func query(addr, name string, qtype uint16) (*dns.Msg, error) {
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, qtype), addr)
	return r, err
}

func addrs(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

func readyOK(addr string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s docker-lag: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func warn(format string, args ...any) { say("WARNING: "+format, args...) }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

func msAll(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
	}
	return "[" + strings.Join(s, " ") + "]"
}
