package dockerhosts

import (
	"context"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
)

// DockerHosts is the plugin handler.
type DockerHosts struct {
	Next plugin.Handler
}

// ServeDNS implements plugin.Handler.
func (d *DockerHosts) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return plugin.NextOrFailure(d.Name(), d.Next, ctx, w, r)
}

// Name implements plugin.Handler.
func (d *DockerHosts) Name() string { return pluginName }
