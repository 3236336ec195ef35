package docker

import "sync/atomic"

// SwarmTasks is shared by one engine's container source and its swarm
// source. On a manager's own node a task's container is also one of the
// engine's containers; while the swarm source serves the swarm, the task is
// answered from there alone: Docker's DNS drops a task when its desired
// state changes, seconds before its container stops, and the container
// source would keep its name until then.
type SwarmTasks struct {
	served  atomic.Bool
	changed chan struct{}
}

// NewSwarmTasks returns a handoff in which the swarm serves no tasks yet.
func NewSwarmTasks() *SwarmTasks { return &SwarmTasks{changed: make(chan struct{}, 1)} }

// Served reports whether the swarm source serves the tasks; false for nil.
func (t *SwarmTasks) Served() bool { return t != nil && t.served.Load() }

// Changed receives after Served changed; nil (never) for nil.
func (t *SwarmTasks) Changed() <-chan struct{} {
	if t == nil {
		return nil
	}
	return t.changed
}

func (t *SwarmTasks) set(v bool) {
	if t == nil || t.served.Swap(v) == v {
		return
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
}
