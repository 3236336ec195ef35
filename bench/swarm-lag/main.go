// Command swarm-lag measures how fast swarm task changes reach dockerhosts'
// answers. It runs CoreDNS with the plugin in process on 127.0.0.1, makes
// this machine's engine a single-node swarm manager if it is in no swarm
// (and then leaves the swarm at the end, only then), creates a service on
// an overlay of its own, and scales it through -steps, -rounds times:
//
//   - a new task's lag: from the moment the manager recorded it as running
//     (its Status.Timestamp) to the first answer of tasks.<service> carrying
//     its address (targets: p50 <= 1 s, max <= 3 s);
//   - a removed task's lag: from the scale-down command to the last answer
//     carrying its address. Docker's own DNS drops a task when its desired
//     state changes, which is after the command: this bounds our lag behind
//     Docker's DNS from above;
//   - a removed task's container name: from the command to NXDOMAIN. On
//     this node the container source serves the task's container too,
//     until the container stops;
//   - against Docker's own DNS: a probe container on the overlay (built
//     from testdata/dnsprobe) asks 127.0.0.11 and us for tasks.<service>
//     every 5 ms; for each address gained or lost, how much later our
//     answer changed than Docker's (negative: earlier).
//
// DNS is polled over UDP every -interval, the manager's task list every
// 20 ms. Only 127.0.0.1 receives DNS traffic; nothing is sent to overlay
// addresses. Everything it creates is removed at the end, on error and on
// SIGINT/SIGTERM too.
//
//	go run ./bench/swarm-lag
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/dockerhosts/dockerhosts"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

func main() {
	steps := flag.String("steps", "4,1,6,2,5,1", "replica counts to scale through, from 1")
	rounds := flag.Int("rounds", 2, "times to go through the steps")
	port := flag.Int("port", 15370, "DNS port on 127.0.0.1")
	interval := flag.Duration("interval", 2*time.Millisecond, "DNS poll interval")
	timeout := flag.Duration("timeout", 60*time.Second, "give up on one step after this long")
	flag.Parse()
	var counts []int
	for _, f := range strings.Split(*steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "swarm-lag: bad step %q\n", f)
			os.Exit(2)
		}
		counts = append(counts, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	b := &bench{prefix: "dhbench-" + randomHex(4), dnsAddr: fmt.Sprintf("127.0.0.1:%d", *port), interval: *interval, timeout: *timeout,
		containerNames: map[string]string{}}
	err := b.run(ctx, counts, *rounds)
	b.cleanup()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "swarm-lag:", err)
		os.Exit(1)
	}
}

type bench struct {
	prefix, dnsAddr   string
	interval, timeout time.Duration
	api               *client.Client
	undo              []func() // cleanup, last first
	added, removed    []time.Duration
	// containerNames maps a task's address to its container's name, served
	// by the swarm source and, on this node, by the container source too.
	containerNames map[string]string
	removedNames   []time.Duration // scale-down command -> container name NXDOMAIN
	probe          string          // the watching probe container's name
}

