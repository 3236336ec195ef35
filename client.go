package dockerhosts

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// client is who asks, worked out once per query and only as far as the
// answer needs: a name of hosts files never looks at it.
//
// A client is on an engine when it is one of that engine's containers (by
// its address), or the machine that runs the engine: for an engine on this
// machine loopback and this machine's own addresses, for a remote one its
// host's addresses (host_address, the tcp:// host), which the index holds in
// the engine's scope. Everyone else (the LAN, another engine's machine and
// its containers, which reach us through NAT as that machine) is outside.
type client struct {
	w    dns.ResponseWriter
	snap *index.Snapshot

	addr, arrival  netip.Addr
	addrOK, arrOK  bool
	scopes         []string
	scoped         bool
	machine, macOK bool
}

// address is where the query came from.
func (c *client) address() netip.Addr {
	if !c.addrOK {
		c.addr, c.addrOK = clientAddr(c.w), true
	}
	return c.addr
}

// arrivedOn is the address the query was sent to: this machine as the
// client reaches it.
func (c *client) arrivedOn() netip.Addr {
	if !c.arrOK {
		c.arrival, c.arrOK = addrOf(c.w.LocalAddr()), true
	}
	return c.arrival
}

// engines are the engines the client is a container of, or the machine of
// (a remote engine's host address).
func (c *client) engines() []string {
	if !c.scoped {
		c.scopes, c.scoped = c.snap.Scopes(c.address()), true
	}
	return c.scopes
}

// thisMachine reports whether the query comes from this machine.
func (c *client) thisMachine() bool {
	if !c.macOK {
		a := c.address()
		c.machine = a.IsLoopback() || a == c.arrivedOn() || localMachine.has(a)
		c.macOK = true
	}
	return c.machine
}

// onEngine reports whether the client is on the engine scope names: it
// reaches that engine's containers at their own addresses. Addresses of no
// engine ("") are everyone's.
func (d *DockerHosts) onEngine(c *client, scope string) bool {
	if scope == "" || slices.Contains(c.engines(), scope) {
		return true
	}
	return slices.Contains(d.LocalScopes, scope) && c.thisMachine()
}

// Client classes, for metadata.
const (
	classEngine  = "engine"  // a container or the machine of a served engine
	classOutside = "outside" // anyone else
)

func (d *DockerHosts) classOf(c *client) string {
	if len(c.engines()) > 0 || len(d.LocalScopes) > 0 && c.thisMachine() {
		return classEngine
	}
	return classOutside
}

// machineAddrs are this machine's interface addresses, Docker's bridges
// included: a query from one of them comes from this machine. They are read
// at most once per refresh period, and only for a client that is neither
// loopback, nor the address it asked, nor a container: a LAN client.
type machineAddrs struct {
	mu    sync.Mutex
	read  atomic.Int64 // when, in Unix nanoseconds
	addrs atomic.Pointer[[]netip.Addr]
}

// machineRefresh bounds how stale the set may be: a bridge Docker has just
// made is known within it.
const machineRefresh = time.Second

var localMachine machineAddrs

func (m *machineAddrs) has(a netip.Addr) bool {
	now := time.Now().UnixNano()
	if p := m.addrs.Load(); p != nil && now-m.read.Load() < int64(machineRefresh) {
		return slices.Contains(*p, a)
	}
	// One refresh at a time; the others use what was read last.
	if p := m.addrs.Load(); p == nil {
		m.mu.Lock()
	} else if !m.mu.TryLock() {
		return slices.Contains(*p, a)
	}
	if now-m.read.Load() >= int64(machineRefresh) {
		addrs := interfaceAddrs()
		m.addrs.Store(&addrs)
		m.read.Store(now)
	}
	m.mu.Unlock()
	return slices.Contains(*m.addrs.Load(), a)
}

func interfaceAddrs() []netip.Addr {
	var out []netip.Addr
	ifaddrs, _ := net.InterfaceAddrs()
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}
