//go:build linux

package hostlan

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os/exec"
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

// NewUplink makes a LAN machine named after name on a free 10.250.x.0/24.
func NewUplink(t testing.TB, name string) *Uplink {
	t.Helper()
	RequireRoot(t)
	RequirePrograms(t, "ip")
	var b [3]byte
	_, _ = rand.Read(b[:])
	l := &LAN{t: t, prefix: "dh" + hex.EncodeToString(b[:])}
	u := &Uplink{Namespace: l.namespace(name), Link: "dhu" + hex.EncodeToString(b[:])}
	// A /24 no interface of the host is on.
	for i := int(b[0]); ; i = (i + 1) % 256 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 250, byte(i), 0}), 24)
		if !hostRoutes(t, p) {
			u.HostAddr, u.MachineAddr = p.Addr().Next(), p.Addr().Next().Next()
			break
		}
	}
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
