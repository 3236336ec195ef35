// Package dockerhosts is a CoreDNS plugin that serves Docker container names
// and watched hosts files as authoritative DNS records.
package dockerhosts

import (
	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
)

const pluginName = "dockerhosts"

func init() { plugin.Register(pluginName, setup) }

// setup is a placeholder until the real Corefile parser lands.
func setup(c *caddy.Controller) error {
	for c.Next() {
	}
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		return &DockerHosts{Next: next}
	})
	return nil
}
