package docker

import (
	"io"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

func composeCtr(id, project, service, num, ip string) ctr {
	name := project + "-" + service + "-" + num
	return ctr{
		id: id, name: name,
		labels: map[string]string{
			labelComposeProject:                   project,
			labelComposeService:                   service,
			"com.docker.compose.container-number": num,
		},
		nets: map[string]ep{project + "_default": {ip: ip, aliases: []string{name, service, id[:min(12, len(id))]}}},
	}
}

func TestInitialSyncServesRunningContainers(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "aaa", name: "web", nets: map[string]ep{"bridge": {ip: "172.17.0.2"}}}.build())
	fe.set(ctr{id: "bbb", name: "old", stopped: true}.build())
	_, sink := running(t, Config{}, fe)

	h, ok := sink.host("aaa")
	if !ok || !slices.Equal(h.Names, []string{"web"}) || len(h.Addrs) != 1 {
		t.Fatalf("web: got %+v, %v", h, ok)
	}
	if _, ok := sink.host("bbb"); ok {
		t.Error("stopped container served")
	}
	if _, u, d := sink.counts(); u != 1 || d != 0 {
		t.Errorf("the first sync made %d upserts and %d deletes, want 1 and 0", u, d)
	}
}

func TestComposeRecreationOutOfOrder(t *testing.T) {
	fe := newFakeEngine()
	fe.set(composeCtr("old1", "shop", "web", "1", "172.20.0.2").build())
	_, sink := running(t, Config{}, fe)
	if got := sink.owners("web.shop"); !slices.Equal(got, []string{"old1"}) {
		t.Fatalf("web.shop before: %v", got)
	}

	// `docker compose up` recreates: the old container is renamed, the new
	// one created and started, the old one stopped and removed. The engine
	// state is final; the events arrive new-first and with the old
	// container's events late, as a lagging stream delivers them.
	fe.remove("old1")
	fe.set(composeCtr("new1", "shop", "web", "1", "172.20.0.3").build())
	fe.containerEvent(t, events.ActionStart, "new1")
	fe.containerEvent(t, events.ActionDestroy, "old1")
	fe.containerEvent(t, events.ActionRename, "old1")
	fe.containerEvent(t, events.ActionDie, "old1")
	fe.containerEvent(t, events.ActionStart, "old1")
	flush(t, fe, sink)

	if got := sink.owners("web.shop"); !slices.Equal(got, []string{"new1"}) {
		t.Errorf("web.shop after: %v, want [new1]", got)
	}
	if got := sink.owners("shop-web-1"); !slices.Equal(got, []string{"new1"}) {
		t.Errorf("shop-web-1 after: %v, want [new1]", got)
	}
	if got := sink.ipOwners("172.20.0.2"); len(got) != 0 {
		t.Errorf("old address still served by %v", got)
	}
}

func TestReplayedAndDuplicatedEventsAreHarmless(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "aaa", name: "db", nets: map[string]ep{"app": {ip: "10.0.0.5"}}}.build())
	before := time.Now() // the subscription comes after
	_, sink := running(t, Config{}, fe)
	_, upserts0, deletes0 := sink.counts()
	lists0, inspects0 := fe.calls()

	// A replay from the ring: the container already died and started again
	// before we subscribed; then duplicates of the last start. A replayed
	// die must not withdraw it, even applied alone.
	for _, a := range []events.Action{events.ActionDie, events.ActionStop, events.ActionStart, events.ActionStart, events.ActionStart} {
		fe.emitAt(t, before, events.ContainerEventType, a, "aaa", nil)
	}
	flush(t, fe, sink)

	if got := sink.owners("db"); !slices.Equal(got, []string{"aaa"}) {
		t.Errorf("db: %v", got)
	}
	_, upserts, deletes := sink.counts()
	// Only the flush sentinel changes the sink: a replay inspects to the
	// very same host (same names in the same order), which the index skips.
	if upserts-upserts0 != 1 || deletes != deletes0 {
		t.Errorf("changes for an unchanged container: %d upserts, %d deletes", upserts-upserts0-1, deletes-deletes0)
	}
	// Events cost one inspect each at most (duplicates queued together
	// coalesce), and never a list.
	lists, inspects := fe.calls()
	if lists != lists0 || inspects-inspects0 < 2 || inspects-inspects0 > 6 {
		t.Errorf("6 events cost %d lists and %d inspects", lists-lists0, inspects-inspects0)
	}
}

