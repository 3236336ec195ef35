// Command dnsprobe runs in a container on a swarm overlay network and asks
// Docker's embedded DNS (127.0.0.11) and dockerhosts the same names, until
// every name gets the same set of A addresses from both or time runs out.
// It prints one JSON line per name and exits 0 when all answers are equal,
// 1 when some are not, 2 on a usage error. With -watch it prints each change
// of either server's answer, timed, until SIGTERM. The tests build it with
// CGO_ENABLED=0 into an image FROM scratch.
//
//	dnsprobe -ours 172.18.0.1:5300 -zone docker. -within 10s web tasks.web
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

type result struct {
	Name   string   `json:"name"`
	Docker []string `json:"docker"`
	Ours   []string `json:"ours"`
	Equal  bool     `json:"equal"`
}

func main() {
	embedded := flag.String("docker", "127.0.0.11:53", "Docker's embedded DNS")
	ours := flag.String("ours", "", "dockerhosts, host:port")
	zone := flag.String("zone", "docker.", "the zone dockerhosts serves the names in")
	within := flag.Duration("within", 10*time.Second, "how long to wait for equal answers")
	watch := flag.Bool("watch", false, "instead, print each change of either answer until SIGTERM")
	flag.Parse()
	if *ours == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: dnsprobe -ours HOST:PORT [-zone Z] [-within D | -watch] NAME...")
		os.Exit(2)
	}
	if *watch {
		watchAnswers(*embedded, *ours, dns.Fqdn(*zone), flag.Args())
		return
	}
	deadline := time.Now().Add(*within)
	for {
		results, equal := probe(*embedded, *ours, dns.Fqdn(*zone), flag.Args())
		if equal || time.Now().After(deadline) {
			// Differences go to stderr too: the tests show it on failure.
			out := io.Writer(os.Stdout)
			if !equal {
				out = io.MultiWriter(os.Stdout, os.Stderr)
			}
			enc := json.NewEncoder(out)
			for _, r := range results {
				_ = enc.Encode(r)
			}
			if !equal {
				os.Exit(1)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func probe(embedded, ours, zone string, names []string) ([]result, bool) {
	all := true
	out := make([]result, 0, len(names))
	for _, name := range names {
		r := result{Name: name, Docker: lookupA(embedded, dns.Fqdn(name)), Ours: lookupA(ours, dns.Fqdn(name)+zone)}
		r.Equal = slices.Equal(r.Docker, r.Ours)
		all = all && r.Equal
		out = append(out, r)
	}
	return out, all
}

// lookupA returns the sorted A addresses of name at server, or one
// "error: ..." entry.
func lookupA(server, name string) []string {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	addrs := []string{}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.String())
		}
	}
	slices.Sort(addrs)
	return addrs
}

// change is one new answer of one server, when it was first seen.
type change struct {
	At     int64    `json:"at"` // Unix nanoseconds
	Server string   `json:"server"`
	Name   string   `json:"name"`
	Answer []string `json:"answer"`
}

// watchAnswers asks both servers every 5 ms and prints each change of an
// answer, until SIGTERM or SIGINT: the benchmark compares when Docker's DNS
// and ours stop (or start) answering an address.
func watchAnswers(embedded, ours, zone string, names []string) {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	enc := json.NewEncoder(os.Stdout)
	last := map[string][]string{}
	for {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		for _, name := range names {
			for _, q := range []struct{ server, addr, fqdn string }{
				{"docker", embedded, dns.Fqdn(name)}, {"ours", ours, dns.Fqdn(name) + zone},
			} {
				answer := lookupA(q.addr, q.fqdn)
				key := q.server + " " + name
				if prev, seen := last[key]; seen && slices.Equal(prev, answer) {
					continue
				}
				last[key] = answer
				_ = enc.Encode(change{At: time.Now().UnixNano(), Server: q.server, Name: name, Answer: answer})
			}
		}
	}
}