func (b *bench) run(ctx context.Context, counts []int, rounds int) error {
	var err error
	if b.api, err = client.New(client.FromEnv); err != nil {
		return err
	}
	b.undo = append(b.undo, func() { b.api.Close() })
	if err := b.swarm(ctx); err != nil {
		return err
	}
	image := b.prefix + "-idle:latest"
	if err := dockertest.ImportIdleImage(ctx, image); err != nil {
		return err
	}
	b.undo = append(b.undo, func() { docker("image", "rm", "--force", image) })
	net := b.prefix + "-net"
	b.undo = append(b.undo, func() { docker("network", "rm", net) })
	if _, err := docker("network", "create", "--driver", "overlay", "--attachable", "--subnet", "10.215."+strconv.Itoa(int(randomByte()))+".0/24", net); err != nil {
		return err
	}
	svc := b.prefix + "-web"
	b.undo = append(b.undo, func() { b.removeService(svc) })
	if _, err := docker("service", "create", "--detach", "--no-resolve-image", "--name", svc, "--network", net,
		"--replicas", "1", "--update-order", "start-first", image); err != nil {
		return err
	}
	netID, err := docker("network", "inspect", "--format", "{{.ID}}", net)
	if err != nil {
		return err
	}

	// The probe on the overlay reaches us at docker_gwbridge's gateway,
	// made when the service's first task starts.
	var gw string
	for deadline := time.Now().Add(b.timeout); ; time.Sleep(50 * time.Millisecond) {
		if running, err := b.running(ctx, svc, netID); err != nil {
			return err
		} else if len(running) > 0 {
			if gw, err = gatewayBridge(); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no running task with docker_gwbridge after %s", b.timeout)
		}
	}
	dirs := slices.Insert(slices.Clone(dnsserver.Directives), slices.Index(dnsserver.Directives, "hosts"), "dockerhosts")
	if err := dnsserver.SetDirectives(dirs); err != nil {
		return err
	}
	caddy.Quiet, dnsserver.Quiet = true, true
	port := b.dnsAddr[strings.LastIndex(b.dnsAddr, ":")+1:]
	inst, err := caddy.Start(caddy.CaddyfileInput{ServerTypeName: "dns", Contents: []byte(
		fmt.Sprintf(".:%s {\n\tbind 127.0.0.1 %s\n\tdockerhosts docker.\n}\n", port, gw))})
	if err != nil {
		return fmt.Errorf("start CoreDNS: %w", err)
	}
	b.undo = append(b.undo, func() { inst.Stop(); inst.ShutdownCallbacks() })

	probeImage := b.prefix + "-dnsprobe:latest"
	if err := dockertest.ImportProgram(ctx, "dnsprobe", probeImage); err != nil {
		return err
	}
	b.undo = append(b.undo, func() { docker("image", "rm", "--force", probeImage) })
	b.probe = b.prefix + "-probe"
	b.undo = append(b.undo, func() { docker("rm", "--force", b.probe) })
	if _, err := docker("run", "--detach", "--name", b.probe, "--network", net, probeImage,
		"-ours", gw+":"+port, "-watch", "tasks."+svc); err != nil {
		return err
	}

	name := "tasks." + svc + ".docker."
	current := 1
	if _, err := b.step(ctx, svc, netID, name, current); err != nil {
		return err
	}
	for r := range rounds {
		for _, n := range counts {
			began := time.Now()
			lags, err := b.step(ctx, svc, netID, name, n)
			if err != nil {
				return fmt.Errorf("round %d, %d -> %d: %w", r+1, current, n, err)
			}
			if n > current {
				b.added = append(b.added, lags...)
			} else {
				b.removed = append(b.removed, lags...)
			}
			fmt.Printf("round %d: %d -> %d replicas in %s, lags %v\n", r+1, current, n, time.Since(began).Round(time.Millisecond), round(lags))
			current = n
		}
	}
	report("new task: manager says running -> answered", b.added)
	report("removed task: scale-down command -> no longer answered", b.removed)
	report("removed task's container name: scale-down command -> NXDOMAIN", b.removedNames)
	return b.compareWithDocker("tasks." + svc)
}

