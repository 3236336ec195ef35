// Command appsrv is the lab's backend: a static HTTP server that answers every
// request with the name of the container it runs in and the address the
// request arrived on, so a test behind a load balancer can tell which
// container, at which address, served each response.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := envOr("APP_LISTEN", ":8080")
	// Docker sets the hostname to the short container ID, which is unique per
	// replica; APP_NAME overrides it where a fixed, readable name is wanted.
	name := os.Getenv("APP_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// The local address is the one the client (HAProxy) connected to:
		// it shows which of the container's addresses is being used.
		addr := "unknown"
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if host, _, err := net.SplitHostPort(a.String()); err == nil {
				addr = host
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Connection", "close")
		fmt.Fprintf(w, "name=%s addr=%s\n", name, addr)
	})

	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	// A scratch container runs this as PID 1: handle SIGTERM ourselves so
	// `docker stop` returns at once instead of waiting for SIGKILL.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()

	log.Printf("appsrv %s listening on %s", name, listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("appsrv: %v", err)
	}
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
