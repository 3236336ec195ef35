package hostsfile

import "github.com/dockerhosts/dockerhosts/internal/index"

// buffer is memory a watched file is read into. A large one is an anonymous
// mapping rather than Go heap: the runtime zeroes a large allocation up
// front, in a loop that faults in every recycled page and gives up the CPU
// only when the scheduler insists (after 10 ms), so queries wait. The pages
// of a mapping are zero without anyone writing them: the kernel supplies
// each when first touched, inside the quarter-megabyte reads that fill it, which
// are paced. On systems without mmap, and for small buffers, it is heap.
//
// Mapped memory is not the garbage collector's (nor counted in the Go
// heap): release unmaps it at once, and touching it after that crashes the
// process. So a buffer has exactly one owner and is never copied, only
// moved (swapped); no slice of its bytes may outlive the owner's hold on
// it. release leaves it empty, so releasing twice is harmless.
type buffer struct {
	mem    []byte // the whole allocation, len == cap; nil when empty
	mapped bool   // mem is a mapping of its own, to be unmapped on release
}

// mapMin is the smallest buffer that gets a mapping: below it, zeroing
// costs little and one mapping per small /etc/hosts is not worth having.
const mapMin = 1 << 20

// copyBlock is what reserve copies between yields: well under a
// millisecond, even with the new pages faulting in.
const copyBlock = 1 << 20

// mapAnon is mapPages; a test makes it fail.
var mapAnon = mapPages

// newBuffer returns a buffer of at least n bytes. A mapping that fails (out
// of address space, a seccomp filter) falls back to the heap.
func newBuffer(n int) buffer {
	if n >= mapMin {
		if mem, err := mapAnon(n); err == nil {
			return buffer{mem: mem, mapped: true}
		}
	}
	return buffer{mem: make([]byte, n)}
}

// reserve makes b at least n bytes long, keeping its first keep bytes. A
// buffer too small is replaced, and its old memory released, so no slice of
// it may be held across the call. The copy goes a block at a time, paced:
// tens of megabytes in one copy would hold the CPU for milliseconds.
func (b *buffer) reserve(n, keep int, pace *index.Pacer) {
	if len(b.mem) >= n {
		return
	}
	next := newBuffer(n)
	for i := 0; i < keep; i += copyBlock {
		copy(next.mem[i:], b.mem[i:min(i+copyBlock, keep)])
		pace.Block()
	}
	b.release()
	*b = next
}

// release gives the memory back (unmapping a mapping at once) and leaves b
// empty.
func (b *buffer) release() {
	if b.mapped {
		// Fails only for memory that is not a mapping of ours, which the
		// type rules out; there is nothing to do about it then anyway.
		_ = unmapPages(b.mem)
	}
	*b = buffer{}
}
