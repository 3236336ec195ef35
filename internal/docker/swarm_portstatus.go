package docker

// keepHostPorts gives v, a running task as a manager reports it now, the
// host-mode ports a known record of the same task (same ID, same node) had,
// when the manager reports none. Docker binds a task's host ports once, for
// the life of its container; but a manager elected after its leader died
// records the status of every running task again as the agents re-report
// it, without the ports (Docker 20.10: every surviving host-mode task, at
// each leader change; TestFleet's manager failover shows it). Without this
// the SRV records and published addresses of all those tasks would vanish
// while their ports still answer. known are the task as served, and as it
// was before a full sync that rebuilds the state.
func keepHostPorts(v *swarmTask, known ...*swarmTask) {
	if len(v.hostPorts) > 0 {
		return
	}
	for _, k := range known {
		if k != nil && k.nodeID == v.nodeID && len(k.hostPorts) > 0 {
			v.hostPorts = k.hostPorts
			return
		}
	}
}
