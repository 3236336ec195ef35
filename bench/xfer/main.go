// Command xfer measures zone transfers from a built custom CoreDNS serving
// n containers' worth of hosts (a hosts file: name, alias, one address each):
//
//  1. AXFR of the forward zone over TCP, 10 times: records, p50 and max time,
//     and the server's resident memory before and after (VmRSS, VmHWM);
//  2. dnsperf against the server alone, then beside one AXFR a second (what a
//     secondary does at most, NOTIFYed on every change: the serial changes at
//     most once a second), then beside back-to-back AXFRs (the worst case),
//     in rounds: queries per second and the ratios.
//
// The server is started pinned to -server-cpu, dnsperf to -client-cpu; run
// this program on the client CPU too. Only 127.0.0.1 receives traffic.
//
//	xfer -coredns ./coredns -n 10000 -seconds 10 -rounds 3
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/knottest"
)

func main() {
	coredns := flag.String("coredns", "./coredns", "the custom CoreDNS binary")
	n := flag.Int("n", 10000, "containers (hosts-file lines)")
	seconds := flag.Int("seconds", 10, "seconds per dnsperf run")
	rounds := flag.Int("rounds", 3, "pairs of dnsperf runs (alone, beside transfers)")
	port := flag.Int("port", 0, "server port on 127.0.0.1 (0: a free one)")
	serverCPU := flag.String("server-cpu", "0", "CPU the server is pinned to (taskset)")
	clientCPU := flag.String("client-cpu", "1", "CPU dnsperf is pinned to (taskset)")
	flag.Parse()
	if err := run(*coredns, *n, *seconds, *rounds, *port, *serverCPU, *clientCPU); err != nil {
		fmt.Fprintln(os.Stderr, "xfer:", err)
		os.Exit(1)
	}
}

const zone = "bench.test."

