package index

// blocks is an array kept in fixed-size blocks instead of one allocation.
// The runtime zeroes a large allocation in one piece that the scheduler
// interrupts only after 10 ms, page-faulting every page of memory it had
// given back to the OS: a 19 MB make held the only core for 12.7 ms while
// queries waited. A block is allocated, and zeroed, in a fraction of a
// millisecond, and a builder yields between blocks.
type blocks[T any] struct {
	b [][]T
	n int
}

const (
	blockShift = 15
	blockLen   = 1 << blockShift // items a block: 128 KB of uint32, 512 KB of addresses
	blockMask  = blockLen - 1
)

// makeBlocks returns n zero items, yielding between blocks.
func makeBlocks[T any](n int, pace *Pacer) blocks[T] {
	a := blocks[T]{b: make([][]T, 0, (n+blockMask)>>blockShift), n: n}
	for left := n; left > 0; left -= blockLen {
		a.b = append(a.b, make([]T, min(left, blockLen)))
		pace.Block()
	}
	return a
}

func (a *blocks[T]) len() int { return a.n }

func (a *blocks[T]) at(i int) T { return a.b[i>>blockShift][i&blockMask] }

func (a *blocks[T]) ref(i int) *T { return &a.b[i>>blockShift][i&blockMask] }

// push appends v. The first block grows as a slice does, so that a small
// table stays small; the later ones are allocated whole.
func (a *blocks[T]) push(v T, pace *Pacer) {
	if len(a.b) == 0 || a.n&blockMask == 0 && a.n > 0 {
		a.b = append(a.b, make([]T, 0, firstCap(len(a.b), blockLen)))
		pace.Block()
	}
	last := &a.b[len(a.b)-1]
	if len(*last) == cap(*last) {
		*last = grow(*last, blockLen)
	}
	*last = append(*last, v)
	a.n++
}

// firstCap is the capacity a new block starts with: the first small, the
// others full.
func firstCap(block, full int) int {
	if block == 0 {
		return 16
	}
	return full
}

// grow returns s with twice its capacity, at most full.
func grow[T any](s []T, full int) []T {
	out := make([]T, len(s), min(2*cap(s), full))
	copy(out, s)
	return out
}

// each calls fn with each item and its index, in order.
func (a *blocks[T]) each(fn func(i int, v T)) {
	for k, blk := range a.b {
		for j, v := range blk {
			fn(k<<blockShift|j, v)
		}
	}
}

// arena is the bytes of a table's names, in blocks that no name straddles,
// so a name is one slice. A name's offset is its block<<arenaShift | its
// place in the block.
type arena struct {
	b [][]byte
}

const (
	arenaShift = 18 // 256 KB blocks
	arenaBlock = 1 << arenaShift
	arenaMask  = arenaBlock - 1
)

// add appends name (at most MaxTableName bytes) and returns its offset.
func (a *arena) add(name []byte, pace *Pacer) uint32 {
	if len(a.b) == 0 || len(a.b[len(a.b)-1])+len(name) > arenaBlock {
		a.b = append(a.b, make([]byte, 0, firstCap(len(a.b), arenaBlock)))
		pace.Block()
	}
	last := &a.b[len(a.b)-1]
	for len(*last)+len(name) > cap(*last) {
		*last = grow(*last, arenaBlock)
	}
	off := uint32(len(a.b)-1)<<arenaShift | uint32(len(*last))
	*last = append(*last, name...)
	return off
}

func (a *arena) name(off uint32, n uint8) []byte {
	blk := a.b[off>>arenaShift]
	at := off & arenaMask
	return blk[at : at+uint32(n)]
}
