package hostsfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/fsnotify/fsnotify"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

var log = clog.NewWithPlugin("dockerhosts")

// Timings of the watcher. A change reaches onUpdate about debounce after its
// first event; the graces only delay taking names away.
const (
	// debounce lets a burst of writes (truncate, then write) settle into one
	// read, and stays far below the 10 ms a change may take to be served.
	debounce = 2 * time.Millisecond
	// shrinkGrace is how long a read that drops names being served must
	// last before it is accepted: a reader can catch a file between its
	// truncation and its rewrite, or half written (Docker rewrites
	// /etc/hosts in place). Additions and address changes are not delayed.
	shrinkGrace = 100 * time.Millisecond
	// missingGrace is how long a file that had hosts must stay missing before
	// its hosts are dropped: delete + re-create must not blink names away.
	missingGrace = time.Second
	// fallbackPoll is the stat poll used when polling is off but a directory
	// could not be watched (inotify limits, permissions).
	fallbackPoll = time.Second
)

// Update is the change of one watched file, sent on every real change.
//
// A consumer keeps the file's hosts and changes them unless Err is set:
//   - Err != nil: the file could not be read; what the consumer has stays in
//     force.
//   - Missing: the file does not exist (at start, or deleted and still gone
//     after a grace period of about a second); the file contributes nothing
//     until it appears again.
//   - Table != nil: the file was loaded whole (the first time, after
//     Missing, after a large change): Table is every host it gives, and
//     replaces whatever the consumer had.
//   - otherwise a patch of the last Table: its hosts in Kill go and those in
//     Revive come back, the hosts with the IDs in Removed go and Hosts come.
//     A host's ID stands for its line's content.
type Update struct {
	Path         string // as given to NewWatcher, made absolute
	Table        *index.Table
	Kill, Revive []int32
	Hosts        []index.Host
	Removed      []string
	Stats        Stats // of the whole file as now read
	Err          error
	Missing      bool
}

// Watcher follows hosts files. It watches each file's directory rather than
// the file: a rename over the file, a delete and re-create, or a symlink swap
// all happen to the directory's entries, and a watch on the old inode would
// see none of them.
type Watcher struct {
	files    []*file
	poll     time.Duration
	onUpdate func(Update)

	// Copies of the timing constants and an fsnotify switch, so tests can
	// shorten waits and exercise polling alone.
	debounce, shrinkGrace, missingGrace time.Duration
	useNotify                           bool
	limits                              Limits
	// newTable starts the table a file is loaded as; nil for a table
	// without zones.
	newTable func() *index.TableBuilder

	notify   *fsnotify.Watcher
	watched  map[string]os.FileInfo // directories under watch, as they were when added
	degraded bool                   // some directory could not be watched

	mu    sync.Mutex // guards state
	state int        // created, running or stopped
	done  chan struct{}
	wg    sync.WaitGroup
}

const (
	created = iota
	running
	stopped
)

// file is what the watcher knows about one path; only the watcher's goroutine
// (or Start, before it runs) touches it.
type file struct {
	path, parent, base string
	// realDir and realBase name the file a symlink at path resolves to, so
	// in-place writes through the link are seen too.
	realDir, realBase string
	dirs              []string // directories watched for this file

	seen  os.FileInfo // identity of the last read; nil when missing
	due   time.Time   // when the next check runs; zero for none
	force bool        // the next check reads even if the identity is unchanged

	// What the consumer was last told.
	sent    int // sentNothing, sentTable, sentMissing, sentErr
	errText string
	tab     table // the table the consumer has
	// The file is read into two buffers in turn, so rereads of a large file
	// allocate nothing: tab.content is bytes of served, and a read goes
	// into spare. They are the only holders of the bytes (see buffer).
	served, spare buffer

	shrinkSince, missingSince time.Time
}

const (
	sentNothing = iota
	sentTable
	sentMissing
	sentErr
)

