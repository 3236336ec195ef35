package index

// nameState is the writer's bookkeeping of a name that more than one thing
// puts there: several hosts, an SRV record, or names below it. It hangs off
// the published Entry but is never read by queries, and, like the Entry, is
// never changed once published: a txn changes a copy (gen marks its own).
type nameState struct {
	owners []*placed       // hosts that own the name (or an SRV record at it)
	index  map[*placed]int // position in owners, only for long lists
	ents   int32           // names below it: it exists even without records
	held   int32           // hosts withholding it; counted in ents too
	gen    uint64          // the txn that made this copy
	done   bool            // commit has recomputed it
}

// longOwners is where dropping an owner looks it up in a map rather than
// scanning: a name on every line of a large file stays linear to remove.
const longOwners = 32

func (s *nameState) add(p *placed) {
	if s.index != nil {
		s.index[p] = len(s.owners)
	}
	s.owners = append(s.owners, p)
}

func (s *nameState) drop(p *placed) {
	i := -1
	if len(s.owners) > longOwners {
		if s.index == nil {
			s.index = make(map[*placed]int, len(s.owners))
			for j, o := range s.owners {
				s.index[o] = j
			}
		}
		if j, ok := s.index[p]; ok {
			i = j
		}
	} else {
		for j, o := range s.owners {
			if o == p {
				i = j
				break
			}
		}
	}
	if i < 0 {
		return
	}
	// Order does not matter: winners sorts.
	last := len(s.owners) - 1
	s.owners[i] = s.owners[last]
	s.owners[last] = nil
	s.owners = s.owners[:last]
	if s.index != nil {
		delete(s.index, p)
		if i < last {
			s.index[s.owners[i]] = i
		}
	}
}

// addrState is the record of an address several hosts have, or one host
// has within a scope.
type addrState struct {
	nameState
	names  []string // PTR targets
	scopes []string
	hosts  []Owner
}
