// Command idle is the only process of the throwaway images the integration
// tests build FROM scratch (nothing can be pulled here). It sleeps until
// SIGTERM or SIGINT and then exits at once, so `docker stop` takes
// milliseconds instead of its 10 s kill timeout.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
