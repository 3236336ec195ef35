package hostsfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

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

func TestReadLimitedGrowsForAFileGrownWhileRead(t *testing.T) {
	data := scaleFile(100_000) // several megabytes
	var buf buffer
	defer buf.release()
	// Stated 1 KB: the file grew after the stat, past the heap threshold.
	content, truncated, _, err := readLimited(bytes.NewReader(data), 1024, DefaultLimits.FileBytes, &buf)
	if err != nil || truncated || !bytes.Equal(content, data) {
		t.Fatalf("grown read: err %v, truncated %v, %d of %d bytes right", err, truncated, commonPrefix(content, data), len(data))
	}
	if buf.mapped != canMap() {
		t.Errorf("grown buffer of %d bytes: mapped %v", len(buf.mem), buf.mapped)
	}

	// A reread of the same size reuses the buffer.
	before := &buf.mem[0]
	content, _, _, err = readLimited(bytes.NewReader(data), int64(len(data)), DefaultLimits.FileBytes, &buf)
	if err != nil || !bytes.Equal(content, data) || &buf.mem[0] != before {
		t.Errorf("reread: err %v, same content %v, same buffer %v", err, bytes.Equal(content, data), &buf.mem[0] == before)
	}

	// Grown past the limit: cut at the last line within it.
	limit := int64(len(data) / 2)
	var small buffer
	defer small.release()
	content, truncated, cut, err := readLimited(bytes.NewReader(data), 1024, limit, &small)
	want := data[:bytes.LastIndexByte(data[:limit], '\n')+1]
	if err != nil || !truncated || cut == 0 || !bytes.Equal(content, want) {
		t.Errorf("over the limit: err %v, truncated %v, cut %d, content right %v", err, truncated, cut, bytes.Equal(content, want))
	}
}

// TestLargeFileRereads follows a file large enough for mapped buffers as it
// grows, is edited, shrinks (held back for the grace), and goes away and
// comes back: the watcher's two buffers trade places, are replaced and released,
// and what is served must be the file every time.
func TestLargeFileRereads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	write := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mapping := canMap()
	var mappedUpdates atomic.Int32
	w, rec := startWatcher(t, []string{path}, 0, func(cw *Watcher) {
		cw.shrinkGrace, cw.missingGrace = 50*time.Millisecond, 50*time.Millisecond
		record := cw.onUpdate
		cw.onUpdate = func(u Update) {
			// On the watcher's goroutine: its buffers hold still.
			f := cw.files[0]
			switch {
			case u.Missing && (f.served.mem != nil || f.spare.mem != nil):
				t.Errorf("missing file still holds buffers of %d and %d bytes", len(f.served.mem), len(f.spare.mem))
			case len(f.tab.content) > 0 && (len(f.served.mem) == 0 || &f.tab.content[0] != &f.served.mem[0]):
				t.Error("the table's content is not the served buffer")
			case len(f.served.mem) > 0 && len(f.spare.mem) > 0 && &f.served.mem[0] == &f.spare.mem[0]:
				t.Error("served and spare are one buffer")
			case len(f.served.mem) >= mapMin && f.served.mapped != mapping:
				t.Errorf("served buffer of %d bytes: mapped %v", len(f.served.mem), f.served.mapped)
			}
			if f.served.mapped {
				mappedUpdates.Add(1)
			}
			record(u)
		}
	})
	expect := func(what string, content []byte) {
		t.Helper()
		hosts, _, err := Parse(bytes.NewReader(content), path)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, h := range hosts {
			want = append(want, h.Names...)
		}
		rec.waitFor(t, path, what, hasNames(want...))
	}

	base := scaleFile(30_000)
	if len(base) < mapMin {
		t.Fatalf("the file of %d bytes is below mapMin", len(base))
	}
	write(base)
	expect("first load", base)

	grown := scaleFile(60_000)
	write(grown)
	expect("grown", grown)

	edited := bytes.Replace(grown, []byte(" host45000 "), []byte(" edited45000 "), 1)
	write(edited)
	expect("one line edited", edited)

	shrunk := scaleFile(40_000)
	write(shrunk)
	expect("shrunk, after the grace", shrunk)

	// A file that loses names (as one caught half written does) is held
	// back for the grace, its read left in spare, and read again into the
	// same buffer when the grace is over.
	half := base[:bytes.LastIndexByte(base[:len(base)/3], '\n')+1]
	write(half)
	expect("a third of the file, after the grace", half)
	write(grown)
	expect("whole again", grown)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, path, "missing", func(u Update) bool { return u.Missing })

	write(edited)
	expect("back", edited)

	w.Stop()
	if mapping && mappedUpdates.Load() == 0 {
		t.Error("no update was served from a mapped buffer")
	}
	if f := w.files[0]; f.served.mem != nil || f.spare.mem != nil || f.tab.content != nil {
		t.Errorf("stopped watcher holds buffers of %d and %d bytes", len(f.served.mem), len(f.spare.mem))
	}
}
