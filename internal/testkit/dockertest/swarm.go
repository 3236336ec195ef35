package dockertest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Swarm is this engine as a single-node swarm manager, for one test.
type Swarm struct {
	*Engine
	// NodeHostname is the manager node's hostname as the swarm reports it.
	NodeHostname string
	services     []string // created, to remove together when the test ends
}

// swarmRemovalWithin bounds the wait for a removed service's containers to
// go: their networks cannot be removed before.
const swarmRemovalWithin = 60 * time.Second

// RequireSwarm makes the engine a swarm manager for the test: it runs
// `docker swarm init` when the engine is in no swarm, and then (and only
// then) leaves the swarm when the test ends, after everything the test
// created is removed, and removes docker_gwbridge if it was not there. An engine that is a swarm worker skips the test
// (fails with DOCKERHOSTS_REQUIRE_DOCKER=1): its API cannot list the swarm.
func (e *Engine) RequireSwarm() *Swarm {
	e.t.Helper()
	state := e.Docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
	switch state {
	case "active true":
	case "inactive false":
		// Leaving keeps docker_gwbridge, made for the first overlay
		// container: it goes too unless it was there before.
		_, gwErr := e.run(nil, "network", "inspect", "docker_gwbridge")
		// Registered before anything swarm-scoped is created, so it runs
		// after their removal.
		e.t.Cleanup(func() {
			if _, err := e.run(nil, "swarm", "leave", "--force"); err != nil {
				e.t.Logf("cleanup: %v", err)
				return
			}
			if gwErr != nil {
				if _, err := e.run(nil, "network", "rm", "docker_gwbridge"); err != nil && !strings.Contains(err.Error(), "No such") {
					e.t.Logf("cleanup: %v", err)
				}
			}
		})
		if _, err := e.run(nil, "swarm", "init"); err != nil {
			// Several addresses and none chosen: this machine's loopback
			// keeps swarm traffic on it.
			if _, err := e.run(nil, "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
				e.t.Fatalf("docker swarm init: %v", err)
			}
		}
	default:
		Need(e.t, "a swarm", fmt.Errorf("the engine is not a swarm manager and not free to become one (state, control: %s)", state))
	}
	return &Swarm{Engine: e, NodeHostname: e.Docker("node", "inspect", "self", "--format", "{{.Description.Hostname}}")}
}

// Overlay creates an attachable overlay network Prefix-suffix with a /24 of
// its own under 10.214.0.0/16, picked at random (network removal is
// asynchronous: a subnet just released may still be taken), and returns its
// name and subnet. It is removed when the test ends, after the services
// created later.
func (s *Swarm) Overlay(suffix string) (string, netip.Prefix) {
	s.t.Helper()
	name := s.Name(suffix)
	s.cleanupQuiet("network", "rm", name)
	var lastErr error
	for range 16 {
		var b [1]byte
		_, _ = rand.Read(b[:])
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 214, b[0], 0}), 24)
		_, err := s.run(nil, "network", "create", "--driver", "overlay", "--attachable",
			"--subnet", subnet.String(), "--label", s.label(), name)
		if err == nil {
			return name, subnet
		}
		lastErr = err
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	s.t.Fatal(lastErr)
	return "", netip.Prefix{}
}

// Service creates a swarm service named Prefix-suffix (unless args name it)
// with `docker service create --detach --no-resolve-image` and the given
// arguments (options, then the image and its arguments), and returns its
// name. Its containers carry the test's label for the final sweep. When the
// test ends it is removed and its containers awaited, so that its networks
// can go.
func (s *Swarm) Service(suffix string, args ...string) string {
	s.t.Helper()
	return s.createService(s.Name(suffix), args)
}

// createService creates name with args after the options every test
// service gets; removal is registered first, so a half-created service
// goes too.
func (s *Swarm) createService(name string, args []string) string {
	s.t.Helper()
	if s.services == nil {
		// Registered with the first service, after the networks: runs
		// before their removal.
		s.t.Cleanup(s.removeServices)
	}
	s.services = append(s.services, name)
	base := []string{"service", "create", "--detach", "--no-resolve-image", "--name", name,
		"--label", s.label(), "--container-label", s.label()}
	if _, err := s.run(nil, append(base, args...)...); err != nil {
		s.t.Fatalf("create service %s: %v", name, err)
	}
	return name
}

