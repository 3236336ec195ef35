package hostsfile

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// canMap reports whether buffers here get mappings (unix) or are all heap.
func canMap() bool {
	mem, err := mapPages(1)
	if err != nil {
		return false
	}
	_ = unmapPages(mem)
	return true
}

func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = byte(i*7) + seed
	}
}

func TestBufferReserveKeepsBytesAndReleases(t *testing.T) {
	var pace index.Pacer
	var b buffer
	b.reserve(100, 0, &pace)
	if len(b.mem) < 100 || b.mapped {
		t.Fatalf("small buffer: %d bytes, mapped %v; want 100 on the heap", len(b.mem), b.mapped)
	}
	fill(b.mem, 1)
	want := bytes.Clone(b.mem)

	// Heap to mapping, then mapping to mapping over several copy blocks.
	for _, n := range []int{mapMin + 1, 3*copyBlock + 12345} {
		keep := len(b.mem)
		b.reserve(n, keep, &pace)
		if len(b.mem) < n || b.mapped != canMap() {
			t.Fatalf("reserve(%d): %d bytes, mapped %v", n, len(b.mem), b.mapped)
		}
		if b.mapped && len(b.mem)%os.Getpagesize() != 0 {
			t.Errorf("mapping of %d bytes is not whole pages", len(b.mem))
		}
		if !bytes.Equal(b.mem[:keep], want) {
			t.Fatalf("reserve(%d) did not keep the first %d bytes", n, keep)
		}
		if b.mapped && !bytes.Equal(b.mem[keep:], make([]byte, len(b.mem)-keep)) {
			t.Errorf("reserve(%d): the new bytes of a mapping are not zero", n)
		}
		fill(b.mem, byte(n))
		want = bytes.Clone(b.mem)
	}

	before := &b.mem[0]
	b.reserve(10, 10, &pace) // large enough already: nothing moves
	if &b.mem[0] != before || !bytes.Equal(b.mem, want) {
		t.Error("reserve of a smaller size replaced the buffer")
	}

	b.release()
	if b.mem != nil || b.mapped {
		t.Errorf("released buffer still holds %d bytes, mapped %v", len(b.mem), b.mapped)
	}
	b.release() // releasing an empty buffer is harmless
}

func TestBufferFallsBackToTheHeap(t *testing.T) {
	mapAnon = func(int) ([]byte, error) { return nil, errors.New("no mappings today") }
	t.Cleanup(func() { mapAnon = mapPages })
	b := newBuffer(2 * mapMin)
	if len(b.mem) != 2*mapMin || b.mapped {
		t.Errorf("failed mapping: %d bytes, mapped %v; want %d on the heap", len(b.mem), b.mapped, 2*mapMin)
	}
	b.release()
}
