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

// thisMachine reports whether the query comes from this machine: the
// machine dockerhosts runs on, or when it runs in a container (the query
// arrived on a container's address), the machine running that container.
func (d *DockerHosts) thisMachine(c *client) bool {
	if !c.macOK {
		a := c.address()
		c.machine = a.IsLoopback() || a == c.arrivedOn() || localMachine.has(a) || d.viaGateway(c)
		c.macOK = true
	}
	return c.machine
}

// viaGateway reports whether the query arrived on a container's address
// (dockerhosts runs in it) from the one address on that container's network
// that no container has: the machine, through the network's gateway (on a
// macvlan network, the LAN, which reaches the containers there too).
func (d *DockerHosts) viaGateway(c *client) bool {
	if len(c.engines()) > 0 {
		return false // a container
	}
	at := c.arrivedOn()
	for _, o := range c.snap.Owners(at) {
		if n := d.networkAddr(c.snap, o, at); n != nil && n.Subnet.Contains(c.address()) {
			return true
		}
	}
	return false
}

// onEngine reports whether the client is on the engine scope names: it
// reaches that engine's containers at their own addresses. Addresses of no
// engine ("") are everyone's.
func (d *DockerHosts) onEngine(c *client, scope string) bool {
	if scope == "" || slices.Contains(c.engines(), scope) {
		return true
	}
	return slices.Contains(d.LocalScopes, scope) && d.thisMachine(c)
}

// Client classes, for metadata.
const (
	classEngine  = "engine"  // a container or the machine of a served engine
	classOutside = "outside" // anyone else
)

func (d *DockerHosts) classOf(c *client) string {
	if len(c.engines()) > 0 || len(d.LocalScopes) > 0 && d.thisMachine(c) {
		return classEngine
	}
	return classOutside
}

// machineAddrs are this machine's interface addresses, Docker's bridges
// included: a query from one of them comes from this machine. They are read
// at most once per refresh period, and only for a client that is neither
// loopback, nor the address it asked, nor a container: a LAN client.
type machineAddrs struct {
	read   func() []netip.Addr
	mu     sync.Mutex
	readAt atomic.Int64 // when, in Unix nanoseconds
	addrs  atomic.Pointer[[]netip.Addr]
}

// machineRefresh bounds how stale the set may be: a bridge Docker has just
// made is known within it.
const machineRefresh = time.Second

var localMachine = &machineAddrs{read: interfaceAddrs}

func (m *machineAddrs) has(a netip.Addr) bool { return slices.Contains(m.current(), a) }

func (m *machineAddrs) current() []netip.Addr {
	now := time.Now().UnixNano()
	if p := m.addrs.Load(); p != nil && now-m.readAt.Load() < int64(machineRefresh) {
		return *p
	}
	// One refresh at a time; the others use what was read last.
	if p := m.addrs.Load(); p == nil {
		m.mu.Lock()
	} else if !m.mu.TryLock() {
		return *p
	}
	if now-m.readAt.Load() >= int64(machineRefresh) {
		addrs := m.read()
		m.addrs.Store(&addrs)
		m.readAt.Store(now)
	}
	m.mu.Unlock()
	return *m.addrs.Load()
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
