// Command hostname is the only process of a throwaway test image built FROM
// scratch: an HTTP server on :8080 that answers every request with the
// container's hostname, so a test can tell which container a published port
// reached. Like testdata/idle it exits at once on SIGTERM or SIGINT, so
// `docker stop` does not wait for its kill timeout.
//
// For health tests it behaves as an app with a warm-up and a graceful drain
// would: WARMUP (a duration) answers 503 until it has passed; DRAIN keeps
// serving that long after SIGTERM; SIGHUP changes nothing. Its subcommands run inside the container
// (no shell there: HEALTHCHECK and docker exec use the exec form):
// `hostname check` is the health check (exit 0 once warm and not sick),
// `hostname sick` and `hostname well` turn the check's answer.
package main

import (
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const (
	addr     = ":8080"
	sickFile = "/sick"
)

func main() {
	if len(os.Args) > 1 {
		os.Exit(subcommand(os.Args[1]))
	}
	name, _ := os.Hostname()
	warm := time.Now().Add(duration("WARMUP"))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		os.Exit(1)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		if time.Now().Before(warm) {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(name + " warming up\n"))
			return
		}
		if r.URL.Path == "/healthz" {
			if _, err := os.Stat(sickFile); err == nil {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}
		w.Write([]byte(name + "\n"))
	}))
	// SIGHUP is a reload, as for most servers: it keeps running.
	signal.Ignore(syscall.SIGHUP)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	time.Sleep(duration("DRAIN")) // requests keep being served meanwhile
}

func duration(env string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(env))
	return d
}

func subcommand(cmd string) int {
	switch cmd {
	case "check":
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://127.0.0.1" + addr + "/healthz")
		if err != nil {
			return 1
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 1
		}
		return 0
	case "sick":
		if f, err := os.Create(sickFile); err == nil {
			f.Close()
			return 0
		}
	case "well":
		if err := os.Remove(sickFile); err == nil || os.IsNotExist(err) {
			return 0
		}
	}
	return 2
}
