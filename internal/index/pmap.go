package index

// pmap is a persistent hash map: a fixed two-level radix of 256×256 slots
// over small buckets. A change copies only the root, one inner node and one
// bucket (about 4 KiB), so applying one container event costs the same with
// ten names or a million, and every published snapshot stays immutable.
//
// Writers batch changes in a txn: nodes copied within one txn are mutated in
// place after their first copy, so a full reload does not copy per key.
type pmap[K comparable, V any] struct {
	root *[256]*pnode[K, V]
	hash func(K) uint64
}

type pnode[K comparable, V any] struct {
	gen  uint64 // txn that owns this node and may mutate it
	kids [256][]pentry[K, V]
}

type pentry[K comparable, V any] struct {
	key K
	val V
}

func newPmap[K comparable, V any](hash func(K) uint64) pmap[K, V] {
	return pmap[K, V]{root: new([256]*pnode[K, V]), hash: hash}
}

func (m pmap[K, V]) get(k K) (V, bool) {
	h := m.hash(k)
	if n := m.root[h>>56]; n != nil {
		for _, e := range n.kids[(h>>48)&0xff] {
			if e.key == k {
				return e.val, true
			}
		}
	}
	var zero V
	return zero, false
}

// each calls fn for every entry until fn returns false.
func (m pmap[K, V]) each(fn func(K, V) bool) {
	for _, n := range m.root {
		if n == nil {
			continue
		}
		for _, b := range n.kids {
			for _, e := range b {
				if !fn(e.key, e.val) {
					return
				}
			}
		}
	}
}

// ptxn edits a copy of a pmap; the original stays valid for readers.
type ptxn[K comparable, V any] struct {
	m    pmap[K, V]
	gen  uint64
	root bool // root already copied
}

func (m pmap[K, V]) edit(gen uint64) *ptxn[K, V] { return &ptxn[K, V]{m: m, gen: gen} }

func (t *ptxn[K, V]) node(h uint64) *pnode[K, V] {
	if !t.root {
		r := *t.m.root
		t.m.root = &r
		t.root = true
	}
	n := t.m.root[h>>56]
	switch {
	case n == nil:
		n = &pnode[K, V]{gen: t.gen}
	case n.gen != t.gen:
		c := *n
		c.gen = t.gen
		n = &c
	default:
		return n
	}
	t.m.root[h>>56] = n
	return n
}

func (t *ptxn[K, V]) set(k K, v V) {
	h := t.m.hash(k)
	n := t.node(h)
	old := n.kids[(h>>48)&0xff]
	b := make([]pentry[K, V], 0, len(old)+1)
	found := false
	for _, e := range old {
		if e.key == k {
			e.val, found = v, true
		}
		b = append(b, e)
	}
	if !found {
		b = append(b, pentry[K, V]{k, v})
	}
	n.kids[(h>>48)&0xff] = b
}

func (t *ptxn[K, V]) del(k K) {
	h := t.m.hash(k)
	if n := t.m.root[h>>56]; n == nil {
		return
	}
	n := t.node(h)
	old := n.kids[(h>>48)&0xff]
	b := make([]pentry[K, V], 0, len(old))
	for _, e := range old {
		if e.key != k {
			b = append(b, e)
		}
	}
	if len(b) == 0 {
		b = nil
	}
	n.kids[(h>>48)&0xff] = b
}

func (t *ptxn[K, V]) done() pmap[K, V] { return t.m }
