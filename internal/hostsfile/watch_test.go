package hostsfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder collects a watcher's updates for tests to wait on. It applies
// each change to the file's table as a consumer does, and records the update
// with Hosts set to the whole table: what the consumer serves after it.
type recorder struct {
	mu      sync.Mutex
	updates []Update
	tables  map[string]*served
	changed chan struct{} // closed and replaced on every update
}

func newRecorder() *recorder {
	return &recorder{changed: make(chan struct{}), tables: map[string]*served{}}
}

func (r *recorder) record(u Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case u.Err != nil:
		u.Hosts = nil
	case u.Missing:
		delete(r.tables, u.Path)
		u.Hosts = nil
	default:
		tab := r.tables[u.Path]
		if tab == nil {
			tab = &served{}
			r.tables[u.Path] = tab
		}
		tab.apply(u)
		u.Hosts = tab.list()
	}
	r.updates = append(r.updates, u)
	close(r.changed)
	r.changed = make(chan struct{})
}

// summary describes updates in a line each, without their hosts (a large
// file's would fill megabytes of test output).
func summary(updates []Update) string {
	var b strings.Builder
	for _, u := range updates {
		fmt.Fprintf(&b, "\n  %s: %d hosts, %d names, missing %v, err %v", u.Path, u.Stats.Hosts, u.Stats.Names, u.Missing, u.Err)
	}
	return b.String()
}

func (r *recorder) all() []Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.updates)
}

// waitFor waits until the latest update for path satisfies ok. The
// deadline is generous: under -race on a busy 2-core CI machine a 60,000
// line file takes seconds to parse, and a read that caught it half written
// is followed by a second one.
func (r *recorder) waitFor(t *testing.T, path, what string, ok func(Update) bool) Update {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		ch := r.changed
		var last *Update
		for i := range r.updates {
			if r.updates[i].Path == path {
				last = &r.updates[i]
			}
		}
		if last != nil && ok(*last) {
			u := *last
			r.mu.Unlock()
			return u
		}
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; updates: %s", what, summary(r.all()))
		}
	}
}

// hasNames returns a condition: a table whose names are exactly want.
func hasNames(want ...string) func(Update) bool {
	sort.Strings(want)
	return func(u Update) bool {
		return u.Err == nil && !u.Missing && slices.Equal(names(u), want)
	}
}

func names(u Update) []string {
	var ns []string
	for _, h := range u.Hosts {
		ns = append(ns, h.Names...)
	}
	sort.Strings(ns)
	return ns
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startWatcher starts a watcher on paths; adjust may change it before Start.
func startWatcher(t *testing.T, paths []string, poll time.Duration, adjust func(*Watcher)) (*Watcher, *recorder) {
	t.Helper()
	rec := newRecorder()
	w := NewWatcher(paths, poll, rec.record)
	if adjust != nil {
		adjust(w)
	}
	w.Start()
	t.Cleanup(w.Stop)
	return w, rec
}

func TestStartLoadsEveryPathOnce(t *testing.T) {
	dir := t.TempDir()
	present, absent := filepath.Join(dir, "hosts"), filepath.Join(dir, "nope")
	writeFile(t, present, "10.0.0.1 web\n")
	_, rec := startWatcher(t, []string{present, absent}, 0, nil)
	got := rec.all() // Start returned: the initial loads are in
	if len(got) != 2 {
		t.Fatalf("got %d updates, want 2: %+v", len(got), got)
	}
	if !hasNames("web")(got[0]) || got[0].Path != present {
		t.Errorf("first update %+v, want web from %s", got[0], present)
	}
	if !got[1].Missing || got[1].Path != absent || got[1].Hosts != nil {
		t.Errorf("second update %+v, want Missing for %s", got[1], absent)
	}
}

func TestRenameReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 old\n")
	_, rec := startWatcher(t, []string{path}, 0, nil)
	writeFile(t, path+".tmp", "10.0.0.2 new\n")
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, path, "renamed-in content", hasNames("new"))
	// The directory watch survives the rename: a second replace is seen too.
	writeFile(t, path+".tmp", "10.0.0.3 newer\n")
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, path, "second renamed-in content", hasNames("newer"))
}

func TestInPlaceTruncateRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 a\n10.0.0.2 b\n")
	_, rec := startWatcher(t, []string{path}, 0, nil)
	writeFile(t, path, "10.0.0.1 a\n") // O_TRUNC then write, like Docker on delete
	rec.waitFor(t, path, "rewritten content", hasNames("a"))
}

func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 a\n")
	_, rec := startWatcher(t, []string{path}, 0, nil)
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString("10.0.0.2 b\n"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, path, "appended line", hasNames("a", "b"))
}

func TestDeleteRecreateKeepsNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 a\n")
	_, rec := startWatcher(t, []string{path}, 0, nil)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the writer's pause, not an assertion
	writeFile(t, path, "10.0.0.2 b\n")
	rec.waitFor(t, path, "re-created content", hasNames("b"))
	for _, u := range rec.all() {
		if u.Missing {
			t.Errorf("a delete shorter than the grace was reported: %+v", u)
		}
	}
}

func TestDeletedFileGoneAfterGrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 a\n")
	const grace = 150 * time.Millisecond
	_, rec := startWatcher(t, []string{path}, 0, func(w *Watcher) { w.missingGrace = grace })
	removed := time.Now()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	u := rec.waitFor(t, path, "missing", func(u Update) bool { return u.Missing })
	if u.Hosts != nil {
		t.Errorf("missing update has hosts %+v", u.Hosts)
	}
	if d := time.Since(removed); d < grace {
		t.Errorf("reported missing after %v, before the %v grace", d, grace)
	}
	writeFile(t, path, "10.0.0.1 back\n")
	rec.waitFor(t, path, "content after re-create", hasNames("back"))
}

// TestSymlinkSwap follows a Kubernetes-style update: hosts -> ..data/hosts,
// ..data -> ..v1, then ..data is atomically re-pointed to ..v2. No event
// names "hosts" itself.
func TestSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts")
	for _, v := range []string{"..v1", "..v2"} {
		if err := os.Mkdir(filepath.Join(dir, v), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "..v1", "hosts"), "10.0.0.1 v1\n")
	mustSymlink(t, "..v1", filepath.Join(dir, "..data"))
	mustSymlink(t, filepath.Join("..data", "hosts"), path)
	_, rec := startWatcher(t, []string{path}, 0, nil)
	rec.waitFor(t, path, "v1", hasNames("v1"))

	writeFile(t, filepath.Join(dir, "..v2", "hosts"), "10.0.0.2 v2\n")
	mustSymlink(t, "..v2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..v1")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, path, "v2 after the swap", hasNames("v2"))

	// An in-place write to the current target is seen through the link.
	writeFile(t, filepath.Join(dir, "..v2", "hosts"), "10.0.0.2 v2 edited\n")
	rec.waitFor(t, path, "edit of the link target", hasNames("edited", "v2"))
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestDirectoryCreatedLater(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "hosts")
	_, rec := startWatcher(t, []string{path}, 0, nil)
	rec.waitFor(t, path, "missing at start", func(u Update) bool { return u.Missing })
	// One level at a time, so the watcher has to descend more than once.
	for _, d := range []string{filepath.Join(root, "a"), filepath.Dir(path)} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, path, "10.0.0.1 late\n")
	rec.waitFor(t, path, "file in the new directory", hasNames("late"))
	// Descended for good: a later change in the new directory is seen.
	writeFile(t, path, "10.0.0.1 later\n")
	rec.waitFor(t, path, "second write", hasNames("later"))
}

func TestDirectoryDeletedAndRecreated(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "d", "hosts")
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "10.0.0.1 a\n")
	_, rec := startWatcher(t, []string{path}, 0, nil)
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "10.0.0.1 b\n")
	rec.waitFor(t, path, "file in the re-created directory", hasNames("b"))
	writeFile(t, path, "10.0.0.1 c\n")
	rec.waitFor(t, path, "later write there", hasNames("c"))
}

func TestMissingFileAppears(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	_, rec := startWatcher(t, []string{path}, 0, nil)
	writeFile(t, path, "10.0.0.1 web\n")
	rec.waitFor(t, path, "new file", hasNames("web"))
}

func TestEmptyMidRewriteNotAccepted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 a\n")
	_, rec := startWatcher(t, []string{path}, 0, func(w *Watcher) { w.shrinkGrace = time.Second })
	writeFile(t, path, "") // truncated ...
	time.Sleep(30 * time.Millisecond)
	writeFile(t, path, "10.0.0.1 a\n10.0.0.2 b\n") // ... and rewritten
	rec.waitFor(t, path, "rewritten content", hasNames("a", "b"))
	for _, u := range rec.all() {
		if u.Err == nil && !u.Missing && len(u.Hosts) == 0 {
			t.Errorf("the empty read was served: %+v", u)
		}
	}
}

func TestEmptiedFileAcceptedAfterGrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 a\n")
	const grace = 100 * time.Millisecond
	_, rec := startWatcher(t, []string{path}, 0, func(w *Watcher) { w.shrinkGrace = grace })
	emptied := time.Now()
	writeFile(t, path, "# all gone\n")
	rec.waitFor(t, path, "empty table", hasNames())
	if d := time.Since(emptied); d < grace {
		t.Errorf("empty table accepted after %v, before the %v grace", d, grace)
	}
}

func TestPollOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	_, rec := startWatcher(t, []string{path}, 10*time.Millisecond, func(w *Watcher) { w.useNotify = false })
	writeFile(t, path, "10.0.0.1 a\n")
	rec.waitFor(t, path, "polled new file", hasNames("a"))
	writeFile(t, path+".tmp", "10.0.0.1 b\n")
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, path, "polled rename", hasNames("b"))
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString("10.0.0.2 c\n")
	fh.Close()
	rec.waitFor(t, path, "polled append", hasNames("b", "c"))
}

func TestUnchangedContentNotReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 a\n")
	_, rec := startWatcher(t, []string{path}, 5*time.Millisecond, nil)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil { // a touch
		t.Fatal(err)
	}
	writeFile(t, path, "10.0.0.1 a\n") // the same bytes again
	time.Sleep(30 * time.Millisecond)  // let the watcher see both
	writeFile(t, path, "10.0.0.1 b\n")
	rec.waitFor(t, path, "real change", hasNames("b"))
	if got := rec.all(); len(got) != 2 {
		t.Errorf("got %d updates, want the initial load and the real change: %+v", len(got), got)
	}
}

func TestReadErrorKeepsTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 a\n")
	_, rec := startWatcher(t, []string{path}, 0, nil)
	// A directory where the file was: stat works, reading fails.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	u := rec.waitFor(t, path, "read error", func(u Update) bool { return u.Err != nil })
	if u.Hosts != nil || u.Missing {
		t.Errorf("error update %+v must carry no table", u)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "10.0.0.1 a\n")
	rec.waitFor(t, path, "table after the error", hasNames("a"))
}

func TestChangeLatency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 n0\n")
	_, rec := startWatcher(t, []string{path}, 0, nil)
	var lat []time.Duration
	for i := 1; i <= 20; i++ {
		name := "n" + string(rune('a'+i))
		start := time.Now()
		writeFile(t, path, "10.0.0.1 "+name+"\n")
		rec.waitFor(t, path, name, hasNames(name))
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("change to onUpdate: p50 %v, max %v", lat[len(lat)/2], lat[len(lat)-1])
	if lat[len(lat)-1] > time.Second {
		t.Errorf("max latency %v", lat[len(lat)-1])
	}
}

func TestStopTwiceAndBeforeStart(t *testing.T) {
	w := NewWatcher(nil, 0, func(Update) {})
	w.Stop()
	w.Start() // after Stop: nothing happens, nothing leaks
	w = NewWatcher(nil, 0, func(Update) {})
	w.Start()
	w.Start()
	w.Stop()
	w.Stop()
}

func TestStartStopLeaksNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts")
	writeFile(t, path, "10.0.0.1 a\n")
	missing := filepath.Join(dir, "x", "y", "hosts")
	baseG, baseFD := runtime.NumGoroutine(), fdCount(t)
	for range 20 {
		w := NewWatcher([]string{path, missing}, time.Millisecond, func(Update) {})
		w.Start()
		writeFile(t, path, "10.0.0.1 b\n")
		w.Stop()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), fdCount(t)
		if g <= baseG && fd <= baseFD {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d (baseline %d), fds %d (baseline %d)", g, baseG, fd, baseFD)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fdCount(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(fds)
}

func TestHalfWrittenNotAccepted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 a\n10.0.0.2 b\n")
	_, rec := startWatcher(t, []string{path}, 0, func(w *Watcher) { w.shrinkGrace = time.Second })
	writeFile(t, path, "10.0.0.1 a\n") // the writer has done half ...
	time.Sleep(30 * time.Millisecond)  // ... and pauses, long past the debounce
	writeFile(t, path, "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n")
	rec.waitFor(t, path, "the whole file", hasNames("a", "b", "c"))
	for _, u := range rec.all() {
		if u.Err == nil && !u.Missing && len(u.Hosts) < 2 {
			t.Errorf("a half-written read was served: %+v", u)
		}
	}
}

func TestRemovalWaitsForTheGraceButAnAddressChangeDoesNot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, path, "10.0.0.1 a\n10.0.0.2 b\n")
	const grace = 300 * time.Millisecond
	_, rec := startWatcher(t, []string{path}, 0, func(w *Watcher) { w.shrinkGrace = grace })

	moved := time.Now()
	writeFile(t, path, "10.0.0.9 a\n10.0.0.2 b\n")
	rec.waitFor(t, path, "a at its new address", func(u Update) bool {
		return len(u.Hosts) == 2 && u.Hosts[0].Addrs[0].IP.String() == "10.0.0.9"
	})
	if d := time.Since(moved); d >= grace {
		t.Errorf("an address change took %v: it must not wait for the %v grace", d, grace)
	}

	removed := time.Now()
	writeFile(t, path, "10.0.0.9 a\n")
	rec.waitFor(t, path, "b removed", hasNames("a"))
	if d := time.Since(removed); d < grace {
		t.Errorf("b removed after %v, before the %v grace", d, grace)
	}
}
