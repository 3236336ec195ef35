package dockerhosts

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/metricstest"
)

func TestMetricNamesPassPromlint(t *testing.T) {
	(&DockerHosts{}).count(context.Background(), outcomeAnswer)
	for _, v := range []*prometheus.GaugeVec{entries, lastUpdate} {
		v.WithLabelValues("lint")
	}
	updates.WithLabelValues("lint")
	metricstest.Lint(t, queries, entries, updates, lastUpdate, brokenChains, withheldNODATA)
}

// A service name whose containers are none ready is NODATA with the SOA
// (the name exists), counted; identity names answer.
func TestWithheldNameIsCountedNODATA(t *testing.T) {
	d := testHandler()
	d.index.Upsert(dockerSource, index.Host{ID: "w1", Names: []string{"warming-1"}, ReverseNames: []string{"warming-1"},
		Withheld: []string{"warming"}, Addrs: []index.Addr{{IP: netip.MustParseAddr("172.18.0.20")}}})
	ask := func(name string, qtype uint16) *dns.Msg {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		d.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion(name, qtype))
		return rec.Msg
	}
	before := testutil.ToFloat64(withheldNODATA.WithLabelValues(""))
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m := ask("Warming.docker.", qtype)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA || !m.Authoritative {
			t.Fatalf("withheld name, type %d: %v", qtype, m)
		}
	}
	if got := testutil.ToFloat64(withheldNODATA.WithLabelValues("")) - before; got != 2 {
		t.Errorf("counted %v NODATA, want 2", got)
	}
	if m := ask("warming-1.docker.", dns.TypeA); len(m.Answer) != 1 {
		t.Errorf("identity name: %v", m)
	}
	// Once a replica is ready, the name answers it and nothing is counted.
	d.index.Upsert(dockerSource, index.Host{ID: "w2", Names: []string{"warming-2", "warming"}, ReverseNames: []string{"warming-2"},
		Addrs: []index.Addr{{IP: netip.MustParseAddr("172.18.0.21")}}})
	if m := ask("warming.docker.", dns.TypeA); len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "172.18.0.21" {
		t.Errorf("one ready replica: %v", m)
	}
	if got := testutil.ToFloat64(withheldNODATA.WithLabelValues("")) - before; got != 2 {
		t.Errorf("counted %v NODATA, want still 2", got)
	}
}

func TestQueriesAreCountedByOutcome(t *testing.T) {
	d := testHandler()
	ask := func(name string, qtype uint16) {
		d.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), new(dns.Msg).SetQuestion(name, qtype))
	}
	for _, c := range []struct {
		outcome outcome
		ask     func()
	}{
		{outcomeAnswer, func() { ask("appsrv1.docker.", dns.TypeA) }},
		{outcomeNODATA, func() { ask("appsrv1.docker.", dns.TypeMX) }},
		{outcomeNXDOMAIN, func() { ask("nope.docker.", dns.TypeA) }},
	} {
		before := testutil.ToFloat64(queries.WithLabelValues("", outcomeNames[c.outcome]))
		c.ask()
		if got := testutil.ToFloat64(queries.WithLabelValues("", outcomeNames[c.outcome])) - before; got != 1 {
			t.Errorf("%s: counted %v, want 1", outcomeNames[c.outcome], got)
		}
	}
}

func TestHostsFileMetricsAndReadiness(t *testing.T) {
	dir := t.TempDir()
	good, missing := filepath.Join(dir, "hosts"), filepath.Join(dir, "missing")
	writeFile(t, good, "10.0.0.1 a\nnot-an-address b\n10.0.0.2 b c\n")
	cfg := &config{zones: []string{"docker."}, hostsFiles: []string{good, missing}}
	s, err := compose(cfg, testHandler().index)
	if err != nil {
		t.Fatal(err)
	}
	if s.ready() {
		t.Fatal("ready before any source loaded")
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	await.True(t, 10*time.Second, "ready once every hosts file loaded (a missing file counts as loaded)", s.ready)
	src := "hostsfile:" + good
	if got := testutil.ToFloat64(entries.WithLabelValues(src)); got != 2 {
		t.Errorf("entries: %v, want 2", got)
	}
	if got := gathered(t, "coredns_dockerhosts_skipped_lines", "source", src); got != 1 {
		t.Errorf("skipped lines: %v, want 1", got)
	}
}

// A dead engine must not keep the resolver unready for ever: it counts once
// its first connection attempt failed, and the other sources are served.
func TestReadyOnceAnEngineIsKnownDown(t *testing.T) {
	cfg := &config{zones: []string{"docker."}, resync: defaultResync, engines: []*engineConfig{{
		name: "local", endpoint: fmt.Sprintf("unix://%s", filepath.Join(t.TempDir(), "no.sock"))}}}
	s, err := compose(cfg, testHandler().index)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.start(); err != nil {
		t.Fatalf("an unreachable engine must not stop CoreDNS: %v", err)
	}
	defer s.stop()
	await.True(t, 10*time.Second, "ready with the engine known down", s.ready)
}

// gathered reads one series from the default registry, where the plugin's
// packages register their metrics, by one of its labels.
func gathered(t *testing.T, name, label, value string) float64 {
	t.Helper()
	v, ok := series(t, name, map[string]string{label: value})
	if !ok {
		t.Fatalf("no series %s{%s=%q}", name, label, value)
	}
	return v
}

// series reads the default registry's series of name whose labels include
// want, and whether there is one.
func series(t *testing.T, name string, want map[string]string) (float64, bool) {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if !containsAll(labels, want) {
				continue
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func containsAll(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}