// NewWatcher returns a watcher for paths that calls onUpdate with each path's
// state. poll is the interval of a stat poll that backs up fsnotify on file
// systems without inotify (NFS, some FUSE); 0 turns it off.
//
// onUpdate is called from one goroutine at a time and must not call Stop.
func NewWatcher(paths []string, poll time.Duration, onUpdate func(Update)) *Watcher {
	w := &Watcher{
		poll:         poll,
		onUpdate:     onUpdate,
		debounce:     debounce,
		shrinkGrace:  shrinkGrace,
		missingGrace: missingGrace,
		useNotify:    true,
		limits:       DefaultLimits,
		watched:      map[string]os.FileInfo{},
		done:         make(chan struct{}),
	}
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		p = filepath.Clean(p)
		w.files = append(w.files, &file{path: p, parent: filepath.Dir(p), base: filepath.Base(p)})
	}
	return w
}

// Start loads every file once, calling onUpdate once per path before it
// returns, then follows the files until Stop. Without fsnotify (inotify
// limits) it follows them by polling, at the fallback interval when polling
// is off. Starting again, or after Stop, does nothing.
func (w *Watcher) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != created {
		return
	}
	if w.useNotify {
		n, err := fsnotify.NewWatcher()
		if err != nil {
			w.degraded = true
			log.Warningf("Cannot watch hosts files (%v): following them by polling every %s only", err, w.degradedPoll())
		}
		w.notify = n
	} else {
		w.degraded = true
	}
	now := time.Now()
	for _, f := range w.files {
		f.tab.newTable = w.newTable
		f.force = true
		w.check(f, now)
	}
	w.state = running
	w.wg.Add(1)
	go w.loop()
}

// Stop ends the watcher's goroutine and closes its descriptors, and returns
// once they are gone. It is safe to call more than once.
func (w *Watcher) Stop() {
	w.mu.Lock()
	was := w.state
	w.state = stopped
	w.mu.Unlock()
	if was != running {
		return
	}
	close(w.done)
	w.wg.Wait()
	if w.notify != nil {
		w.notify.Close() // waits for fsnotify's own reader goroutine
	}
	// The goroutine that read the files is gone: nothing uses their
	// buffers any more.
	for _, f := range w.files {
		f.forget()
	}
}

func (w *Watcher) loop() {
	defer w.wg.Done()
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
		tick   <-chan time.Time
		ticker *time.Ticker
	)
	if w.notify != nil {
		events, errs = w.notify.Events, w.notify.Errors
	}
	if w.poll > 0 {
		ticker = time.NewTicker(w.poll)
		tick = ticker.C
	}
	timer := time.NewTimer(time.Hour)
	defer func() {
		timer.Stop()
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		if ticker == nil && w.degraded {
			ticker = time.NewTicker(w.degradedPoll())
			tick = ticker.C
		}
		w.armTimer(timer)
		select {
		case <-w.done:
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			w.handleEvent(ev, time.Now())
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An overflow (or read error) means events were lost: look at
			// every file again.
			now := time.Now()
			for _, f := range w.files {
				f.schedule(now.Add(w.debounce), true)
			}
		case now := <-timer.C:
			for _, f := range w.files {
				if !f.due.IsZero() && !f.due.After(now) {
					w.check(f, now)
				}
			}
		case now := <-tick:
			for _, f := range w.files {
				if f.due.IsZero() {
					w.check(f, now)
				}
			}
		}
	}
}

// armTimer sets timer to the earliest pending check.
func (w *Watcher) armTimer(timer *time.Timer) {
	var next time.Time
	for _, f := range w.files {
		if !f.due.IsZero() && (next.IsZero() || f.due.Before(next)) {
			next = f.due
		}
	}
	if next.IsZero() {
		timer.Stop()
		return
	}
	timer.Reset(max(time.Until(next), 0))
}

// handleEvent schedules a check of every file the event may concern. An
// event on the file's own name forces a read; any other event in its
// directories (a "..data" symlink swapped, a missing parent created) only
// makes the check stat the path and read it if its identity changed.
func (w *Watcher) handleEvent(ev fsnotify.Event, now time.Time) {
	if _, ok := w.watched[ev.Name]; ok && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		// A watched directory went away and its watch with it. Forget it, so
		// the next check watches whatever is at that path now, even if a
		// re-created directory got the old inode number back.
		delete(w.watched, ev.Name)
	}
	dir, name := filepath.Dir(ev.Name), filepath.Base(ev.Name)
	for _, f := range w.files {
		switch {
		case dir == f.parent && name == f.base, dir == f.realDir && name == f.realBase:
			f.schedule(now.Add(w.debounce), true)
		case slices.Contains(f.dirs, dir), slices.Contains(f.dirs, ev.Name):
			f.schedule(now.Add(w.debounce), false)
		}
	}
}

