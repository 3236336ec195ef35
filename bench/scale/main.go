// Command scale measures dockerhosts against CoreDNS's hosts plugin on a large
// hosts file, the same file served by the same binary with two Corefiles:
//
//  1. For each plugin: the time from process start until the file's last
//     names answer, that every name answers (each one asked once), and the
//     resident memory (VmRSS) then.
//
//  2. dockerhosts under a steady load (-qps, UDP, names at random) while the
//     whole file is rewritten -reloads times (every address changes, atomic
//     rename): the latency percentiles of the queries sent meanwhile, each
//     reload's and all together, any left unanswered, and the same load's
//     before the first, the floor the machine allows.
//
//  3. dockerhosts after -changes single-line changes, each waited for until
//     served: resident memory before and after, and the change-to-answer lag.
//
//     scale -coredns ./coredns -lines 500000 -dir bench/out/scale
//
// Only 127.0.0.1 receives traffic. -server-cpu pins the servers with taskset.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// The file's names are relative, as in the file, so both plugins serve
// them in the root zone.
const zone = "."

func main() {
	coredns := flag.String("coredns", "./coredns", "CoreDNS binary with dockerhosts and hosts")
	lines := flag.Int("lines", 500_000, "lines in the hosts file, two names each")
	dir := flag.String("dir", "bench/out/scale", "working directory (created)")
	port := flag.Int("port", 15363, "loopback port of the server under test")
	serverCPU := flag.String("server-cpu", "", "taskset -c list for the servers; empty: no pinning")
	qps := flag.Int("qps", 10_000, "query rate during the reload")
	changes := flag.Int("changes", 100, "single-line changes for the memory check")
	reloads := flag.Int("reloads", 5, "whole-file rewrites under the load")
	only := flag.String("only", "", "run only this plugin (dockerhosts or hosts)")
	flag.Parse()
	b := &bench{coredns: *coredns, lines: *lines, dir: *dir, port: *port, cpu: *serverCPU}
	if err := b.run(*qps, *reloads, *changes, *only); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

type bench struct {
	coredns, dir, cpu string
	lines, port       int
	file              string
}

// line is line i of the file; gen changes every address.
func line(i, gen int) string {
	return fmt.Sprintf("%d.%d.%d.%d host%d alias%d.svc\n", 10+gen, (i>>16)&0xff, (i>>8)&0xff, i&0xff, i, i)
}

func addr(i, gen int) string {
	return fmt.Sprintf("%d.%d.%d.%d", 10+gen, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
}

func (b *bench) content(gen int, changed map[int]int) []byte {
	var buf bytes.Buffer
	buf.Grow(b.lines * 40)
	for i := range b.lines {
		g := gen
		if c, ok := changed[i]; ok {
			g = c
		}
		buf.WriteString(line(i, g))
	}
	return buf.Bytes()
}

// write replaces the file by atomic rename.
func (b *bench) write(content []byte) error {
	tmp := b.file + ".tmp"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, b.file)
}

func (b *bench) run(qps, reloads, changes int, only string) error {
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	b.file, _ = filepath.Abs(filepath.Join(b.dir, "hosts"))
	if err := b.write(b.content(0, nil)); err != nil {
		return err
	}
	fi, _ := os.Stat(b.file)
	fmt.Printf("hosts file: %d lines, %d names, %.1f MB\n", b.lines, 2*b.lines, float64(fi.Size())/1e6)

	for _, plugin := range []string{"hosts", "dockerhosts"} {
		if only != "" && plugin != only {
			continue
		}
		srv, ready, err := b.start(plugin)
		if err != nil {
			return err
		}
		ok, total := b.checkAll(0, nil)
		rss := srv.rss()
		fmt.Printf("%-11s ready (last names answer) %.2fs; every name: %d of %d answer; VmRSS %.0f MiB (%.0f B per name)\n",
			plugin, ready.Seconds(), ok, total, rss/(1<<20), rss/float64(2*b.lines))
		if plugin == "dockerhosts" {
			if err := b.reloadUnderLoad(qps, reloads); err != nil {
				srv.stop()
				return err
			}
			if err := b.memoryAfterChanges(srv, changes); err != nil {
				srv.stop()
				return err
			}
		}
		srv.stop()
	}
	return nil
}

type server struct {
	cmd *exec.Cmd
	pid int
}

func (s *server) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// rss is the server's resident memory in bytes, from /proc.
func (s *server) rss() float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb * 1024
		}
	}
	return 0
}

