package index

// Rank orders and weighs SRV records (RFC 2782): a client tries the lowest
// Priority first and, among equal priorities, picks a target with
// probability proportional to its Weight; weight 0 is picked almost never.
type Rank struct {
	Priority, Weight uint16
	// Set says the numbers are meant, zeros included; an unset Rank is
	// DefaultRank.
	Set bool
}

// DefaultRank is every SRV record's unless its host asks otherwise: equal
// priority, and a weight that leaves room to weigh one target below others.
var DefaultRank = Rank{Priority: 10, Weight: 10, Set: true}

// OrDefault is r, or DefaultRank when r is unset.
func (r Rank) OrDefault() Rank {
	if !r.Set {
		return DefaultRank
	}
	return r
}

// ttlAsk says which of the hosts giving a name's records ask a TTL of
// their own (Host.HasTTL) and which leave it to the block.
type ttlAsk uint8

const (
	ttlAsked   ttlAsk = 1 << iota // some host asks; Entry.ttl is the smallest
	ttlUnasked                    // some host asks none
)

// TTL is the TTL of the entry's records: def, the block's, unless its hosts
// ask their own. A name several hosts share answers the smallest TTL among
// them, def standing for the hosts that ask none, so that no cache keeps
// one host's records longer than that host asked.
func (e *Entry) TTL(def uint32) uint32 {
	switch e.ttls {
	case ttlAsked:
		return e.ttl
	case ttlAsked | ttlUnasked:
		return min(e.ttl, def)
	}
	return def
}

// addTTL counts one more host giving records at e, with the TTL it asks
// (when has) or none.
func (e *Entry) addTTL(ttl uint32, has bool) {
	if !has {
		e.ttls |= ttlUnasked
		return
	}
	if e.ttls&ttlAsked == 0 || ttl < e.ttl {
		e.ttl = ttl
	}
	e.ttls |= ttlAsked
}

// addTTLOf counts what o's hosts ask as hosts of e.
func (e *Entry) addTTLOf(o *Entry) {
	if o.ttls&ttlAsked != 0 {
		e.addTTL(o.ttl, true)
	}
	e.ttls |= o.ttls & ttlUnasked
}

// SRVReach says which clients an SRV record is for. A container's port is
// reached at the container by clients on one of its networks, and at the
// host port it is published on by everyone else: the two records share a
// name, and each client gets the one it can use.
type SRVReach uint8

const (
	// ReachAll records are for every client.
	ReachAll SRVReach = iota
	// ReachNetworks records are for clients on one of the host's networks.
	ReachNetworks
	// ReachElsewhere records are for clients on none of them.
	ReachElsewhere
)