// schedule makes the next check happen no later than at. A pending check is
// never postponed, so a stream of writes cannot starve the reads.
func (f *file) schedule(at time.Time, force bool) {
	f.force = f.force || force
	if f.due.IsZero() || at.Before(f.due) {
		f.due = at
	}
}

// lasted reports whether a state first seen at *since has lasted grace by
// now. If not, it schedules the check that will see it through.
func (f *file) lasted(since *time.Time, now time.Time, grace time.Duration) bool {
	if since.IsZero() {
		*since = now
	}
	if at := since.Add(grace); now.Before(at) {
		f.schedule(at, true)
		return false
	}
	*since = time.Time{}
	return true
}

// check brings the consumer's view of f up to date.
func (w *Watcher) check(f *file, now time.Time) {
	force := f.force
	f.due, f.force = time.Time{}, false
	// Watch before looking, so a change right after the look is not lost.
	w.watchDirs(f)
	fi, err := os.Stat(f.path)
	switch {
	case isNotExist(err):
		w.missing(f, now)
	case err != nil:
		w.failed(f, fmt.Errorf("stat %s: %w", f.path, err))
	case force || f.seen == nil || !sameContent(f.seen, fi):
		w.read(f, now)
	}
}

func (w *Watcher) read(f *file, now time.Time) {
	fh, err := os.Open(f.path)
	if isNotExist(err) {
		w.missing(f, now)
		return
	}
	if err != nil {
		w.failed(f, err)
		return
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		w.failed(f, fmt.Errorf("stat %s: %w", f.path, err))
		return
	}
	content, truncated, cut, err := readLimited(fh, fi.Size(), w.limits.FileBytes, &f.spare)
	if err != nil {
		w.failed(f, fmt.Errorf("read %s: %w", f.path, err))
		return
	}
	f.seen, f.missingSince = fi, time.Time{}

	c := f.tab.diff(content, w.limits, truncated, cut)
	if !c.drops {
		f.shrinkSince = time.Time{}
	} else if !f.lasted(&f.shrinkSince, now, w.shrinkGrace) {
		// Maybe caught mid-rewrite: names go once the shorter table
		// lasts. The read stays in spare, the table in served.
		return
	}
	unchanged := f.sent == sentTable && c.empty() && c.stats == f.tab.stats
	f.accept(c)
	if unchanged {
		return // touched, or rewritten with the same hosts
	}
	f.sent = sentTable
	w.onUpdate(c.update(f.path))
}

// accept makes c, read into spare, the table; the buffers trade places, and
// the old table's bytes become the next read's buffer.
func (f *file) accept(c change) {
	f.tab.accept(c)
	f.served, f.spare = f.spare, f.served
}

// forget drops the table and releases the buffers: nothing else holds
// their bytes (the index tables copy names out of them).
func (f *file) forget() {
	f.tab = table{newTable: f.tab.newTable}
	f.served.release()
	f.spare.release()
}

// readLimited reads what r holds, up to limit bytes, into buf, which it
// replaces when too small; content is bytes of buf. A file over the limit
// is cut at its last whole line within it; cut counts the names of what was
// left out, read (not kept) to the end.
//
// It reads a quarter megabyte a call: the goroutine keeps the CPU through
// a read system call, and one that faults in a megabyte of fresh pages
// takes 0.8 ms, which queries arriving meanwhile wait out.
const readChunk = 256 << 10

