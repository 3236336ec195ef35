// Command hostname is the only process of a throwaway test image built FROM
// scratch: an HTTP server on :8080 that answers every request with the
// container's hostname, so a test can tell which container a published port
// reached. Like testdata/idle it exits at once on SIGTERM or SIGINT, so
// `docker stop` does not wait for its kill timeout.
package main

import (
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	name, _ := os.Hostname()
	ln, err := net.Listen("tcp", ":8080")
	if err != nil {
		os.Exit(1)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(name + "\n"))
	}))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
