package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// A rootless engine (rootless Docker under RootlessKit, a user's Podman)
// runs its containers' networks inside the user's namespaces: their
// addresses exist there only, and neither this machine nor the LAN reaches
// them. Only ports published on the host are reached, through the
// engine's port forwarder. Such an engine is served as host_mode serves
// any: its containers answer the addresses their ports are published on,
// and NODATA without. It is told from the API at each connection:
//
//   - Docker lists "name=rootless" among /info's SecurityOptions.
//   - Podman's Docker-compatible /info does not say (4.3): its own API's
//     /libpod/info has host.security.rootless.

// mobyEngine is the moby client, with what Podman's own API adds.
type mobyEngine struct{ *client.Client }

// libpodInfoPath is a libpod endpoint every Podman since 4.0 serves (it
// accepts any version in the path).
const libpodInfoPath = "/v4.0.0/libpod/info"

// PodmanHost reads the host part of Podman's /libpod/info, over the
// connection the moby client would use (unix socket, TCP, TLS).
func (e mobyEngine) PodmanHost(ctx context.Context) (podmanHost, error) {
	dial := e.Dialer()
	hc := &http.Client{Transport: &http.Transport{
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		DisableKeepAlives: true, // one request per connection
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://podman"+libpodInfoPath, nil)
	if err != nil {
		return podmanHost{}, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return podmanHost{}, err
	}
	defer res.Body.Close()
	return readPodmanHost(res.StatusCode, res.Body)
}

// podmanHost is the part of /libpod/info read here.
type podmanHost struct {
	Security struct {
		Rootless bool `json:"rootless"`
	} `json:"security"`
}

// readPodmanHost decodes a /libpod/info response.
func readPodmanHost(status int, body io.Reader) (podmanHost, error) {
	if status != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return podmanHost{}, fmt.Errorf("%s: %d %s", libpodInfoPath, status, strings.TrimSpace(string(msg)))
	}
	var info struct {
		Host *podmanHost `json:"host"`
	}
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&info); err != nil {
		return podmanHost{}, fmt.Errorf("%s: %w", libpodInfoPath, err)
	}
	if info.Host == nil {
		return podmanHost{}, fmt.Errorf("%s: no host in the answer", libpodInfoPath)
	}
	return *info.Host, nil
}

// dockerRootless reads Docker's /info: rootless lists "name=rootless"
// among its security options ("name=seccomp,profile=default" shows their
// shape).
func dockerRootless(info system.Info) bool {
	for _, opt := range info.SecurityOptions {
		for _, field := range strings.Split(opt, ",") {
			if field == "name=rootless" {
				return true
			}
		}
	}
	return false
}

// engineRootless asks an engine of kind whether it is rootless.
func engineRootless(ctx context.Context, e engine, kind EngineKind) (bool, error) {
	if kind == KindPodman {
		h, err := e.PodmanHost(ctx)
		return h.Security.Rootless, err
	}
	res, err := e.Info(ctx, client.InfoOptions{})
	if err != nil {
		return false, fmt.Errorf("info: %w", err)
	}
	return dockerRootless(res.Info), nil
}
