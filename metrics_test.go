package dockerhosts

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func TestMetricNamesPassPromlint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, c := range []prometheus.Collector{queries, entries, updates, lastUpdate, skippedLines, readFailures} {
		reg.MustRegister(c)
	}
	(&DockerHosts{}).count(context.Background(), outcomeAnswer)
	for _, v := range []*prometheus.GaugeVec{entries, lastUpdate, skippedLines} {
		v.WithLabelValues("lint")
	}
	updates.WithLabelValues("lint")
	readFailures.WithLabelValues("lint")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "coredns_dockerhosts_") {
			t.Errorf("metric %s is not under coredns_dockerhosts_", f.GetName())
		}
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
	s := newSources(cfg, testHandler().index)
	if s.ready() {
		t.Fatal("ready before any source loaded")
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	if !s.ready() {
		t.Fatal("not ready after every hosts file loaded once (a missing file counts as loaded)")
	}
	src := "hostsfile:" + good
	if got := testutil.ToFloat64(entries.WithLabelValues(src)); got != 2 {
		t.Errorf("entries: %v, want 2", got)
	}
	if got := testutil.ToFloat64(skippedLines.WithLabelValues(src)); got != 1 {
		t.Errorf("skipped lines: %v, want 1", got)
	}
}

func TestNotReadyUntilDockerSyncs(t *testing.T) {
	cfg := &config{zones: []string{"docker."}, docker: &dockerConfig{
		endpoint: fmt.Sprintf("unix://%s", filepath.Join(t.TempDir(), "no.sock")), resync: defaultResync}}
	s := newSources(cfg, testHandler().index)
	if err := s.start(); err != nil {
		t.Fatalf("an unreachable engine must not stop CoreDNS: %v", err)
	}
	defer s.stop()
	if s.ready() {
		t.Fatal("ready without a Docker sync")
	}
}
