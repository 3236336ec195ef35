package dockerhosts

// Ready implements ready.Readiness: true once every source loaded once.
func (d *DockerHosts) Ready() bool { return d.sources.ready() }
