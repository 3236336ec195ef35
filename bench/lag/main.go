// Command lag measures how long a running server takes to answer with a new
// address after its hosts file changes. It rewrites the file n times by atomic
// rename (write a temporary file, rename it over) and n times in place
// (truncate and write), each time moving one name to a new address, polls the
// server over UDP in a tight loop until the new address appears, and prints
// p50 and max per method.
//
//	lag -server 127.0.0.1:15353 -file bench/out/hosts -name lag.bench.test
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func main() {
	server := flag.String("server", "127.0.0.1:15353", "DNS server to poll (loopback only)")
	file := flag.String("file", "", "hosts file the server watches")
	name := flag.String("name", "lag.bench.test", "name to move to a new address on each change")
	n := flag.Int("n", 10, "changes per method")
	timeout := flag.Duration("timeout", 10*time.Second, "give up on one change after this long")
	pause := flag.Duration("pause", 200*time.Millisecond, "wait between changes, so one change's debounce does not absorb the next")
	flag.Parse()
	if err := run(*server, *file, dns.Fqdn(*name), *n, *timeout, *pause); err != nil {
		fmt.Fprintln(os.Stderr, "lag:", err)
		os.Exit(1)
	}
}

// method writes content to path in one of the two ways a hosts file changes.
type method struct {
	name  string
	write func(path string, content []byte) error
}

var methods = []method{
	{"atomic rename", func(path string, content []byte) error {
		tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
		if err := os.WriteFile(tmp, content, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, path)
	}},
	{"in-place rewrite", func(path string, content []byte) error {
		// os.WriteFile truncates, then writes: a reader may see it empty.
		return os.WriteFile(path, content, 0o644)
	}},
}

func run(server, file, name string, n int, timeout, pause time.Duration) error {
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("server %s: only loopback addresses are allowed", server)
	}
	if file == "" {
		return errors.New("-file is required")
	}
	original, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	// Keep every other line; the measured name gets its own last line.
	var base strings.Builder
	for line := range strings.Lines(string(original)) {
		if f := strings.Fields(line); len(f) >= 2 && slices.Contains(f[1:], strings.TrimSuffix(name, ".")) {
			continue
		}
		base.WriteString(line)
	}
	conn, err := dns.Dial("udp", server)
	if err != nil {
		return err
	}
	defer conn.Close()
	content := func(addr string) []byte {
		return []byte(base.String() + addr + " " + strings.TrimSuffix(name, ".") + "\n")
	}

	// Start from a known, served address.
	if err := methods[0].write(file, content("10.99.0.1")); err != nil {
		return err
	}
	if err := waitFor(conn, name, "10.99.0.1", timeout); err != nil {
		return fmt.Errorf("initial address: %w", err)
	}

	seq := 1
	for _, m := range methods {
		var lags []time.Duration
		for range n {
			seq++
			addr := fmt.Sprintf("10.99.%d.%d", seq/250, 1+seq%250)
			time.Sleep(pause)
			start := time.Now()
			if err := m.write(file, content(addr)); err != nil {
				return err
			}
			if err := waitFor(conn, name, addr, timeout); err != nil {
				return fmt.Errorf("%s to %s: %w", m.name, addr, err)
			}
			// From the start of the write to the first answer with the new address.
			lags = append(lags, time.Since(start))
		}
		slices.Sort(lags)
		fmt.Printf("%-16s n=%d p50=%v max=%v all=%v\n", m.name, len(lags),
			ms(lags[(len(lags)-1)/2]), ms(lags[len(lags)-1]), msAll(lags))
	}
	return nil
}

// waitFor queries name until an A record carries want.
func waitFor(conn *dns.Conn, name, want string, timeout time.Duration) error {
	start := time.Now()
	q := new(dns.Msg).SetQuestion(name, dns.TypeA)
	last := "no answer"
	for time.Since(start) < timeout {
		q.Id = dns.Id()
		conn.SetDeadline(time.Now().Add(100 * time.Millisecond))
		if err := conn.WriteMsg(q); err != nil {
			return err
		}
		r, err := conn.ReadMsg()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				last = "timeout"
				continue
			}
			return err
		}
		if r.Id != q.Id {
			continue // a late answer to an earlier query
		}
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
	return fmt.Errorf("no %s after %v (last: %s)", want, timeout, last)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

func msAll(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)))
	}
	return "[" + strings.Join(s, " ") + "]"
}
