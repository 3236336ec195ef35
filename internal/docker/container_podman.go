package docker

import (
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// Podman serves the Docker Engine API (podman system service), with a few
// differences in its events, checked against podman 4.3. They are undone
// here, as the events arrive, so that the rest of the source sees Docker's
// shape:
//
//   - A container that stops reports "died" where Docker says "die". The
//     compat layer rewrites the word in the stream it sends, but matches
//     filters against its own word (podman#16857), so the subscription asks
//     for both.
//   - A removed container reports "remove" where Docker says "destroy".
//   - Network connect/disconnect carry the container's ID in Actor.ID, where
//     Docker has the network's ID and the container in
//     Attributes["container"].
//   - "rename" carries the new name only: harmless, since every event is
//     applied by inspecting the container.
//   - An inspect of a container that is being removed can fail with 500
//     "container ... does not exist in database: no such container" (Podman
//     finds the container, then reads it): the 404 Docker would give.
//   - A paused container is not Running (Docker: Running and Paused). It
//     keeps its address, and is served as Docker's is.
//   - Health checks report a bare "health_status" on every probe, with no
//     value (Docker: "health_status: healthy" on changes only), sent as
//     the check starts, before its result is saved: an inspect then reads
//     the previous result. The check's end is its "exec_died", which is
//     taken as the health event (a plain podman exec's costs an inspect).
//     Podman saves the result a few milliseconds after that event: one that
//     reaches the source within them still reads the previous result.
//   - A stop request sends no event (Docker: "kill" with the stop signal),
//     only the exit does ("died", sometimes "stop" after it); "kill"
//     carries no "signal" attribute, so it is never taken for a stop
//     request. A draining container is withdrawn at "died".
const (
	podmanActionDied     events.Action = "died"
	podmanActionRemove   events.Action = "remove"
	podmanActionExecDied events.Action = "exec_died"
)

// podmanEventActions are Podman's words for the actions eventFilters asks
// for, added to the subscription.
var podmanEventActions = []string{string(podmanActionDied), string(podmanActionRemove), string(podmanActionExecDied)}

// dockerShape returns ev as Docker would have sent it.
func dockerShape(ev events.Message) events.Message {
	switch ev.Type {
	case events.ContainerEventType:
		switch ev.Action {
		case podmanActionDied:
			ev.Action = events.ActionDie
		case podmanActionRemove:
			ev.Action = events.ActionDestroy
		case podmanActionExecDied:
			ev.Action = events.ActionHealthStatus
		}
	case events.NetworkEventType:
		if (ev.Action == events.ActionConnect || ev.Action == events.ActionDisconnect) &&
			ev.Actor.Attributes["container"] == "" && ev.Actor.ID != "" {
			// Podman: the actor is the container, and the network is not named.
			attrs := make(map[string]string, len(ev.Actor.Attributes)+1)
			for k, v := range ev.Actor.Attributes {
				attrs[k] = v
			}
			attrs["container"] = ev.Actor.ID
			ev.Actor = events.Actor{Attributes: attrs}
		}
	}
	return ev
}

// dockerShapeState returns the container's state as Docker reports it.
func dockerShapeState(c container.InspectResponse) container.InspectResponse {
	if c.State != nil && c.State.Paused && !c.State.Running {
		state := *c.State
		state.Running = true
		c.State = &state
	}
	return c
}

// userModeNetwork reports whether the container is on rootless Podman's
// user-mode networking (slirp4netns, pasta): it has no address outside its
// own namespace, and is reached only through its published ports. Such a
// container is answered as host_mode answers every container.
func userModeNetwork(hc *container.HostConfig) bool {
	if hc == nil {
		return false
	}
	mode, _, _ := strings.Cut(string(hc.NetworkMode), ":") // slirp4netns:port_handler=...
	return mode == "slirp4netns" || mode == "pasta"
}

// containerGone reports whether an inspect failed because the container no
// longer exists: Docker's 404, or Podman's 500 for one removed while it was
// read. Either way it is withdrawn, where any other failure breaks the
// session (and a resync follows).
func containerGone(err error) bool {
	return errdefs.IsNotFound(err) || errdefs.IsInternal(err) && strings.HasSuffix(err.Error(), podmanNoSuchContainer)
}

// podmanNoSuchContainer ends Podman's error for a container it no longer has
// (libpod's define.ErrNoSuchCtr).
const podmanNoSuchContainer = ": no such container"
