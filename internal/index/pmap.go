package index

// pmap is a persistent hash map: a fixed two-level radix of 256×256 slots
// over small buckets. A change copies only the root, one inner node and one
// bucket (about 4 KiB), so applying one container event costs the same with
// ten names or a million, and every published snapshot stays immutable.
//
// Writers batch changes in a txn: nodes and buckets copied within one txn are
// mutated in place after their first copy, so a full reload does not copy
// per key.
type pmap[K comparable, V any] struct {
	root *[256]*pnode[K, V]
	hash func(K) uint64
}

type pnode[K comparable, V any] struct {
	gen   uint64    // txn that owns this node and may mutate it
	fresh [4]uint64 // buckets that txn allocated, so may mutate too
	kids  [256][]pentry[K, V]
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
		c.gen, c.fresh = t.gen, [4]uint64{}
		n = &c
	default:
		return n
	}
	t.m.root[h>>56] = n
	return n
}

// get reads the map as this txn has made it so far.
func (t *ptxn[K, V]) get(k K) (V, bool) { return t.m.get(k) }

// bucket returns the bucket of h for writing: the txn's own, copied from the
// published one on first use.
func (t *ptxn[K, V]) bucket(h uint64, extra int) *[]pentry[K, V] {
	n := t.node(h)
	i := (h >> 48) & 0xff
	if n.fresh[i>>6]&(1<<(i&63)) == 0 {
		old := n.kids[i]
		b := make([]pentry[K, V], len(old), len(old)+extra)
		copy(b, old)
		n.kids[i] = b
		n.fresh[i>>6] |= 1 << (i & 63)
	}
	return &n.kids[i]
}

func (t *ptxn[K, V]) set(k K, v V) {
	b := t.bucket(t.m.hash(k), 1)
	for i := range *b {
		if (*b)[i].key == k {
			(*b)[i].val = v
			return
		}
	}
	*b = append(*b, pentry[K, V]{k, v})
}

func (t *ptxn[K, V]) del(k K) {
	h := t.m.hash(k)
	if n := t.m.root[h>>56]; n == nil {
		return
	}
	if _, ok := t.m.get(k); !ok {
		return
	}
	b := t.bucket(h, 0)
	for i := range *b {
		if (*b)[i].key == k {
			last := len(*b) - 1
			(*b)[i] = (*b)[last]
			(*b)[last] = pentry[K, V]{}
			*b = (*b)[:last]
			break
		}
	}
	if len(*b) == 0 {
		*b = nil
	}
}

func (t *ptxn[K, V]) done() pmap[K, V] { return t.m }

// count is the number of keys, for tests.
func (m pmap[K, V]) count() int {
	n := 0
	for _, node := range m.root {
		if node != nil {
			for _, b := range node.kids {
				n += len(b)
			}
		}
	}
	return n
}
