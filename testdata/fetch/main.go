// Command fetch is the only process of a throwaway test image built FROM
// scratch: every 200 ms it looks up URL's host through the container's
// /etc/resolv.conf (Go's own resolver, as most programs resolve), GETs URL
// and prints a line "ADDRESSES BODY" ("-" for a failure), so that a test
// reads from `docker logs` what a client container was told and which
// server it reached. It exits at once on SIGTERM or SIGINT.
//
//	fetch http://web.docker:32768/
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fetch URL")
		os.Exit(2)
	}
	u, err := url.Parse(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	client := &http.Client{Timeout: time.Second}
	for {
		addrs, body := "-", "-"
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if found, err := net.DefaultResolver.LookupHost(ctx, u.Hostname()); err == nil && len(found) > 0 {
			addrs = strings.Join(found, ",")
		}
		cancel()
		if resp, err := client.Get(u.String()); err == nil {
			if b, err := io.ReadAll(resp.Body); err == nil && resp.StatusCode == http.StatusOK {
				body = strings.TrimSpace(string(b))
			}
			resp.Body.Close()
		}
		fmt.Println(addrs, body)
		select {
		case <-stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}
