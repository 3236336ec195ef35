package dockerhosts

import (
	"github.com/dockerhosts/dockerhosts/internal/index"
)

// reaches reports whether the SRV record s is for the client: a container
// port is answered at the container to clients on one of the container's
// networks, and at its published host port to everyone else (index.Reach).
func (d *DockerHosts) reaches(s index.SRV, c *client, snap *index.Snapshot) bool {
	if s.Reach == index.ReachAll {
		return true
	}
	return d.onNetworks(snap.Lookup(s.On), c) == (s.Reach == index.ReachNetworks)
}

// onNetworks reports whether the client is on one of the networks of the
// host at e: inside the subnet of one of its addresses, in that address's
// engine.
func (d *DockerHosts) onNetworks(e *index.Entry, c *client) bool {
	if e == nil {
		return false
	}
	for _, ts := range [][]index.Target{e.A, e.AAAA} {
		for _, t := range ts {
			if d.clientOn(t, c) {
				return true
			}
		}
	}
	return false
}
