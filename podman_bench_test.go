package dockerhosts

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/moby/moby/api/types/events"
	moby "github.com/moby/moby/client"

	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// BenchmarkPodmanEventToAnswer times, against the real Podman service, from
// the engine's event (its TimeNano) to the first answer that shows it: a
// container's start to its name answering its address, its stop (Podman's
// "died") to NXDOMAIN. Each iteration stops and starts one container; the
// p50 and max of each are reported (targets: p50 <= 20 ms, max <= 100 ms).
// start-delivery and stop-delivery are how late the events reach this
// benchmark's own subscriber, the floor under the plugin's lag: Podman hands an event to a subscriber
// up to 250 ms after it happened with its file event log (polled every
// 250 ms by each subscriber), up to about 500 ms with journald (which tells
// its readers of new entries at most every 250 ms). The plugin withdraws
// a container at its die without an inspect, which Podman would hold while
// it tears the network down. The least lag is what remains when an event
// happens just before a poll; a stop's can be below zero, when an event
// before "died" (a kill, a stop) already found the container exited.
// DOCKERHOSTS_PODMAN_EVENTS=journald runs the service on a journald of its
// own, as on hosts run by systemd.
//
//	go test -run '^$' -bench BenchmarkPodmanEventToAnswer -benchtime 30x .
//	DOCKERHOSTS_PODMAN_EVENTS=journald go test -run '^$' -bench BenchmarkPodmanEventToAnswer -benchtime 30x .
func BenchmarkPodmanEventToAnswer(b *testing.B) {
	e := dockertest.RequirePodman(b)
	b.Logf("podman events_logger: %s", e.Docker("info", "--format", "{{.Host.EventLogger}}"))
	image := e.IdleImage()
	net, _ := e.SubnetNetwork("net")
	s := startCoreDNS(b, podmanCorefile())
	id := e.Run("app", "--network", net, image)
	name := fqdn(e.Name("app"))

	c, err := moby.New(moby.WithHost(dockertest.PodmanHost()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Podman matches filters against its own words: "died", not "die".
	stream := c.Events(ctx, moby.EventsListOptions{Filters: make(moby.Filters).
		Add("container", id).Add("event", "start", "died")})
	// A goroutine stamps each event's arrival: arrival minus the event's own
	// time is how late Podman delivers it to any subscriber.
	type arrival struct {
		ev events.Message
		at time.Time
	}
	arrivals := make(chan arrival, 16)
	go func() {
		for {
			select {
			case ev := <-stream.Messages:
				arrivals <- arrival{ev, time.Now()}
			case <-ctx.Done():
				return
			}
		}
	}()
	delivery := map[string][]time.Duration{} // by action
	eventAt := func(action string) time.Time {
		for {
			select {
			case a := <-arrivals:
				if string(a.ev.Action) == action || action == "die" && a.ev.Action == events.ActionDie {
					at := time.Unix(0, a.ev.TimeNano)
					delivery[action] = append(delivery[action], a.at.Sub(at))
					return at
				}
			case <-time.After(20 * time.Second):
				b.Fatalf("no %s event", action)
			}
		}
	}
	answered := func(check func(*dns.Msg) bool) time.Time {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if check(s.exchange(b, "udp", name, dns.TypeA)) {
				return time.Now()
			}
			time.Sleep(200 * time.Microsecond)
		}
		b.Fatalf("%s: no answer within 20s", name)
		return time.Time{}
	}
	var starts, stops []time.Duration
	b.ResetTimer()
	// Podman hands events to each subscriber at its poll, every 250 ms,
	// and the plugin answers just after its own: an iteration that acted
	// as soon as the last answer came would act at the same point of the
	// plugin's cycle every time (and see one lag, not the spread). A random
	// pause puts each change anywhere in the cycle, as real ones are.
	offPhase := func() { time.Sleep(rand.N(250 * time.Millisecond)) }
	// The podman CLI returns a stop some 200 ms after the container exited
	// (it waits for the cleanup): the answers are polled while it runs.
	background := func(args ...string) (wait func()) {
		done := make(chan error, 1)
		go func() { _, err := e.TryDocker(args...); done <- err }()
		return func() {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
	for range b.N {
		offPhase()
		wait := background("stop", "--time", "0", id)
		gone := answered(func(r *dns.Msg) bool { return r.Rcode == dns.RcodeNameError })
		wait()
		stops = append(stops, gone.Sub(eventAt("die")))
		offPhase()
		wait = background("start", id)
		// Polled at once, then checked: the first answer must be the new
		// address.
		var first []string
		up := answered(func(r *dns.Msg) bool { first = answerA(r); return len(first) > 0 })
		wait()
		ip := e.Docker("inspect", "--format", "{{(index .NetworkSettings.Networks \""+net+"\").IPAddress}}", id)
		if !slices.Equal(first, []string{ip}) {
			b.Fatalf("after the start %s answered %v, want %s", name, first, ip)
		}
		starts = append(starts, up.Sub(eventAt("start")))
	}
	b.StopTimer()
	report := func(unit string, lags []time.Duration) {
		slices.Sort(lags)
		b.ReportMetric(float64(lags[0])/float64(time.Millisecond), "min-"+unit+"-ms")
		b.ReportMetric(float64(lags[len(lags)/2])/float64(time.Millisecond), "p50-"+unit+"-ms")
		b.ReportMetric(float64(lags[len(lags)-1])/float64(time.Millisecond), "max-"+unit+"-ms")
	}
	report("start", starts)
	report("stop", stops)
	report("start-delivery", delivery["start"])
	report("stop-delivery", delivery["die"])
}