// compareWithDocker stops the probe and reports, from what it saw inside
// the overlay, how much later (negative: earlier) our answer gained or lost
// each address than Docker's embedded DNS.
func (b *bench) compareWithDocker(name string) error {
	if _, err := docker("stop", b.probe); err != nil {
		return err
	}
	out, err := docker("logs", b.probe)
	if err != nil {
		return err
	}
	type event struct {
		at     int64
		addr   string
		gained bool
	}
	events := map[string][]event{} // server -> its changes of name's answer
	last := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		var c struct {
			At     int64    `json:"at"`
			Server string   `json:"server"`
			Name   string   `json:"name"`
			Answer []string `json:"answer"`
		}
		if json.Unmarshal([]byte(line), &c) != nil || c.Name != name {
			continue
		}
		prev, seen := last[c.Server]
		last[c.Server] = c.Answer
		if !seen {
			continue // the answer when the probe started
		}
		for _, a := range c.Answer {
			if !slices.Contains(prev, a) {
				events[c.Server] = append(events[c.Server], event{c.At, a, true})
			}
		}
		for _, a := range prev {
			if !slices.Contains(c.Answer, a) {
				events[c.Server] = append(events[c.Server], event{c.At, a, false})
			}
		}
	}
	var gained, lost []time.Duration
	for _, d := range events["docker"] {
		best, found := time.Duration(0), false
		for _, o := range events["ours"] {
			delta := time.Duration(o.at - d.at)
			if o.addr == d.addr && o.gained == d.gained && delta.Abs() < 20*time.Second && (!found || delta.Abs() < best.Abs()) {
				best, found = delta, true
			}
		}
		switch {
		case !found:
			fmt.Printf("address %s (gained %v) changed in Docker's DNS but not in ours\n", d.addr, d.gained)
		case d.gained:
			gained = append(gained, best)
		default:
			lost = append(lost, best)
		}
	}
	reportSigned("address gained, ours minus Docker's DNS (inside the overlay)", gained)
	reportSigned("address lost, ours minus Docker's DNS (inside the overlay)", lost)
	return nil
}

// reportSigned prints the median, min and max of deltas that may be
// negative (we were first).
func reportSigned(what string, deltas []time.Duration) {
	if len(deltas) == 0 {
		fmt.Printf("%s: no samples\n", what)
		return
	}
	slices.Sort(deltas)
	fmt.Printf("%s: n=%d p50=%s min=%s max=%s\n", what, len(deltas), deltas[len(deltas)/2].Round(time.Millisecond),
		deltas[0].Round(time.Millisecond), deltas[len(deltas)-1].Round(time.Millisecond))
}

// gatewayBridge returns docker_gwbridge's IPv4 gateway.
func gatewayBridge() (string, error) {
	out, err := docker("network", "inspect", "docker_gwbridge", "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}")
	if err != nil {
		return "", err
	}
	for _, f := range strings.Fields(out) {
		if a, err := netip.ParseAddr(f); err == nil && a.Is4() {
			return f, nil
		}
	}
	return "", fmt.Errorf("docker_gwbridge has no IPv4 gateway: %q", out)
}

// step scales to n and waits until the answer is exactly the running tasks'
// addresses, returning the lag of each task that came or went.
func (b *bench) step(ctx context.Context, svc, netID, name string, n int) ([]time.Duration, error) {
	before := b.answer(name)
	cmdAt := time.Now()
	if _, err := docker("service", "update", "--detach", "--replicas", strconv.Itoa(n), svc); err != nil {
		return nil, err
	}
	firstSeen := map[string]time.Time{} // address -> first answer with it
	lastSeen := map[string]time.Time{}  // address -> last answer with it
	for _, a := range before {
		lastSeen[a] = cmdAt
	}
	deadline := time.Now().Add(b.timeout)
	var running map[string]time.Time // address -> when the manager said running
	nextList := time.Now()
	for {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		now := time.Now()
		got := b.answer(name)
		for _, a := range got {
			if _, ok := firstSeen[a]; !ok {
				firstSeen[a] = now
			}
			lastSeen[a] = now
		}
		if now.After(nextList) {
			var err error
			if running, err = b.running(ctx, svc, netID); err != nil {
				return nil, err
			}
			nextList = now.Add(20 * time.Millisecond)
		}
		if len(running) == n && slices.Equal(got, sortedKeys(running)) {
			var lags []time.Duration
			for addr, at := range running {
				if !slices.Contains(before, addr) {
					lags = append(lags, max(0, firstSeen[addr].Sub(at)))
				}
			}
			var gone []string
			for _, addr := range before {
				if _, ok := running[addr]; !ok {
					lags = append(lags, lastSeen[addr].Sub(cmdAt))
					gone = append(gone, b.containerNames[addr])
				}
			}
			return lags, b.waitNamesGone(ctx, gone, cmdAt)
		}
		if now.After(deadline) {
			return nil, fmt.Errorf("answer %v, running tasks %v after %s", got, sortedKeys(running), b.timeout)
		}
		time.Sleep(b.interval)
	}
}

