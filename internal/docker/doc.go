// Package docker holds the two Docker sources of dockerhosts, each behind
// the plugin's one source contract and writing to its own index.Sink:
//
//   - Source follows one engine's containers: container_session.go keeps the
//     session (connect, subscribe then list, events, backoff, resync),
//     container_served.go keeps what is served up to date,
//     container_enginehost.go names the engine's host for published ports,
//     container_enginekind.go tells Docker from Podman,
//     container_rootless.go tells a rootless engine (served as host_mode),
//     and container_podman.go turns Podman's events and states into
//     Docker's.
//     A container becomes names in container_hosts.go (recordFor: its name,
//     its short ID, its labels and name templates, its networks' aliases);
//     container_readiness.go tells whether it can take traffic: its service
//     names answer it only then, its identity names whenever it runs.
//   - SwarmSource follows the engine's swarm through a manager:
//     swarm_session.go polls and resyncs, swarm_state.go keeps services,
//     tasks and nodes. A swarm task becomes names in swarm_hosts.go
//     (taskFrom, taskHost: its container name and tasks.<service>), as do
//     services (VIPs, SRV records, their labels) and nodes;
//     swarm_aliases.go makes the hosts of network aliases, which answer
//     only on their own networks.
//
// Both keep the last known records while their engine is away, reconnect
// with backoff and resync fully on return. handoff.go passes a task's
// container from the container source to the swarm source while the swarm
// is served; labels, templates, TXT records, the client and the metrics'
// gauge ownership are shared.
package docker