// removeServices removes every service the test created, at once (each
// takes seconds: Docker drains a task from its DNS before stopping it), and
// waits for their containers to go, so that their networks can.
func (s *Swarm) removeServices() {
	var removed []string
	for _, name := range s.services {
		if _, err := s.run(nil, "service", "rm", name); err != nil {
			if !strings.Contains(err.Error(), "not found") {
				s.t.Logf("cleanup: %v", err)
			}
			continue
		}
		removed = append(removed, name)
	}
	deadline := time.Now().Add(swarmRemovalWithin)
	for len(removed) > 0 && time.Now().Before(deadline) {
		out, err := s.run(nil, "ps", "--all", "--quiet", "--filter", "label=com.docker.swarm.service.name="+removed[0])
		if err == nil && out == "" {
			removed = removed[1:]
			continue
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(removed) > 0 {
		s.t.Logf("cleanup: containers of services %v still there after %s", removed, swarmRemovalWithin)
	}
}

// WaitRunning waits until the service has exactly n tasks running and no
// other task meant to run, and returns the running tasks' IDs.
func (s *Swarm) WaitRunning(service string, n int, within time.Duration) []string {
	s.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		out, err := s.run(nil, ServicePSArgs(service)...)
		if err == nil {
			running, others := ParseServicePS(out)
			if len(running) == n && others == 0 {
				return running
			}
			last = out
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("service %s: not %d tasks running within %s; last seen:\n%s", service, n, within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ServicePSArgs are the docker arguments that list a service's tasks meant
// to run, in the form ParseServicePS reads.
func ServicePSArgs(service string) []string {
	return []string{"service", "ps", service, "--filter", "desired-state=running",
		"--no-trunc", "--format", "{{.ID}} {{.CurrentState}}"}
}

// ParseServicePS splits the output of ServicePSArgs into the IDs of the
// tasks running and the number of others meant to run that do not yet.
func ParseServicePS(out string) (running []string, others int) {
	for _, line := range strings.Split(out, "\n") {
		id, state, ok := strings.Cut(line, " ")
		switch {
		case !ok:
		case strings.HasPrefix(state, "Running"):
			running = append(running, id)
		default:
			others++
		}
	}
	return running, others
}

// GatewayBridge returns the gateway address of docker_gwbridge, where a
// container on an overlay reaches this host.
func (s *Swarm) GatewayBridge() netip.Addr {
	s.t.Helper()
	out := s.Docker("network", "inspect", "docker_gwbridge", "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}")
	for _, f := range strings.Fields(out) {
		if a, err := netip.ParseAddr(f); err == nil && a.Is4() {
			return a
		}
	}
	s.t.Fatalf("docker_gwbridge has no IPv4 gateway: %q", out)
	return netip.Addr{}
}

// ProgramImage builds the static program testdata/<program> into an image
// FROM scratch and returns its reference; the final sweep removes it.
func (e *Engine) ProgramImage(program string) string {
	e.t.Helper()
	return e.programImage("./testdata/" + program)
}

// StackService creates the service short of the stack, as `docker stack
// deploy` does: named <stack>_<short>, labelled with the stack's namespace,
// on network with short as its alias there. It is removed like Service's.
func (s *Swarm) StackService(stack, short, network string, args ...string) string {
	s.t.Helper()
	stackArgs := []string{
		"--label", "com.docker.stack.namespace=" + stack, "--container-label", "com.docker.stack.namespace=" + stack,
		"--network", "name=" + network + ",alias=" + short}
	return s.createService(stack+"_"+short, append(stackArgs, args...))
}

// For returns the swarm as the subtest t sees it: failures are t's and the
// services it creates are removed when t ends, so parallel subtests can
// share one swarm, network and image.
func (s *Swarm) For(t testing.TB) *Swarm {
	return &Swarm{Engine: &Engine{t: t, Prefix: s.Prefix, host: s.host}, NodeHostname: s.NodeHostname}
}

// ImportProgram builds the static program testdata/<program> and imports it
// as the image ref, like Engine.ProgramImage, for programs without a
// testing.T (bench/swarm-lag). The caller removes the image.
func ImportProgram(ctx context.Context, program, ref string, labels ...string) error {
	return importProgram(ctx, "./testdata/"+program, ref, labels...)
}

// Swarm returns the daemon, a manager of a swarm the test formed (see
// internal/testkit/fleet), as a Swarm: services made through it carry the
// test's label and are removed when the test ends, through this manager.
func (d *Daemon) Swarm() *Swarm {
	d.t.Helper()
	return &Swarm{Engine: d.engine, NodeHostname: d.Docker("node", "inspect", "self", "--format", "{{.Description.Hostname}}")}
}
