package docker

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// The engine's host has a name in the zones, the engine's own name, so that
// SRV records of published ports can point at it: a port published on
// 0.0.0.0 or :: is reached on the engine host's addresses. A port published
// on one specific address is reached at <address>.<engine>, the address
// written with dashes (127-0-0-2, fd00--1).

const (
	engineHostID   = "engine-host" // never a container ID: those are hex
	bindHostPrefix = "bind:"
	resolveTimeout = 5 * time.Second
)

// engineHost is the host naming the engine's machine; ok is false when its
// addresses are unknown.
func (s *Source) engineHost() (index.Host, bool) {
	if s.cfg.Engine == "" || len(s.hostAddrs) == 0 {
		return index.Host{}, false
	}
	h := index.Host{ID: engineHostID, Names: []string{s.cfg.Engine}}
	for _, a := range s.hostAddrs {
		h.Addrs = append(h.Addrs, index.Addr{IP: a})
	}
	return h, true
}

func bindHostID(a netip.Addr) string { return bindHostPrefix + a.String() }

func (s *Source) bindHost(a netip.Addr) index.Host {
	return index.Host{ID: bindHostID(a), Names: []string{bindName(a) + "." + s.cfg.Engine}, Addrs: []index.Addr{{IP: a}}}
}

// bindName writes an address as a DNS label.
func bindName(a netip.Addr) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(a.String())
}

// engineHostAddrs finds the engine host's addresses: configured ones, else
// the host of a tcp:// endpoint (resolved when it is a name), else for a
// local socket this machine's own addresses. A failure keeps what was known.
func (s *Source) engineHostAddrs(ctx context.Context) []netip.Addr {
	if len(s.cfg.HostAddrs) > 0 {
		return s.cfg.HostAddrs
	}
	u, err := url.Parse(s.endpoint)
	if err != nil {
		return s.hostAddrs
	}
	switch u.Scheme {
	case "tcp", "http", "https", "ssh":
		host := u.Hostname()
		if a, err := netip.ParseAddr(host); err == nil {
			return []netip.Addr{a.Unmap()}
		}
		ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			log.Warningf("Cannot resolve the host of Docker engine %q (%s): %v; its published ports on 0.0.0.0 get no SRV target address",
				s.cfg.Engine, host, err)
			return s.hostAddrs
		}
		for i := range addrs {
			addrs[i] = addrs[i].Unmap()
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		return slices.Compact(addrs)
	}
	return localAddrs()
}

// localAddrs are this machine's addresses as other machines see them: global
// unicast addresses of interfaces that are up, leaving out Docker's own
// bridges and veths (their addresses are reached only from this machine).
// With none, loopback: a resolver on this machine still reaches the ports.
func localAddrs() []netip.Addr {
	var out []netip.Addr
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || dockerLink(ifc.Name) {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err == nil && p.Addr().IsGlobalUnicast() {
				out = append(out, p.Addr().Unmap())
			}
		}
	}
	if len(out) == 0 {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

func dockerLink(name string) bool {
	return strings.HasPrefix(name, "docker") || strings.HasPrefix(name, "br-") || strings.HasPrefix(name, "veth")
}
