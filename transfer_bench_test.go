package dockerhosts

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/knottest"
)

// benchContainers are n containers as the Docker source hands them in: a
// name, an alias and a compose service name, one networked address, one SRV.
func benchContainers(n int) []index.Host {
	hs := make([]index.Host, n)
	for i := range hs {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		name := fmt.Sprintf("c%05d", i)
		hs[i] = index.Host{ID: name, Names: []string{name, "alias-" + name, fmt.Sprintf("svc%d.proj", i%100)}, ReverseNames: []string{name},
			Addrs:    []index.Addr{{IP: ip, Network: "net", Subnet: netip.PrefixFrom(ip, 8).Masked(), Scope: "host"}},
			Services: []index.Service{{Name: "http", Proto: "tcp", Port: 8080}}}
	}
	return hs
}

// BenchmarkTransfer10000Containers is one AXFR of each zone over 10,000
// containers, from the handler to the transfer plugin's channel.
func BenchmarkTransfer10000Containers(b *testing.B) {
	zones := []string{"docker.", "10.in-addr.arpa."}
	d := &DockerHosts{Zones: zones, TTL: 5, index: index.New(zones)}
	d.index.Replace(index.Source{Name: "docker:host"}, benchContainers(10000))
	benchTransfers(b, d)
}

// benchTransfers is one AXFR of each of d's zones a loop, a sub-benchmark
// each.
func benchTransfers(b *testing.B, d *DockerHosts) {
	for _, z := range d.Zones {
		b.Run(z, func(b *testing.B) {
			b.ReportAllocs()
			records := 0
			for b.Loop() {
				ch, err := d.Transfer(z, 0)
				if err != nil {
					b.Fatal(err)
				}
				records = 0
				for rrs := range ch {
					records += len(rrs)
				}
			}
			b.ReportMetric(float64(records), "records/op")
		})
	}
}

// BenchmarkTransfer10000HostsFileHosts is one AXFR of each zone over a
// hosts file of 10,000 lines (name and alias, one address each), served as
// a table, as bench/xfer serves it.
func BenchmarkTransfer10000HostsFileHosts(b *testing.B) {
	zones := []string{"bench.test.", "10.in-addr.arpa."}
	d := &DockerHosts{Zones: zones, TTL: 5, index: index.New(zones)}
	tb := d.index.NewTableBuilder()
	for i := range 10000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		tb.Add(ip, [][]byte{fmt.Appendf(nil, "c%05d", i), fmt.Appendf(nil, "alias-c%05d", i)})
	}
	d.index.SetTable(index.Source{Name: "hosts:bench"}, tb.Done())
	benchTransfers(b, d)
}

// notifyTimes is a notifyTarget that records when each NOTIFY went out.
type notifyTimes struct {
	mu    sync.Mutex
	times []time.Time
}

func (n *notifyTimes) Notify(string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.times = append(n.times, time.Now())
	return nil
}

func (n *notifyTimes) since(t time.Time) []time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	i, _ := slices.BinarySearchFunc(n.times, t, func(a, b time.Time) int { return a.Compare(b) })
	return slices.Clone(n.times[i:])
}

// containerBursts are the gaps, in ms, between the start events of 10
// containers started at once (`docker run -d` x 10 in parallel, this
// machine, Docker 20.10): bursts spread over 0.6 to 1.2 s.
var containerBursts = [][]int{
	{94, 374, 178, 157, 10, 136, 103, 66, 51},
	{98, 21, 7, 167, 18, 149, 44, 102, 23},
}

// BenchmarkNotifyCoalescing replays bursts of container events through the
// notifier with a quiet period, at several phases of the clock second
// (serials change at most once a second): NOTIFYs sent per burst, and the
// time from the burst's last event to the NOTIFY that covers it.
func BenchmarkNotifyCoalescing(b *testing.B) {
	for _, quiet := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond} {
		b.Run(fmt.Sprintf("quiet=%s", quiet), func(b *testing.B) {
			var notifies, bursts int
			var lags []time.Duration
			for b.Loop() {
				n, lag := replayBursts(b, quiet)
				notifies += n
				lags = append(lags, lag...)
				bursts += len(lag)
			}
			slices.Sort(lags)
			b.ReportMetric(float64(notifies)/float64(bursts), "notifies/burst")
			b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "max-ms")
		})
	}
}

