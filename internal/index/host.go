// Package index holds the records dockerhosts serves: every source (hosts
// files, the Docker Engine) hands it hosts, and it merges them into one
// immutable snapshot per change that queries read without locks.
package index

import (
	"net/netip"
	"slices"
	"strings"
)

// SourceID is who a source is: its kind (hostsfile, docker, swarm) and its
// name within the kind (a path, an engine). Whoever composes the sources
// makes it; the index only carries it, to each Owner it hands out.
type SourceID struct {
	Kind string
	Name string
}

// String is the metrics label and log prefix: kind:name, e.g.
// "hostsfile:/etc/hosts", or the name alone when there is no kind.
func (id SourceID) String() string {
	if id.Kind == "" {
		return id.Name
	}
	return id.Kind + ":" + id.Name
}

// compare orders identities by kind, then name: as their Strings sort.
func (id SourceID) compare(o SourceID) int {
	if c := strings.Compare(id.Kind, o.Kind); c != 0 {
		return c
	}
	return strings.Compare(id.Name, o.Name)
}

// Source is one producer of hosts: its identity and priority. A name
// claimed by a source of higher Priority hides the same name from sources
// of lower priority (an operator's hosts file overrides what Docker says);
// sources of equal priority merge.
type Source struct {
	Kind     string // as in SourceID
	Name     string // as in SourceID
	Priority int
}

// ID is who src is.
func (src Source) ID() SourceID { return SourceID{src.Kind, src.Name} }

// Host is one addressable thing a source knows: a hosts-file line or a
// container. Sources build a Host once and never change it afterwards.
type Host struct {
	// ID is unique within its source: a container ID, or "path:line".
	ID string
	// Names are lowercase, without a trailing dot, relative ("appsrv1") or
	// already inside a zone ("appsrv1.docker"). The index qualifies them.
	Names []string
	// ReverseNames are the names PTR queries for the Addrs return, in order.
	ReverseNames []string
	Addrs        []Addr
	Services     []Service
	// CNAME, when set, makes every name of the host an alias of it (RFC
	// 1034: no other data there): relative like Names, or absolute with a
	// trailing dot. Addrs then serve no name; they still say who a client is.
	CNAME string
	// TXT records at the host's names, or at <Key>.<name>.
	TXT []TXT
	// Wildcard adds *.<name> for each of the host's names, with its
	// records (RFC 4592).
	Wildcard bool
	// TTL, when HasTTL, is the TTL of the host's records instead of the
	// block's (Entry.TTL).
	TTL    uint32
	HasTTL bool
	// Published, when set, are where a client outside the scope of the
	// host's Addrs reaches it instead of at Addrs: the addresses its ports
	// are published on. An unspecified address (0.0.0.0, ::) stands for the
	// address the query arrived on, of that family: this machine, for an
	// engine on it. Nil: Addrs, for every client.
	Published []netip.Addr
	// Withheld are names the host holds without answering at them: a
	// container's service names while it cannot take traffic. Each exists
	// (NODATA, never NXDOMAIN, which clients would cache), as do the SRV
	// names Services would put at it; the records come from other hosts.
	Withheld []string
}

// TXT is one TXT record a host asks for.
type TXT struct {
	// Key, when set, puts the record at <Key>.<each name> rather than at
	// each name; it is one lowercase DNS label.
	Key string
	// Strings are the record's character-strings, each at most 255 bytes
	// once unescaped, escaped as miekg/dns packs them (\ and ").
	Strings []string
}

func (t TXT) equal(o TXT) bool { return t.Key == o.Key && slices.Equal(t.Strings, o.Strings) }

// Equal reports whether h and o would put the same records in the index.
func (h Host) Equal(o Host) bool {
	return h.ID == o.ID && slices.Equal(h.Names, o.Names) && slices.Equal(h.ReverseNames, o.ReverseNames) &&
		slices.Equal(h.Addrs, o.Addrs) && slices.Equal(h.Services, o.Services) && h.CNAME == o.CNAME &&
		slices.EqualFunc(h.TXT, o.TXT, TXT.equal) && h.Wildcard == o.Wildcard &&
		h.TTL == o.TTL && h.HasTTL == o.HasTTL && slices.Equal(h.Published, o.Published) &&
		slices.Equal(h.Withheld, o.Withheld)
}

// Addr is one address of a host. Network, Subnet and Scope are set for
// Docker addresses so that a client inside that network gets that network's
// address.
type Addr struct {
	IP      netip.Addr
	Network string       // "" when unknown
	Subnet  netip.Prefix // zero when unknown
	// Scope names the set of networks the address lives in (a Docker
	// engine): engines reuse subnets (every default bridge is 172.17/16), so
	// a subnet means something only within its scope. "" for none.
	Scope string
	// Names says on which networks the host's names exist; the zero value,
	// on all of them.
	Names NetworkNames
}

// NetworkNames says whether a host's names exist on an address's network.
// Docker's DNS answers a swarm service alias only on the network it is
// given on: such a host holds every address of the service, marked here or
// elsewhere, so that a client on any of its networks is told apart.
type NetworkNames uint8

const (
	// NamesEverywhere: the names answer the address on every network.
	NamesEverywhere NetworkNames = iota
	// NamesHere: the names belong to this address's network. A client on
	// it gets only the hosts that are on it too.
	NamesHere
	// NamesElsewhere: the names do not exist on this address's network. A
	// client on it gets none of the host's addresses, and nobody gets this
	// one.
	NamesElsewhere
)

// Service is one SRV-advertised port: _<Name>._<Proto>.<each host name>.
type Service struct {
	Name  string // e.g. "http", or "8080" for a published port
	Proto string // "tcp" or "udp"
	Port  uint16
	// Target is the name the port is reached at, relative like Names (a
	// published port is reached on the engine host, not the container).
	// "" means the host itself, by its first ReverseName.
	Target string
	// Rank is the records' priority and weight; unset is DefaultRank.
	Rank Rank
	// Reach says which clients the records are for: all, or only those on
	// (or only those off) the host's own networks.
	Reach SRVReach
}
