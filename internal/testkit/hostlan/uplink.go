//go:build linux

package hostlan

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Uplink is a machine of the LAN this host is on: a namespace joined to the
// host's own namespace by a veth pair, the host's end holding HostAddr and
// the machine's MachineAddr, on one /24 and nothing else. The machine has
// no default route: Docker's networks on the host are out of its reach, as
// they are from any other machine; the host's own addresses (HostAddr, the
// ports Docker publishes there) are in it.
type Uplink struct {
	*Namespace
	HostAddr, MachineAddr netip.Addr
	Link                  string // the host's end
}

// NewUplink makes a LAN machine named after name on a free /24 (FreeSubnet).
func NewUplink(t testing.TB, name string) *Uplink {
	t.Helper()
	RequireRoot(t)
	RequirePrograms(t, "ip")
	var b [3]byte
	_, _ = rand.Read(b[:])
	l := &LAN{t: t, prefix: "dh" + hex.EncodeToString(b[:])}
	u := &Uplink{Namespace: l.namespace(name), Link: "dhu" + hex.EncodeToString(b[:])}
	p := FreeSubnet(t)
	u.HostAddr, u.MachineAddr = p.Addr().Next(), p.Addr().Next().Next()
	t.Cleanup(func() {
		// Deleting the namespace deletes the pair; this is for a failure
		// between the two steps.
		_ = exec.Command("ip", "link", "del", u.Link).Run()
	})
	run(t, "ip", "link", "add", u.Link, "type", "veth", "peer", "name", "eth0", "netns", u.Name)
	run(t, "ip", "addr", "add", netip.PrefixFrom(u.HostAddr, 24).String(), "dev", u.Link)
	run(t, "ip", "link", "set", u.Link, "up")
	u.ip("addr", "add", netip.PrefixFrom(u.MachineAddr, 24).String(), "dev", "eth0")
	u.ip("link", "set", "eth0", "up")
	u.ip("link", "set", "lo", "up")
	return u
}

// FreeSubnet is a 10.249.X.0/24 that no route of this host overlaps (the
// second dockerd harness takes 10.250 and 10.251).
func FreeSubnet(t testing.TB) netip.Prefix {
	t.Helper()
	var b [1]byte
	_, _ = rand.Read(b[:])
	for i := range 256 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 249, b[0] + byte(i), 0}), 24)
		if !hostRoutes(t, p) {
			return p
		}
	}
	t.Fatal("no free 10.249.X.0/24")
	return netip.Prefix{}
}

// hostRoutes reports whether the host has a route within p.
func hostRoutes(t testing.TB, p netip.Prefix) bool {
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "local" || dst == "broadcast" {
			if len(f) < 2 {
				continue
			}
			dst = f[1]
		}
		if q, err := netip.ParsePrefix(dst); err == nil && q.Overlaps(p) {
			return true
		} else if a, err := netip.ParseAddr(dst); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// JoinHost plugs this host's own namespace into the LAN with addr, on a
// link named after the LAN (removed with it): the host is then one more
// machine of the LAN, which the test's namespaces reach and which reaches
// them. It returns the link's name.
func (l *LAN) JoinHost(addr netip.Addr) string {
	l.t.Helper()
	link := "h" + l.prefix // dh + 6 hex: 9 bytes
	l.t.Cleanup(func() { _ = exec.Command("ip", "link", "del", link).Run() })
	l.sw.ip("link", "add", "p-host", "type", "veth", "peer", "name", link, "netns", strconv.Itoa(os.Getpid()))
	l.sw.ip("link", "set", "p-host", "master", "br0", "up")
	run(l.t, "ip", "addr", "add", netip.PrefixFrom(addr, l.bits).String(), "dev", link)
	run(l.t, "ip", "link", "set", link, "up")
	return link
}