func TestRenameReplacesNames(t *testing.T) {
	fe := newFakeEngine()
	c := ctr{id: "aaa", name: "before", nets: map[string]ep{"app": {ip: "10.0.0.5"}}}
	fe.set(c.build())
	_, sink := running(t, Config{}, fe)

	c.name = "after"
	fe.set(c.build())
	fe.emit(t, events.ContainerEventType, events.ActionRename, "aaa", map[string]string{"oldName": "/before", "name": "after"})
	await.True(t, waitLimit, "rename", func() bool { return slices.Equal(sink.owners("after"), []string{"aaa"}) })
	if got := sink.owners("before"); len(got) != 0 {
		t.Errorf("old name still served by %v", got)
	}
	h, _ := sink.host("aaa")
	if !slices.Equal(h.ReverseNames, []string{"after"}) {
		t.Errorf("ReverseNames = %v", h.ReverseNames)
	}
}

func TestNetworkConnectAndDisconnect(t *testing.T) {
	fe := newFakeEngine()
	c := ctr{id: "aaa", name: "api", nets: map[string]ep{"front": {ip: "10.1.0.2"}}}
	fe.set(c.build())
	_, sink := running(t, Config{}, fe)

	c.nets = map[string]ep{"front": {ip: "10.1.0.2"}, "back": {ip: "10.2.0.2", aliases: []string{"api-internal"}}}
	fe.set(c.build())
	fe.networkEvent(t, events.ActionConnect, "back", "aaa")
	await.True(t, waitLimit, "connect", func() bool { return slices.Equal(sink.ipOwners("10.2.0.2"), []string{"aaa"}) })
	h, _ := sink.host("aaa")
	if !slices.Contains(h.Names, "api-internal") {
		t.Errorf("alias of the new network missing: %v", h.Names)
	}
	for _, a := range h.Addrs {
		if a.IP.String() == "10.2.0.2" && (a.Network != "back" || a.Subnet.String() != "10.2.0.0/16") {
			t.Errorf("address %+v, want network back, subnet 10.2.0.0/16", a)
		}
	}

	c.nets = map[string]ep{"back": {ip: "10.2.0.2", aliases: []string{"api-internal"}}}
	fe.set(c.build())
	fe.networkEvent(t, events.ActionDisconnect, "front", "aaa")
	await.True(t, waitLimit, "disconnect", func() bool { return len(sink.ipOwners("10.1.0.2")) == 0 })
}

func TestStoppedContainersAddressGoesToTheNext(t *testing.T) {
	fe := newFakeEngine()
	a := ctr{id: "aaa", name: "first", nets: map[string]ep{"app": {ip: "10.0.0.9"}}}
	fe.set(a.build())
	_, sink := running(t, Config{}, fe)

	a.stopped = true
	fe.set(a.build())
	fe.containerEvent(t, events.ActionKill, "aaa")
	fe.containerEvent(t, events.ActionDie, "aaa")
	fe.containerEvent(t, events.ActionStop, "aaa")
	fe.set(ctr{id: "bbb", name: "second", nets: map[string]ep{"app": {ip: "10.0.0.9"}}}.build())
	fe.containerEvent(t, events.ActionStart, "bbb")
	flush(t, fe, sink)

	if got := sink.ipOwners("10.0.0.9"); !slices.Equal(got, []string{"bbb"}) {
		t.Errorf("10.0.0.9 served for %v, want [bbb]", got)
	}
	if got := sink.owners("first"); len(got) != 0 {
		t.Errorf("stopped container still named: %v", got)
	}
}

func TestDieWithoutStopDropsRecords(t *testing.T) {
	fe := newFakeEngine()
	a := ctr{id: "aaa", name: "crashy", nets: map[string]ep{"app": {ip: "10.0.0.3"}}}
	fe.set(a.build())
	_, sink := running(t, Config{}, fe)

	a.stopped = true
	fe.set(a.build())
	fe.containerEvent(t, events.ActionDie, "aaa")
	await.True(t, waitLimit, "die", func() bool { _, ok := sink.host("aaa"); return !ok })
}

func TestPausedContainerKeepsRecords(t *testing.T) {
	fe := newFakeEngine()
	a := ctr{id: "aaa", name: "sleepy", nets: map[string]ep{"app": {ip: "10.0.0.4"}}}
	fe.set(a.build())
	_, sink := running(t, Config{}, fe)

	a.paused = true
	fe.set(a.build())
	fe.containerEvent(t, events.ActionPause, "aaa")
	flush(t, fe, sink)
	if got := sink.ipOwners("10.0.0.4"); !slices.Equal(got, []string{"aaa"}) {
		t.Errorf("paused container: %v", got)
	}
}

