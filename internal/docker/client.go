package docker

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"github.com/moby/moby/client"
)

// engine is the part of the Docker Engine API the source uses: reads only,
// so the plugin can sit behind a read-only socket proxy. mobyEngine
// implements it; tests drive a fake. The moby client is pre-1.0, so keeping
// the surface this small keeps an upgrade small too.
type engine interface {
	Ping(ctx context.Context, options client.PingOptions) (client.PingResult, error)
	ServerVersion(ctx context.Context, options client.ServerVersionOptions) (client.ServerVersionResult, error)
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	// Info and PodmanHost tell a rootless engine (container_rootless.go).
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	PodmanHost(ctx context.Context) (podmanHost, error)
	Close() error
}

var _ engine = mobyEngine{}

// newEngine builds a moby client for cfg. It does not dial: an unreachable
// daemon is Run's business, only a malformed endpoint or unreadable TLS
// files fail here.
func newEngine(cfg Config) (*client.Client, error) {
	// FromEnv: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH and
	// DOCKER_API_VERSION. Without DOCKER_API_VERSION the client negotiates
	// the version on its first request (down to 1.40; the engine here is 1.41).
	opts := []client.Opt{client.FromEnv}
	if cfg.Endpoint != "" {
		opts = append(opts, client.WithHost(cfg.Endpoint))
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" || cfg.TLSCA != "" {
		opts = append(opts, client.WithTLSClientConfig(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", endpointName(cfg), err)
	}
	return c, nil
}

// endpointName is the endpoint as logs show it.
func endpointName(cfg Config) string {
	if cfg.Endpoint != "" {
		return cfg.Endpoint
	}
	if h := os.Getenv(client.EnvOverrideHost); h != "" {
		return h
	}
	return client.DefaultDockerHost
}

// DefaultIsLocal reports whether the default endpoint (DOCKER_HOST, else
// the default socket) is on this machine.
func DefaultIsLocal() bool {
	u, err := url.Parse(endpointName(Config{}))
	return err == nil && (u.Scheme == "unix" || u.Scheme == "npipe")
}