func readLimited(r io.Reader, size, limit int64, buf *buffer) (content []byte, truncated bool, cut int, err error) {
	var pace index.Pacer
	buf.reserve(int(min(size, limit)+1), 0, &pace)
	content = buf.mem[:0]
	for int64(len(content)) < limit {
		if len(content) == cap(content) { // grown while read
			buf.reserve(int(min(2*int64(len(content)), limit)), len(content), &pace)
			content = buf.mem[:len(content)]
		}
		room := content[len(content):min(int64(cap(content)), limit, int64(len(content))+readChunk)]
		n, rerr := r.Read(room)
		content = content[:len(content)+n]
		pace.Block()
		if errors.Is(rerr, io.EOF) {
			return content, false, 0, nil
		}
		if rerr != nil {
			return nil, false, 0, rerr
		}
	}
	probe := make([]byte, 1)
	if n, perr := io.ReadFull(r, probe); n == 0 {
		if errors.Is(perr, io.EOF) {
			return content, false, 0, nil // exactly limit bytes
		}
		return nil, false, 0, perr
	}
	var names nameCounter
	rest := content[bytes.LastIndexByte(content, '\n')+1:]
	names.write(rest)
	names.write(probe)
	n, err := countNames(r, &names)
	if err != nil {
		return nil, false, 0, err
	}
	return content[:len(content)-len(rest)], true, n, nil
}

func (w *Watcher) missing(f *file, now time.Time) {
	f.seen, f.shrinkSince = nil, time.Time{}
	if f.sent == sentMissing {
		return
	}
	if f.tab.served() && !f.lasted(&f.missingSince, now, w.missingGrace) {
		return // keep serving through a delete + re-create
	}
	f.missingSince = time.Time{}
	f.sent = sentMissing
	f.forget()
	w.onUpdate(Update{Path: f.path, Missing: true})
}

// failed reports a read error once; the consumer keeps its table.
func (w *Watcher) failed(f *file, err error) {
	if f.sent == sentErr && f.errText == err.Error() {
		return
	}
	f.sent, f.errText = sentErr, err.Error()
	w.onUpdate(Update{Path: f.path, Err: err})
}

// watchDirs points the watches of f at its parent directory, or at the
// nearest existing ancestor while the parent does not exist (an event there
// brings the next check, which descends), plus the directory of the file a
// symlink at f.path resolves to.
func (w *Watcher) watchDirs(f *file) {
	if w.notify == nil {
		return
	}
	// Repeat until the nearest directory holds still: one created between
	// looking and watching would otherwise go unseen.
	for dir := ""; dir != nearestDir(f.parent); {
		dir = nearestDir(f.parent)
		f.dirs = append(f.dirs[:0], dir)
		f.realDir, f.realBase = "", ""
		if dir == f.parent {
			if real, err := filepath.EvalSymlinks(f.path); err == nil {
				f.realDir, f.realBase = filepath.Dir(real), filepath.Base(real)
				if f.realDir != f.parent && !sameDir(f.realDir, f.parent) {
					f.dirs = append(f.dirs, f.realDir)
				}
			}
		}
		w.syncWatches()
	}
}

// nearestDir returns dir or, while it does not exist, its nearest existing
// ancestor.
func nearestDir(dir string) string {
	for !isDir(dir) {
		up := filepath.Dir(dir)
		if up == dir {
			break
		}
		dir = up
	}
	return dir
}

// syncWatches makes the fsnotify watches the union of every file's dirs. A
// directory that was deleted and re-created has a new inode and is watched
// again: the old watch died with the old directory.
func (w *Watcher) syncWatches() {
	want := map[string]bool{}
	for _, f := range w.files {
		for _, d := range f.dirs {
			want[d] = true
		}
	}
	for d := range want {
		fi, err := os.Stat(d)
		if err != nil {
			continue // gone again; its parent's events bring another check
		}
		if old, ok := w.watched[d]; ok && os.SameFile(old, fi) {
			continue
		}
		if err := w.notify.Add(d); err != nil {
			// Said once per directory: the next sync tries again.
			if !w.degraded {
				log.Warningf("Cannot watch %s (%v): polling it every %s instead", d, err, w.degradedPoll())
			}
			w.degraded = true
			continue
		}
		w.watched[d] = fi
	}
	for d := range w.watched {
		if !want[d] {
			_ = w.notify.Remove(d) // fails when the directory is gone; nothing to undo
			delete(w.watched, d)
		}
	}
}

// sameContent reports whether two stats of a path are the same file with the
// same size and mtime, the identity a stat can see without reading.
func sameContent(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func sameDir(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// isNotExist counts a path whose parent is a file (ENOTDIR) as missing too.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// degradedPoll is how often files are polled when a directory cannot be
// watched: the configured poll, or fallbackPoll when polling is off.
func (w *Watcher) degradedPoll() time.Duration {
	if w.poll > 0 {
		return w.poll
	}
	return fallbackPoll
}
