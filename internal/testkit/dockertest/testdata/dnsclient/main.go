// Command dnsclient is the only process of a throwaway test image built FROM
// scratch: it asks SERVER (host:port) for NAME's A records every 100 ms and
// prints each answer on a line of its own ("10.0.0.1 10.0.0.2", "-" for
// none), so a test can read from `docker logs` what a client container is
// answered. Like testdata/idle it exits at once on SIGTERM or SIGINT.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: dnsclient SERVER NAME")
		os.Exit(2)
	}
	server, name := os.Args[1], dns.Fqdn(os.Args[2])
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	c := &dns.Client{Timeout: time.Second}
	for {
		var addrs []string
		if r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), server); err == nil {
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok {
					addrs = append(addrs, a.A.String())
				}
			}
		}
		if len(addrs) == 0 {
			addrs = []string{"-"}
		}
		fmt.Println(strings.Join(addrs, " "))
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