func TestReconnectResyncsWhatChangedMeanwhile(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "stays", name: "stays", nets: map[string]ep{"app": {ip: "10.0.0.2"}}}.build())
	fe.set(ctr{id: "goes", name: "goes", nets: map[string]ep{"app": {ip: "10.0.0.3"}}}.build())
	s, sink := running(t, Config{}, fe)
	reconnects0 := metricValue(t, reconnectsTotal.WithLabelValues(""))

	// The engine restarts: the stream breaks and calls fail for a while.
	fe.setDown(errEngineDown)
	fe.breakStream(io.ErrUnexpectedEOF)
	tries := fe.attempts()
	await.True(t, waitLimit, "failed reconnect attempts", func() bool { return fe.attempts() >= tries+2 })
	if metricValue(t, dockerUp.WithLabelValues("")) != 0 {
		t.Error("docker_up not 0 during the outage")
	}
	if _, ok := sink.host("goes"); !ok {
		t.Fatal("records dropped while the engine is away")
	}
	if !s.Synced() {
		t.Fatal("Synced() became false during the outage")
	}

	fe.remove("goes")
	fe.set(ctr{id: "came", name: "came", nets: map[string]ep{"app": {ip: "10.0.0.4"}}}.build())
	fe.setDown(nil)
	await.True(t, waitLimit, "resync", func() bool {
		_, came := sink.host("came")
		_, goes := sink.host("goes")
		_, stays := sink.host("stays")
		return came && !goes && stays
	})
	await.True(t, waitLimit, "reconnect counted", func() bool { return metricValue(t, reconnectsTotal.WithLabelValues("")) == reconnects0+1 })
	if metricValue(t, dockerUp.WithLabelValues("")) != 1 {
		t.Error("docker_up not 1 after reconnect")
	}

	// The new subscription works.
	fe.set(ctr{id: "later", name: "later"}.build())
	fe.containerEvent(t, events.ActionStart, "later")
	await.True(t, waitLimit, "event after reconnect", func() bool { _, ok := sink.host("later"); return ok })
}

// An engine down at startup counts as synced once the first attempt failed
// (one dead engine must not keep a fleet's resolver unready), and its
// containers are served as soon as it is reachable.
func TestUnreachableAtStartupIsKnownDownThenServed(t *testing.T) {
	fe := newFakeEngine()
	fe.setDown(errEngineDown)
	fe.set(ctr{id: "aaa", name: "web"}.build())
	s, sink := start(t, Config{}, fe)

	await.True(t, waitLimit, "known down after the first attempt", s.Synced)
	await.True(t, waitLimit, "several attempts", func() bool { return fe.attempts() >= 3 })
	if _, ok := sink.host("aaa"); ok {
		t.Fatal("served while the engine is unreachable")
	}
	fe.setDown(nil)
	await.True(t, waitLimit, "served once reachable", func() bool { _, ok := sink.host("aaa"); return ok })
}

func TestPeriodicResyncCatchesMissedEvents(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "aaa", name: "web"}.build())
	_, sink := running(t, Config{Resync: 20 * time.Millisecond}, fe)
	fe.set(ctr{id: "bbb", name: "silent"}.build()) // no event
	await.True(t, waitLimit, "periodic resync", func() bool { _, ok := sink.host("bbb"); return ok })
}

func TestSubscribesBeforeListing(t *testing.T) {
	fe := newFakeEngine()
	running(t, Config{}, fe)
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if len(fe.sinces) == 0 || fe.sinces[0] == "" {
		t.Fatalf("Events called without Since: %q", fe.sinces)
	}
}

func TestOptInListsOnlyEnabled(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "in", name: "in", labels: map[string]string{keyEnable: "true"}}.build())
	fe.set(ctr{id: "plain", name: "plain"}.build())
	_, sink := running(t, Config{OptIn: true}, fe)
	if _, ok := sink.host("in"); !ok {
		t.Error("opted-in container not served")
	}
	if _, ok := sink.host("plain"); ok {
		t.Error("container without the label served in opt-in mode")
	}
	// An event for an unlabelled container does not bring it in.
	fe.containerEvent(t, events.ActionStart, "plain")
	flush(t, fe, sink)
	if _, ok := sink.host("plain"); ok {
		t.Error("container without the label served after an event")
	}
}

func TestNameConflictsCountedOnce(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "aaa", name: "one", labels: map[string]string{keyName: "shared"}}.build())
	_, sink := running(t, Config{}, fe)
	before := metricValue(t, nameConflictsTotal.WithLabelValues(""))

	fe.set(ctr{id: "bbb", name: "two", labels: map[string]string{keyName: "shared"}}.build())
	fe.containerEvent(t, events.ActionStart, "bbb")
	fe.containerEvent(t, events.ActionStart, "bbb")
	fe.containerEvent(t, events.ActionRestart, "bbb")
	flush(t, fe, sink)
	if got := sink.owners("shared"); !slices.Equal(got, []string{"aaa", "bbb"}) {
		t.Errorf("shared served for %v, want both", got)
	}
	if got := metricValue(t, nameConflictsTotal.WithLabelValues("")) - before; got != 1 {
		t.Errorf("conflicts counted %v, want 1", got)
	}

	// Replicas sharing service.project are not a conflict.
	before = metricValue(t, nameConflictsTotal.WithLabelValues(""))
	fe.set(composeCtr("r1", "p", "worker", "1", "10.9.0.2").build())
	fe.set(composeCtr("r2", "p", "worker", "2", "10.9.0.3").build())
	fe.containerEvent(t, events.ActionStart, "r1")
	fe.containerEvent(t, events.ActionStart, "r2")
	flush(t, fe, sink)
	if got := sink.owners("worker.p"); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Errorf("worker.p served for %v", got)
	}
	if got := metricValue(t, nameConflictsTotal.WithLabelValues("")) - before; got != 0 {
		t.Errorf("replicas counted as %v conflicts", got)
	}
}

