package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// healthLag times, n times each, how fast a container's readiness reaches
// its service name (a network alias): from the engine's health_status event
// (unhealthy, then healthy) to the first answer without, then with, its
// address; and from the kill event of `docker stop` to the first answer
// without it, while it drains. Targets: p50 <= 5 ms, max <= 50 ms.
func (b *bench) healthLag(ctx context.Context, n int) error {
	b.healthImage = b.prefix + "-health:latest"
	say("building the health image")
	if err := dockertest.ImportHealthImage(ctx, b.healthImage, b.label()); err != nil {
		return err
	}
	alias := b.prefix + "-svc"
	name := alias + ".docker."
	id, err := docker(ctx, "run", "--detach", "--name", b.prefix+"-health", "--label", b.label(), "--network", b.network,
		"--network-alias", alias, "--health-interval=100ms", "--env", "DRAIN=300ms", b.healthImage)
	if err != nil {
		return err
	}
	events, err := b.follow(ctx, id, "health_status", "kill")
	if err != nil {
		return err
	}
	ip, err := b.ip(ctx, id)
	if err != nil {
		return err
	}
	withIP := func(r *dns.Msg) bool { return slices.Contains(addrs(r), ip) }
	without := func(r *dns.Msg) bool { return r.Rcode == dns.RcodeSuccess && len(addrs(r)) == 0 }
	if _, err := b.until(ctx, name+" answers", func() (bool, error) {
		r, err := query(b.dnsAddr, name, dns.TypeA)
		return err == nil && withIP(r), nil
	}); err != nil {
		return err
	}

	say("timing %d health changes and %d stops of %s", n, n, alias)
	var toUnhealthy, toHealthy, toStopped []time.Duration
	for i := range n {
		lag, err := b.timeChange(ctx, events, "health_status: unhealthy", name, without, "exec", id, "/hostname", "sick")
		if err != nil {
			return fmt.Errorf("unhealthy %d: %w", i+1, err)
		}
		toUnhealthy = append(toUnhealthy, lag)
		if lag, err = b.timeChange(ctx, events, "health_status: healthy", name, withIP, "exec", id, "/hostname", "well"); err != nil {
			return fmt.Errorf("healthy %d: %w", i+1, err)
		}
		toHealthy = append(toHealthy, lag)
	}
	for i := range n {
		lag, err := b.timeChange(ctx, events, "kill", name, without, "stop", "--time", "10", id)
		if err != nil {
			return fmt.Errorf("stop %d: %w", i+1, err)
		}
		toStopped = append(toStopped, lag)
		if _, err := docker(ctx, "start", id); err != nil {
			return err
		}
		if ip, err = b.ip(ctx, id); err != nil {
			return err
		}
		if _, err := b.until(ctx, name+" answers again", func() (bool, error) {
			r, err := query(b.dnsAddr, name, dns.TypeA)
			return err == nil && withIP(r), nil
		}); err != nil {
			return err
		}
	}
	report := func(what string, lags []time.Duration) {
		inOrder := slices.Clone(lags)
		slices.Sort(lags)
		fmt.Printf("%s: n=%d p50=%s max=%s (targets p50 <= 5ms, max <= 50ms); in order: %s\n",
			what, len(lags), ms(lags[(len(lags)-1)/2]), ms(lags[len(lags)-1]), msAll(inOrder))
	}
	report("service name, health_status unhealthy event -> first answer without it", toUnhealthy)
	report("service name, health_status healthy event -> first answer with it", toHealthy)
	report("service name, kill event of docker stop -> first answer without it", toStopped)
	return nil
}

// timeChange polls name until an answer satisfies want, runs the docker
// command that causes the change meanwhile, and returns the time from the
// engine's event (the action given) to that answer.
func (b *bench) timeChange(ctx context.Context, events <-chan engineEvent, action, name string,
	want func(*dns.Msg) bool, args ...string) (time.Duration, error) {
	conn, err := dns.Dial("udp", b.dnsAddr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	pollCtx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	answered := make(chan answer, 1)
	go func() { answered <- firstMatch(pollCtx, conn, name, b.interval, want) }()
	if _, err := docker(ctx, args...); err != nil {
		return 0, err
	}
	a := <-answered
	if a.err != nil {
		return 0, a.err
	}
	for {
		select {
		case ev := <-events:
			if ev.action == action {
				return a.at.Sub(time.Unix(0, ev.at)), nil
			}
		case <-time.After(b.timeout):
			return 0, fmt.Errorf("no %s event", action)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// firstMatch queries name over conn every interval until an answer
// satisfies want, and returns when it arrived.
func firstMatch(ctx context.Context, conn *dns.Conn, name string, interval time.Duration, want func(*dns.Msg) bool) answer {
	q := new(dns.Msg).SetQuestion(name, dns.TypeA)
	for ctx.Err() == nil {
		q.Id = dns.Id()
		sent := time.Now()
		conn.SetWriteDeadline(sent.Add(time.Second))
		if err := conn.WriteMsg(q); err != nil {
			return answer{err: err}
		}
		// Read until the next send is due; late answers to earlier queries
		// count too: the server sent them no earlier than this one's.
		for {
			conn.SetReadDeadline(sent.Add(interval))
			r, err := conn.ReadMsg()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return answer{err: err}
			}
			if want(r) {
				return answer{at: time.Now(), addrs: addrs(r)}
			}
		}
	}
	return answer{err: fmt.Errorf("no wanted answer for %s: %w", name, ctx.Err())}
}

type engineEvent struct {
	action string
	at     int64 // the engine's TimeNano
}

// follow streams the container's events of the given kinds; the process
// is stopped by cleanup.
func (b *bench) follow(ctx context.Context, id string, kinds ...string) (<-chan engineEvent, error) {
	since := time.Now()
	args := []string{"events", "--since", fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
		"--filter", "container=" + id, "--format", "{{.TimeNano}} {{.Action}}"}
	for _, k := range kinds {
		args = append(args, "--filter", "event="+k)
	}
	cmd := exec.CommandContext(ctx, "docker", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.more = append(b.more, cmd)
	b.mu.Unlock()
	ch := make(chan engineEvent, 256)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			at, action, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
			if v, err := strconv.ParseInt(at, 10, 64); err == nil {
				ch <- engineEvent{action: action, at: v}
			}
		}
	}()
	return ch, nil
}