// running returns the overlay addresses of the service's running tasks,
// with when the manager recorded each as running.
func (b *bench) running(ctx context.Context, svc, netID string) (map[string]time.Time, error) {
	res, err := b.api.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", svc).Add("desired-state", "running")})
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, t := range res.Items {
		if t.Status.State != swarm.TaskStateRunning {
			continue
		}
		for _, att := range t.NetworksAttachments {
			if att.Network.ID == netID {
				for _, p := range att.Addresses {
					out[p.Addr().String()] = t.Status.Timestamp
					b.containerNames[p.Addr().String()] = fmt.Sprintf("%s.%d.%s", svc, t.Slot, t.ID)
				}
			}
		}
	}
	return out, nil
}

// waitNamesGone waits until each container name gets NXDOMAIN and records
// how long after the command that was.
func (b *bench) waitNamesGone(ctx context.Context, names []string, cmdAt time.Time) error {
	for _, name := range names {
		if name == "" {
			continue
		}
		for deadline := time.Now().Add(b.timeout); ; time.Sleep(b.interval) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if b.rcode(strings.ToLower(name)+".docker.") == dns.RcodeNameError {
				b.removedNames = append(b.removedNames, time.Since(cmdAt))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("container name %s still answered after %s", name, b.timeout)
			}
		}
	}
	return nil
}

// rcode returns the rcode of an A question for name, -1 on error.
func (b *bench) rcode(name string) int {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, b.dnsAddr)
	if err != nil {
		return -1
	}
	return r.Rcode
}

// answer returns the sorted A addresses of name, none on error.
func (b *bench) answer(name string) []string {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, b.dnsAddr)
	if err != nil {
		return nil
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.SortFunc(out, compareAddrs)
	return out
}

func compareAddrs(a, b string) int {
	return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b))
}

func sortedKeys(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, compareAddrs)
	return out
}

// swarm makes the engine a manager, leaving the swarm at the end only if it
// was in none.
func (b *bench) swarm(ctx context.Context) error {
	res, err := b.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return err
	}
	switch sw := res.Info.Swarm; {
	case sw.LocalNodeState == swarm.LocalNodeStateActive && sw.ControlAvailable:
		return nil
	case sw.LocalNodeState == swarm.LocalNodeStateInactive:
		// Leaving keeps docker_gwbridge: it goes too unless it was there.
		_, gwErr := docker("network", "inspect", "docker_gwbridge")
		if _, err := docker("swarm", "init"); err != nil {
			return err
		}
		b.undo = append(b.undo, func() {
			if _, err := docker("swarm", "leave", "--force"); err == nil && gwErr != nil {
				docker("network", "rm", "docker_gwbridge")
			}
		})
		return nil
	default:
		return fmt.Errorf("engine is a swarm %s but not a manager", sw.LocalNodeState)
	}
}

// removeService removes svc and waits for its containers, so that its
// network can go.
func (b *bench) removeService(svc string) {
	docker("service", "rm", svc)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if out, err := docker("ps", "--all", "--quiet", "--filter", "label=com.docker.swarm.service.name="+svc); err == nil && out == "" {
			return
		}
	}
}

func (b *bench) cleanup() {
	for i := len(b.undo) - 1; i >= 0; i-- {
		b.undo[i]()
	}
}

func report(what string, lags []time.Duration) {
	if len(lags) == 0 {
		fmt.Printf("%s: no samples\n", what)
		return
	}
	slices.Sort(lags)
	fmt.Printf("%s: n=%d p50=%s max=%s\n", what, len(lags), lags[len(lags)/2].Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
}

func round(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	slices.Sort(out)
	return out
}

func docker(args ...string) (string, error) {
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomByte() byte {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return b[0]
}