// start runs the server for plugin and returns once the file's last names
// answer, with the time that took from the process start.
func (b *bench) start(plugin string) (*server, time.Duration, error) {
	block := "dockerhosts {\n\t\thostsfile " + b.file + "\n\t}"
	if plugin == "hosts" {
		block = "hosts " + b.file + " {\n\t\tno_reverse\n\t}"
	}
	corefile := filepath.Join(b.dir, plugin+".Corefile")
	conf := fmt.Sprintf("%s:%d {\n\tbind 127.0.0.1\n\t%s\n}\n", zone, b.port, block)
	if err := os.WriteFile(corefile, []byte(conf), 0o644); err != nil {
		return nil, 0, err
	}
	args := []string{b.coredns, "-quiet", "-conf", corefile}
	if b.cpu != "" {
		args = append([]string{"taskset", "-c", b.cpu}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	logf, err := os.Create(filepath.Join(b.dir, plugin+".log"))
	if err != nil {
		return nil, 0, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	s := &server{cmd: cmd, pid: cmd.Process.Pid}
	last := b.lines - 1
	if err := b.await(fmt.Sprintf("host%d%s", last, zone), addr(last, 0), 60*time.Second); err != nil {
		s.stop()
		return nil, 0, fmt.Errorf("%s: %w", plugin, err)
	}
	ready := time.Since(start)
	if err := b.await(fmt.Sprintf("alias%d.svc%s", last, zone), addr(last, 0), 5*time.Second); err != nil {
		s.stop()
		return nil, 0, fmt.Errorf("%s: %w", plugin, err)
	}
	return s, ready, nil
}

// await asks name until its A record is want.
func (b *bench) await(name, want string, timeout time.Duration) error {
	c := new(dns.Client)
	c.Timeout = 100 * time.Millisecond
	server := "127.0.0.1:" + strconv.Itoa(b.port)
	q := new(dns.Msg).SetQuestion(name, dns.TypeA)
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		r, _, err := c.Exchange(q, server)
		if err == nil {
			last = dns.RcodeToString[r.Rcode]
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok {
					if a.A.String() == want {
						return nil
					}
					last = a.A.String()
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("%s: no %s after %v (last: %s)", name, want, timeout, last)
}

// checkAll asks every name once, a window of queries in flight per
// connection, and counts the answers with the expected address. A name
// without one is asked again, alone, up to three times: a query lost on a
// busy loopback is not a name the server lacks.
func (b *bench) checkAll(gen int, changed map[int]int) (ok, total int) {
	const workers, window = 4, 64
	q := func(n int) (string, string) {
		i := n / 2
		g := gen
		if c, ok := changed[i]; ok {
			g = c
		}
		if n%2 == 0 {
			return fmt.Sprintf("host%d%s", i, zone), addr(i, g)
		}
		return fmt.Sprintf("alias%d.svc%s", i, zone), addr(i, g)
	}
	var mu sync.Mutex
	var failed []int
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for i := w; i < 2*b.lines; i += workers {
				mine = append(mine, i)
			}
			conn, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(b.port))
			if err != nil {
				mu.Lock()
				failed = append(failed, mine...)
				mu.Unlock()
				return
			}
			defer conn.Close()
			f := askAll(conn, mine, window, q)
			mu.Lock()
			failed = append(failed, f...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	missing := 0
	for _, n := range failed {
		name, want := q(n)
		if b.await(name, want, 300*time.Millisecond) != nil {
			missing++
		}
	}
	return 2*b.lines - missing, 2 * b.lines
}

// askAll sends the queries for names, at most window unanswered at a time,
// and returns the names that did not come back with the wanted address (lost
// queries included).
func askAll(conn net.Conn, names []int, window int, q func(int) (name, want string)) (failed []int) {
	next := 0
	pending := map[uint16]int{}
	buf := make([]byte, 1500)
	var id uint16
	for next < len(names) || len(pending) > 0 {
		for next < len(names) && len(pending) < window {
			name, _ := q(names[next])
			id++
			m := new(dns.Msg).SetQuestion(name, dns.TypeA)
			m.Id = id
			wire, _ := m.Pack()
			conn.Write(wire)
			pending[id] = names[next]
			next++
		}
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		nr, err := conn.Read(buf)
		if err != nil {
			for _, n := range pending {
				failed = append(failed, n)
			}
			clear(pending)
			continue
		}
		r := new(dns.Msg)
		if r.Unpack(buf[:nr]) != nil {
			continue
		}
		n, ok := pending[r.Id]
		if !ok {
			continue
		}
		delete(pending, r.Id)
		_, want := q(n)
		good := false
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok && a.A.String() == want {
				good = true
				break
			}
		}
		if !good {
			failed = append(failed, n)
		}
	}
	return failed
}

// reloadUnderLoad rewrites the whole file reloads times while a steady load
// runs, and reports the latency of the queries sent from each rename until
// the new file is served, beside the same load's in the 2 s before the
// first (the floor this machine allows), and over the whole run. Every
// address changes each time; the files are written before the load starts,
// so that the load generator's core only renames them.
func (b *bench) reloadUnderLoad(qps, reloads int) error {
	// Alternate the generations, ending at 1 (what the changes start from).
	gen := func(k int) int { return 1 - (reloads-1-k)%2 }
	for k := range reloads {
		if err := os.WriteFile(b.reloadFile(k), b.content(gen(k), nil), 0o644); err != nil {
			return err
		}
	}
	l := startLoad("127.0.0.1:"+strconv.Itoa(b.port), qps, b.lines)
	time.Sleep(2 * time.Second)
	type window struct{ from, to time.Time }
	var windows []window
	last := b.lines - 1
	for k := range reloads {
		t0 := time.Now()
		if err := os.Rename(b.reloadFile(k), b.file); err != nil {
			l.stop()
			return err
		}
		if err := b.await(fmt.Sprintf("host%d%s", last, zone), addr(last, gen(k)), 60*time.Second); err != nil {
			l.stop()
			return err
		}
		windows = append(windows, window{t0, time.Now()})
		time.Sleep(time.Second)
	}
	time.Sleep(time.Second)
	l.stop()

	fmt.Printf("dockerhosts reload of all %d names under %d qps, %d times:\n", 2*b.lines, qps, reloads)
	fmt.Printf("  queries sent in the 2 s before:  %s\n", l.between(time.Time{}, windows[0].from))
	var p99s []float64
	var pooled []sample
	for k, w := range windows {
		sum := l.between(w.from, w.to)
		fmt.Printf("  reload %d, served after %4.0f ms: %s\n", k+1, ms(w.to.Sub(w.from)), sum)
		p99s = append(p99s, sum.p99)
		pooled = append(pooled, l.samples(w.from, w.to)...)
	}
	slices.Sort(p99s)
	fmt.Printf("  all reloads:                     %s; median p99 %.2f ms\n", summarise(pooled), p99s[len(p99s)/2])
	fmt.Printf("  whole run (%.1f s):               %s\n", l.elapsed().Seconds(), l.between(time.Time{}, time.Now()))
	return nil
}

func (b *bench) reloadFile(k int) string { return fmt.Sprintf("%s.reload%d", b.file, k) }

// memoryAfterChanges makes single-line changes (by atomic rename), each
// waited for, and compares resident memory before and after.
func (b *bench) memoryAfterChanges(srv *server, n int) error {
	if n == 0 {
		return nil
	}
	before := srv.rss()
	changed := map[int]int{}
	var lags []time.Duration
	for k := range n {
		i := rand.IntN(b.lines)
		changed[i] = 2 + k%200
		content := b.content(1, changed)
		t0 := time.Now()
		if err := b.write(content); err != nil {
			return err
		}
		if err := b.await(fmt.Sprintf("alias%d.svc%s", i, zone), addr(i, changed[i]), 10*time.Second); err != nil {
			return err
		}
		lags = append(lags, time.Since(t0))
	}
	after := srv.rss()
	slices.Sort(lags)
	fmt.Printf("dockerhosts %d single-line changes of the %d-line file (atomic rename): lag p50 %.1f ms, max %.1f ms; VmRSS %.0f MiB before, %.0f MiB after\n",
		n, b.lines, ms(lags[len(lags)/2]), ms(lags[len(lags)-1]), before/(1<<20), after/(1<<20))
	ok, total := b.checkAll(1, changed)
	fmt.Printf("  every name after the changes: %d of %d answer with their address\n", ok, total)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// load is an open-loop query generator: queries leave at a fixed rate
// whatever the answers do, so a stalled server shows as latency.
type load struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	start time.Time
	mu    sync.Mutex
	sent  []sample
}

type sample struct {
	at   time.Time
	took time.Duration // -1: no answer
}

const loadConns = 4

func startLoad(server string, qps, lines int) *load {
	l := &load{stopc: make(chan struct{}), start: time.Now()}
	for c := range loadConns {
		l.wg.Add(1)
		go l.conn(server, qps/loadConns, lines, c)
	}
	return l
}

func (l *load) conn(server string, qps, lines, c int) {
	defer l.wg.Done()
	conn, err := net.Dial("udp", server)
	if err != nil {
		return
	}
	defer conn.Close()
	var sentAt [1 << 16]atomic.Int64 // by query ID: UnixNano sent, 0 when answered
	var samples []sample
	var smu sync.Mutex
	done := make(chan struct{})
	go func() { // receiver
		defer close(done)
		buf := make([]byte, 1500)
		for {
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := conn.Read(buf)
			now := time.Now()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					select {
					case <-l.stopc:
						return
					default:
						continue
					}
				}
				return
			}
			if n < 2 {
				continue
			}
			id := uint16(buf[0])<<8 | uint16(buf[1])
			if t := sentAt[id].Swap(0); t != 0 {
				at := time.Unix(0, t)
				smu.Lock()
				samples = append(samples, sample{at, now.Sub(at)})
				smu.Unlock()
			}
		}
	}()
	interval := time.Second / time.Duration(qps)
	next := time.Now()
	var id uint16
	rng := rand.New(rand.NewPCG(uint64(c), 1))
	msg := new(dns.Msg)
	for {
		select {
		case <-l.stopc:
			// Whatever is still unanswered a second later is lost.
			time.Sleep(time.Second)
			conn.SetReadDeadline(time.Now())
			<-done
			for i := range sentAt {
				if t := sentAt[i].Load(); t != 0 {
					samples = append(samples, sample{time.Unix(0, t), -1})
				}
			}
			l.mu.Lock()
			l.sent = append(l.sent, samples...)
			l.mu.Unlock()
			return
		default:
		}
		now := time.Now()
		for !next.After(now) {
			i := rng.IntN(lines)
			name := fmt.Sprintf("host%d%s", i, zone)
			if rng.IntN(2) == 1 {
				name = fmt.Sprintf("alias%d.svc%s", i, zone)
			}
			msg.SetQuestion(name, dns.TypeA)
			id++
			msg.Id = id
			wire, _ := msg.Pack()
			if old := sentAt[id].Swap(time.Now().UnixNano()); old != 0 {
				smu.Lock()
				samples = append(samples, sample{time.Unix(0, old), -1}) // ID reused unanswered
				smu.Unlock()
			}
			conn.Write(wire)
			next = next.Add(interval)
		}
		time.Sleep(time.Until(next))
	}
}

func (l *load) stop() {
	close(l.stopc)
	l.wg.Wait()
}

func (l *load) elapsed() time.Duration {
	var last time.Time
	for _, s := range l.sent {
		if s.at.After(last) {
			last = s.at
		}
	}
	return last.Sub(l.start)
}

// summary is the latency of a set of queries.
type summary struct {
	answered, lost      int
	p50, p99, p999, max float64 // ms
}

func (s summary) String() string {
	if s.answered == 0 {
		return fmt.Sprintf("no answers, %d lost", s.lost)
	}
	return fmt.Sprintf("%d answered: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; %d unanswered",
		s.answered, s.p50, s.p99, s.p999, s.max, s.lost)
}

// samples are the queries sent in [from, to].
func (l *load) samples(from, to time.Time) []sample {
	var out []sample
	for _, s := range l.sent {
		if !s.at.Before(from) && !s.at.After(to) {
			out = append(out, s)
		}
	}
	return out
}

// between summarises the queries sent in [from, to].
func (l *load) between(from, to time.Time) summary { return summarise(l.samples(from, to)) }

func summarise(samples []sample) summary {
	var took []time.Duration
	var s summary
	for _, q := range samples {
		if q.took < 0 {
			s.lost++
			continue
		}
		took = append(took, q.took)
	}
	s.answered = len(took)
	if len(took) == 0 {
		return s
	}
	slices.Sort(took)
	p := func(q float64) float64 { return ms(took[min(len(took)-1, int(q*float64(len(took))))]) }
	s.p50, s.p99, s.p999, s.max = p(0.5), p(0.99), p(0.999), ms(took[len(took)-1])
	return s
}
