package docker

import (
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// While the engine's swarm source serves the swarm, a task's container is
// left to it: the container source drops it at once, and serves it again
// when the swarm source stops serving.
func TestTaskContainersAreLeftToTheSwarmSource(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "task1", name: "web.1.abcdef", labels: map[string]string{labelSwarmTaskID: "abcdef"}}.build())
	fe.set(ctr{id: "plain", name: "plain"}.build())
	tasks := NewSwarmTasks()
	_, sink := running(t, Config{SwarmTasks: tasks}, fe)
	served := func(id string) bool { _, ok := sink.host(id); return ok }
	if !served("task1") || !served("plain") {
		t.Fatal("before the swarm is served, a task's container is served like any other")
	}
	tasks.set(true)
	await.True(t, waitLimit, "the task container left to the swarm source", func() bool { return !served("task1") })
	if !served("plain") {
		t.Error("a plain container went with the task containers")
	}
	tasks.set(false)
	await.True(t, waitLimit, "the task container served again", func() bool { return served("task1") })
}