func replayBursts(b *testing.B, quiet time.Duration) (notifies int, lags []time.Duration) {
	zones := []string{"docker."}
	d := &DockerHosts{Zones: zones, TTL: 5, index: index.New(zones)}
	changes := newSources(d.index).changes
	sink := d.index.For(index.Source{Name: "docker:bench"})
	target := &notifyTimes{}
	n := &notifier{d: d, target: target, changes: changes, quiet: quiet, maxWait: notifyMaxWait}
	n.start()
	defer n.stop()
	for _, phase := range []time.Duration{0, 300 * time.Millisecond, 700 * time.Millisecond} {
		for _, gaps := range containerBursts {
			// Quiet until the previous NOTIFY is out, then at the phase.
			time.Sleep(1100*time.Millisecond + quiet)
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + phase)))
			start := time.Now()
			for i, gap := range append([]int{0}, gaps...) {
				time.Sleep(time.Duration(gap) * time.Millisecond)
				sink.Upsert(index.Host{ID: fmt.Sprint(i), Names: []string{fmt.Sprintf("c%d", i)}, Addrs: []index.Addr{{IP: netip.AddrFrom4([4]byte{10, 0, byte(start.UnixMilli()), byte(i)})}}})
			}
			last := time.Now()
			gen := d.index.Load().Generation()
			deadline := time.Now().Add(3 * time.Second)
			for {
				if c, fresh, _ := d.serials().Serial(gen); fresh && c != 0 {
					if t := target.since(last); len(t) > 0 {
						lags = append(lags, t[0].Sub(last))
						break
					}
				}
				if time.Now().After(deadline) {
					b.Fatalf("no NOTIFY within 3 s of a burst's last event")
				}
				time.Sleep(time.Millisecond)
			}
			notifies += len(target.since(start))
		}
	}
	return notifies, lags
}

// BenchmarkSecondaryConvergence measures, with Knot as the secondary of an
// in-process primary serving a hosts file, the time from a change of address
// to Knot answering the new address, over 10 changes at different pauses.
func BenchmarkSecondaryConvergence(b *testing.B) {
	knot := knottest.New(b)
	primary := knottest.FreeAddr(b)
	hosts := filepath.Join(b.TempDir(), "hosts")
	writeHostsB(b, hosts, "10.0.0.1 moving\n")
	inst, err := caddy.Start(caddy.CaddyfileInput{ServerTypeName: "dns", Contents: []byte(fmt.Sprintf(
		"docker.:%s {\n bind 127.0.0.1\n transfer {\n  to %s\n }\n dockerhosts {\n  hostsfile %s\n }\n}", portOf(primary), knot.Addr, hosts))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { inst.Stop(); inst.ShutdownCallbacks() })
	knot.Start(b, primary, "docker.")
	knotServes := func(ip string, within time.Duration) bool {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if r, err := knot.Query("moving.docker.", dns.TypeA); err == nil && slices.Equal(answerA(r), []string{ip}) {
				return true
			}
			time.Sleep(time.Millisecond)
		}
		return false
	}
	if !knotServes("10.0.0.1", 10*time.Second) {
		b.Fatal("Knot does not load the zone")
	}
	var lags []time.Duration
	for b.Loop() {
		lags = lags[:0]
		for i := range 10 {
			time.Sleep(time.Duration(200+i*137%1300) * time.Millisecond)
			ip := fmt.Sprintf("10.0.1.%d", i+1)
			start := time.Now()
			writeHostsB(b, hosts, ip+" moving\n")
			if !knotServes(ip, 10*time.Second) {
				b.Fatalf("change %d: Knot does not serve %s within 10 s", i, ip)
			}
			lags = append(lags, time.Since(start))
		}
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "max-ms")
}

func writeHostsB(b *testing.B, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}
