// Package knottest runs Knot DNS on loopback as a secondary of the zones a
// test serves, configured by the test, so that tests check zone transfers
// and NOTIFY against a real secondary. It skips without knotd (fails with
// DOCKERHOSTS_REQUIRE_DOCKER=1, as CI installs it) and stops knotd and
// removes its files whatever the outcome.
package knottest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"
)

// Secondary is a knotd that transfers zones from one primary.
type Secondary struct {
	// Addr is where it answers, UDP and TCP: 127.0.0.1:port.
	Addr string
	dir  string
	cmd  *exec.Cmd
}

// Require skips t without knotd and knotc, or fails it under
// DOCKERHOSTS_REQUIRE_DOCKER=1.
func Require(t testing.TB) {
	t.Helper()
	for _, p := range []string{"knotd", "knotc"} {
		dockertest.NeedProgram(t, p, "knot")
	}
}

// New reserves the address of a secondary, so that the primary's Corefile
// can name it (transfer's `to`) before either runs. Start runs it.
func New(t testing.TB) *Secondary {
	t.Helper()
	Require(t)
	return &Secondary{Addr: FreeAddr(t)}
}

// NewAt is a secondary that will answer at addr, for programs without a
// testing.T (benchmarks); Launch runs it and Stop ends it.
func NewAt(addr string) *Secondary { return &Secondary{Addr: addr} }

// Start runs knotd as a secondary of zones from primary (host:port, which
// may NOTIFY it from 127.0.0.0/8) until the test ends. Its refresh timer is
// the zones' SOA refresh (hours): only a NOTIFY makes it transfer soon after
// its first load.
func (s *Secondary) Start(t testing.TB, primary string, zones ...string) {
	t.Helper()
	// Registered before the start: stopped and removed whatever happens.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("knotd log:\n%s", s.Log())
		}
		s.Stop()
	})
	if err := s.Launch(primary, zones...); err != nil {
		t.Fatal(err)
	}
}

// Launch runs knotd as Start does and returns once it answers; the caller
// must Stop it, even when Launch fails.
func (s *Secondary) Launch(primary string, zones ...string) error {
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		return err
	}
	// Not t.TempDir: the control socket's path must stay short.
	if s.dir, err = os.MkdirTemp("", "knot-"); err != nil {
		return err
	}
	var zs strings.Builder
	for _, z := range zones {
		fmt.Fprintf(&zs, "  - domain: %s\n    master: primary\n    acl: [notify_from_primary, transfer_to_tests]\n", z)
	}
	_, knotPort, _ := net.SplitHostPort(s.Addr)
	conf := fmt.Sprintf(`server:
    listen: 127.0.0.1@%s
    rundir: %s
log:
  - target: stderr
    any: info
database:
    storage: %s/db
control:
    listen: %s/knot.sock
remote:
  - id: primary
    address: %s@%s
acl:
  - id: notify_from_primary
    address: 127.0.0.0/8
    action: notify
  - id: transfer_to_tests
    address: 127.0.0.0/8
    action: transfer
template:
  - id: default
    storage: %s
    zonefile-sync: -1
    zonefile-load: none
    journal-content: none
zone:
%s`, knotPort, s.dir, s.dir, s.dir, host, port, s.dir, zs.String())
	confPath := filepath.Join(s.dir, "knot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(s.dir, "knotd.log"))
	if err != nil {
		return err
	}
	defer logFile.Close() // knotd holds its own descriptor
	s.cmd = exec.Command("knotd", "-c", confPath)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return fmt.Errorf("start knotd: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := &dns.Client{Net: "tcp", Timeout: time.Second}
		if _, _, err := c.Exchange(new(dns.Msg).SetQuestion(zones[0], dns.TypeSOA), s.Addr); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("knotd does not answer on %s within 10s:\n%s", s.Addr, s.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop ends knotd and removes its files.
func (s *Secondary) Stop() {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// Log is what knotd has logged so far.
func (s *Secondary) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "knotd.log"))
	return string(b)
}

// Serial is the SOA serial knotd serves for zone; ok is false while it has
// not loaded the zone.
func (s *Secondary) Serial(zone string) (serial uint32, ok bool) {
	r, err := s.Query(zone, dns.TypeSOA)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return 0, false
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, false
	}
	return soa.Serial, true
}

// Query asks knotd one question over UDP.
func (s *Secondary) Query(name string, qtype uint16) (*dns.Msg, error) {
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, qtype), s.Addr)
	return r, err
}

// ZoneStatus is `knotc zone-status` of zone.
func (s *Secondary) ZoneStatus(zone string) string {
	out, err := exec.Command("knotc", "-s", filepath.Join(s.dir, "knot.sock"), "zone-status", zone).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("knotc: %v: %s", err, out)
	}
	return string(out)
}

// AXFR transfers zone from the server at addr over TCP and returns its
// records, the closing SOA included.
func AXFR(addr, zone string) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetAxfr(zone)
	tr := &dns.Transfer{DialTimeout: 2 * time.Second, ReadTimeout: 10 * time.Second}
	envs, err := tr.In(m, addr)
	if err != nil {
		return nil, err
	}
	var out []dns.RR
	for e := range envs {
		if e.Error != nil {
			return nil, e.Error
		}
		out = append(out, e.RR...)
	}
	return out, nil
}

// FreeAddr is a loopback address whose port was free for TCP and UDP.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := PickAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// PickAddr is FreeAddr for programs.
func PickAddr() (string, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no free loopback port for TCP and UDP")
}
