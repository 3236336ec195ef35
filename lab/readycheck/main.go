// Command readycheck is the resolver image's Docker HEALTHCHECK: the image is
// FROM scratch, with no shell or curl, so this static binary fetches one URL
// and exits 0 only on HTTP 200. Pointed at CoreDNS's /ready endpoint, it makes
// the container's health status follow the dockerhosts plugin's first Docker
// sync rather than mere process liveness.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	url := "http://127.0.0.1:8181/ready"
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "readycheck: %v\n", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "readycheck: %s: %s\n", url, resp.Status)
		os.Exit(1)
	}
}