func TestGaugesFollowState(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "aaa", name: "web", labels: map[string]string{keyName: "www"}}.build())
	running(t, Config{}, fe)
	if got := metricValue(t, containersServed.WithLabelValues("")); got != 1 {
		t.Errorf("containers gauge %v", got)
	}
	if got := metricValue(t, namesServed.WithLabelValues("")); got != 2 {
		t.Errorf("names gauge %v", got)
	}
}

func TestSyncFailureAfterSubscribingRetries(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "aaa", name: "web"}.build())
	fe.failInspects(1)
	_, sink := start(t, Config{}, fe)
	await.True(t, waitLimit, "served after a failed sync", func() bool { _, ok := sink.host("aaa"); return ok })
}

func TestResyncZeroRunsWithoutPeriodicResync(t *testing.T) {
	fe := newFakeEngine()
	fe.set(ctr{id: "aaa", name: "web"}.build())
	_, sink := running(t, Config{Resync: 0}, fe)
	fe.set(ctr{id: "bbb", name: "other"}.build())
	fe.containerEvent(t, events.ActionStart, "bbb")
	flush(t, fe, sink)
	if lists, _ := fe.calls(); lists != 1 {
		t.Fatalf("listed %d times; with resync 0 only the initial sync lists", lists)
	}
}

// A die withdraws the container without inspecting it: Podman keeps an
// exited container locked for its network cleanup, and an inspect would
// wait for it (here, it would still say running). A start after it is
// inspected and served again.
func TestDieWithdrawsWithoutInspect(t *testing.T) {
	fe := newFakeEngine()
	a := ctr{id: "aaa", name: "quick", nets: map[string]ep{"app": {ip: "10.0.0.5"}}}
	fe.set(a.build())
	_, sink := running(t, Config{}, fe)

	_, before := fe.calls()
	fe.containerEvent(t, events.ActionDie, "aaa")
	await.True(t, waitLimit, "die", func() bool { _, ok := sink.host("aaa"); return !ok })
	if _, after := fe.calls(); after != before {
		t.Errorf("die: %d inspects, want none", after-before)
	}

	fe.containerEvent(t, events.ActionStart, "aaa")
	await.True(t, waitLimit, "start", func() bool { _, ok := sink.host("aaa"); return ok })
}

func TestBacklogExitedUntilStarted(t *testing.T) {
	ev := func(action events.Action) life {
		return lifeOf(events.Message{Type: events.ContainerEventType, Action: action, TimeNano: 1}, 0)
	}
	for _, tc := range []struct {
		actions []events.Action
		exited  bool
	}{
		{[]events.Action{events.ActionDie}, true},
		{[]events.Action{events.ActionDie, events.ActionStop, events.ActionDestroy}, true},
		{[]events.Action{events.ActionDie, events.ActionStart}, false},
		{[]events.Action{events.ActionKill, events.ActionDie, events.ActionRestart}, false},
		{[]events.Action{events.ActionStart, events.ActionDie}, true},
		{[]events.Action{events.ActionHealthStatus}, false},
	} {
		var b backlog
		b.init()
		for i, a := range tc.actions {
			b.push("c", int64(i+1), ev(a))
		}
		id, at, exited, ok := b.pop()
		if !ok || id != "c" || at != 1 || exited != tc.exited {
			t.Errorf("%v: pop = %q %d exited %v %v, want c 1 exited %v", tc.actions, id, at, exited, ok, tc.exited)
		}
		if _, _, _, ok := b.pop(); ok {
			t.Errorf("%v: queued twice", tc.actions)
		}
	}
	if got := lifeOf(events.Message{Type: events.NetworkEventType, Action: events.ActionDie, TimeNano: 1}, 0); got != lifeSame {
		t.Errorf("a network event's life: %v", got)
	}
	if got := lifeOf(events.Message{Type: events.ContainerEventType, Action: events.ActionDie, TimeNano: 1}, 2); got != lifeSame {
		t.Errorf("a replayed die's life: %v", got)
	}
}
