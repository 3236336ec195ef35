package index

import (
	"bytes"
	"fmt"
	"testing"
)

func TestBlocksPushAcrossBlocks(t *testing.T) {
	var pace Pacer
	var a blocks[uint32]
	const n = 2*blockLen + 5
	for i := range n {
		a.push(uint32(i)*3, &pace)
	}
	if a.len() != n || len(a.b) != 3 {
		t.Fatalf("len %d in %d blocks, want %d in 3", a.len(), len(a.b), n)
	}
	for _, blk := range a.b[1:] {
		if cap(blk) != blockLen {
			t.Errorf("a later block has capacity %d, want %d", cap(blk), blockLen)
		}
	}
	if cap(a.b[0]) != blockLen {
		t.Errorf("the first block grew to %d, want %d", cap(a.b[0]), blockLen)
	}
	next := 0
	a.each(func(i int, v uint32) {
		if i != next || v != uint32(i)*3 || a.at(i) != v {
			t.Fatalf("item %d (expected %d) is %d, at says %d", i, next, v, a.at(i))
		}
		next++
	})
	if next != n {
		t.Fatalf("each gave %d items, want %d", next, n)
	}
	*a.ref(blockLen) = 7
	if a.at(blockLen) != 7 {
		t.Fatal("ref does not write the item at gives")
	}
}

func TestBlocksSmallStaysSmall(t *testing.T) {
	var pace Pacer
	var a blocks[[2]uint64]
	for i := range 3 {
		a.push([2]uint64{uint64(i)}, &pace)
	}
	if len(a.b) != 1 || cap(a.b[0]) > 16 {
		t.Fatalf("3 items took %d blocks, the first of capacity %d", len(a.b), cap(a.b[0]))
	}
	var ar arena
	ar.add([]byte("localhost"), &pace)
	if cap(ar.b[0]) > 64 {
		t.Fatalf("one short name took an arena block of %d bytes", cap(ar.b[0]))
	}
}

func TestMakeBlocks(t *testing.T) {
	var pace Pacer
	for _, n := range []int{0, 1, blockLen, blockLen + 1} {
		a := makeBlocks[uint32](n, &pace)
		if a.len() != n {
			t.Fatalf("makeBlocks(%d) has %d items", n, a.len())
		}
		count := 0
		a.each(func(_ int, v uint32) {
			if v != 0 {
				t.Fatalf("makeBlocks(%d) has a non-zero item", n)
			}
			count++
		})
		if count != n {
			t.Fatalf("makeBlocks(%d) walks %d items", n, count)
		}
	}
}

// No name straddles two arena blocks: each comes back whole, as added.
func TestArenaNamesWhole(t *testing.T) {
	var pace Pacer
	var ar arena
	type placed struct {
		off  uint32
		name []byte
	}
	var all []placed
	for i := 0; len(ar.b) < 4; i++ {
		name := []byte(fmt.Sprintf("%0*d", 1+i%MaxTableName, i))
		all = append(all, placed{ar.add(name, &pace), name})
	}
	for _, p := range all {
		if got := ar.name(p.off, uint8(len(p.name))); !bytes.Equal(got, p.name) {
			t.Fatalf("name at %#x is %q, want %q", p.off, got, p.name)
		}
	}
	for i, blk := range ar.b[1:] {
		if cap(blk) != arenaBlock {
			t.Fatalf("arena block %d has capacity %d", i+1, cap(blk))
		}
	}
}