func run(coredns string, n, seconds, rounds, port int, serverCPU, clientCPU string) error {
	dir, err := os.MkdirTemp("", "xfer-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var hosts, queries strings.Builder
	for i := range n {
		fmt.Fprintf(&hosts, "10.%d.%d.%d c%05d alias-c%05d\n", i>>16&255, i>>8&255, i&255, i, i)
		fmt.Fprintf(&queries, "c%05d.%s A\n", i, zone)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err == nil {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		return p
	}
	hostsFile, queryFile := write("hosts", hosts.String()), write("queries", queries.String())
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if port == 0 {
		// Other benchmarks may run on this machine: never share their port.
		if addr, err = knottest.PickAddr(); err != nil {
			return err
		}
		_, p, _ := net.SplitHostPort(addr)
		port, _ = strconv.Atoi(p)
	}
	corefile := write("Corefile", fmt.Sprintf("%s:%d 10.in-addr.arpa.:%d {\n bind 127.0.0.1\n transfer {\n  to *\n }\n dockerhosts {\n  hostsfile %s\n }\n}\n",
		zone, port, port, hostsFile))
	if err != nil {
		return err
	}

	server := exec.Command("taskset", "-c", serverCPU, coredns, "-quiet", "-conf", corefile)
	var serverLog strings.Builder
	server.Stdout, server.Stderr = &serverLog, &serverLog
	if err := server.Start(); err != nil {
		return err
	}
	defer func() { server.Process.Kill(); server.Wait() }()
	if err := awaitAnswer(addr, "c00000."+zone, 15*time.Second); err != nil {
		return fmt.Errorf("%v; server output:\n%s", err, serverLog.String())
	}

	// 1. AXFR time and the server's memory.
	rss0, hwm0 := memory(server.Process.Pid)
	cpu0 := cpuTime(server.Process.Pid)
	var times []time.Duration
	records := 0
	for range 10 {
		start := time.Now()
		records, err = axfr(addr)
		if err != nil {
			return err
		}
		times = append(times, time.Since(start))
	}
	cpu1 := cpuTime(server.Process.Pid)
	rss1, hwm1 := memory(server.Process.Pid)
	slices.Sort(times)
	fmt.Printf("AXFR of %d containers (%d records) over TCP, 10 transfers: p50 %s, max %s\n",
		n, records, times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	fmt.Printf("server CPU per AXFR: %s (so one AXFR a second takes %.1f%% of its core)\n",
		((cpu1 - cpu0) / 10).Round(100*time.Microsecond), float64(cpu1-cpu0)/10/float64(time.Second)*100)
	fmt.Printf("server memory: VmRSS %d -> %d MiB, VmHWM %d -> %d MiB\n", rss0>>10, rss1>>10, hwm0>>10, hwm1>>10)

	// 2. dnsperf alone and beside back-to-back transfers.
	dnsperf := func() (float64, error) {
		out, err := exec.Command("taskset", "-c", clientCPU, "dnsperf", "-s", "127.0.0.1", "-p", strconv.Itoa(port),
			"-d", queryFile, "-l", strconv.Itoa(seconds)).CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("dnsperf: %v: %s", err, out)
		}
		if !regexp.MustCompile(`NOERROR \d+ \(100\.00%\)`).Match(out) {
			return 0, fmt.Errorf("dnsperf: not every answer NOERROR:\n%s", out)
		}
		m := regexp.MustCompile(`Queries per second:\s+([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("dnsperf: no QPS in:\n%s", out)
		}
		return strconv.ParseFloat(string(m[1]), 64)
	}
	if _, err := dnsperf(); err != nil { // warm-up
		return err
	}
	// besideTransfers runs dnsperf while AXFRs go every interval (0: back
	// to back), and returns its QPS and the number of transfers.
	besideTransfers := func(interval time.Duration) (float64, int64, error) {
		ctx, cancel := context.WithCancel(context.Background())
		var transfers atomic.Int64
		var wg sync.WaitGroup
		var xferErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				next := time.Now().Add(interval)
				if _, err := axfr(addr); err != nil {
					xferErr = err
					return
				}
				transfers.Add(1)
				select {
				case <-ctx.Done():
				case <-time.After(time.Until(next)):
				}
			}
		}()
		q, err := dnsperf()
		cancel()
		wg.Wait()
		if err == nil {
			err = xferErr
		}
		return q, transfers.Load(), err
	}
	var alone, perSecond, backToBack []float64
	for r := 1; r <= rounds; r++ {
		a, err := dnsperf()
		if err != nil {
			return err
		}
		s, sn, err := besideTransfers(time.Second)
		if err != nil {
			return err
		}
		b, bn, err := besideTransfers(0)
		if err != nil {
			return err
		}
		alone, perSecond, backToBack = append(alone, a), append(perSecond, s), append(backToBack, b)
		fmt.Printf("round %d: alone %.0f qps; beside %d AXFRs, one a second, %.0f qps (ratio %.3f); beside %d back-to-back AXFRs %.0f qps (ratio %.3f)\n",
			r, a, sn, s, s/a, bn, b, b/a)
	}
	ma := mean(alone)
	fmt.Printf("dnsperf, mean of %d rounds: alone %.0f qps; beside one AXFR a second %.0f qps, ratio of means %.3f; beside back-to-back AXFRs %.0f qps, ratio %.3f\n",
		rounds, ma, mean(perSecond), mean(perSecond)/ma, mean(backToBack), mean(backToBack)/ma)
	return nil
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// axfr transfers the zone and returns how many records came.
func axfr(addr string) (int, error) {
	m := new(dns.Msg)
	m.SetAxfr(zone)
	envs, err := (&dns.Transfer{ReadTimeout: 30 * time.Second}).In(m, addr)
	if err != nil {
		return 0, err
	}
	n := 0
	for e := range envs {
		if e.Error != nil {
			return 0, e.Error
		}
		n += len(e.RR)
	}
	return n, nil
}

func awaitAnswer(addr, name string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r, err := dns.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr)
		if err == nil && len(r.Answer) > 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s does not answer %s within %s", addr, name, within)
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux.
const clockTicks = 100

// memory is the process's resident set and its peak, in KiB.
func memory(pid int) (rss, hwm int) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}
