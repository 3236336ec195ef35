package hostsfile

import (
	"bytes"
	"hash/maphash"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// table is a file as last served, kept so that a reread is diffed against it
// and only the lines that changed touch the index: the file's bytes and the
// index Table it was last loaded whole as (the base).
//
// A host is what its line says, an address and names: its identity, not its
// line number, so a line inserted near the top changes one host, not every
// host below it. Lines that say the same thing are one host several times.
//
// An edit does not rebuild the base: a base host whose line goes is killed
// in it, one whose line comes back revived, and a host the base does not
// have is a Host of its own beside it (an extra). Once those are a sizeable
// part of the file, the next reread loads it whole again (compaction), so a
// file always costs about what its table does.
type table struct {
	// content is the file's bytes, borrowed: the watcher's buffer, which
	// may be unmapped once the table lets go of it. Nothing made from it
	// (hosts, the index table, Stats) keeps a slice of it; names are copied.
	content []byte
	base    *index.Table
	dead    []uint64 // bit per base host whose line is gone
	ndead   int
	extra   map[hostKey]int32 // how many lines give each extra host
	stats   Stats
	tune    *tuning // nil for the defaults; tests move the thresholds
	// newTable starts a table for the index the file goes to; nil for
	// one without zones.
	newTable func() *index.TableBuilder
}

var noZones = index.New(nil)

func (t *table) builder() *index.TableBuilder {
	if t.newTable != nil {
		return t.newTable()
	}
	return noZones.NewTableBuilder()
}

// tuning sets when a reread loads the file whole rather than patching.
type tuning struct {
	wholeBytes int // a change of more bytes than this (and wholeShare) is loaded whole
	patched    int // compaction once more hosts than this (and wholeShare) are patched
}

var defaultTuning = tuning{wholeBytes: 64 << 10, patched: 1024}

func (t *table) tuning() tuning {
	if t.tune != nil {
		return *t.tune
	}
	return defaultTuning
}

// wholeShare is the share of a file whose change loads it whole: a change of
// more than 1/wholeShare of its bytes is read as a new base, and so is a
// patch that would leave more than 1/wholeShare of the base's hosts killed
// or beside it (both above the table's tuning).
const wholeShare = 16

// hostKey is a host's identity: a 128-bit hash of its address and names.
// It is an extra host's ID too.
type hostKey [16]byte

var keySeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func keyOf(h index.Host) hostKey {
	var k hostKey
	for i, seed := range keySeeds {
		var m maphash.Hash
		m.SetSeed(seed)
		ip := h.Addrs[0].IP.As16()
		m.Write(ip[:])
		for _, n := range h.Names {
			m.WriteByte(' ')
			m.WriteString(n)
		}
		v := m.Sum64()
		for j := range 8 {
			k[8*i+j] = byte(v >> (8 * j))
		}
	}
	return k
}

func (t *table) live(h int32) bool { return t.dead == nil || t.dead[h>>6]&(1<<(h&63)) == 0 }

// served reports whether the table gives any host.
func (t *table) served() bool {
	return len(t.extra) > 0 || (t.base != nil && t.base.Hosts() > t.ndead)
}

// change is what a reread brings, against a table: a new base (the whole
// file), or a patch of the old one.
type change struct {
	content []byte
	base    *index.Table // the new base, when the file was loaded whole
	// The patch: base hosts that go and come back, extra hosts that go (by
	// ID) and come.
	kill, revive []int32
	removed      []string
	added        []index.Host
	extra        map[hostKey]int32 // new line counts of the extra hosts it touched
	stats        Stats
	drops        bool // a name served now would be served no more
}

func (c *change) empty() bool {
	return c.base == nil && len(c.kill)+len(c.revive)+len(c.removed)+len(c.added) == 0
}

// diff compares content, the file as read now, with the table. Only the
// lines between the common prefix and the common suffix are parsed: for a
// one-line edit of a large file, two lines.
func (t *table) diff(content []byte, lim Limits, truncated bool, cut int) change {
	if t.base == nil {
		return t.whole(content, lim, truncated, cut)
	}
	old := t.content
	p := commonPrefix(old, content)
	if p == len(old) && p == len(content) {
		c := change{content: content, stats: t.stats}
		c.stats.Truncated, c.stats.CutNames = truncated, cut
		return c
	}
	p = bytes.LastIndexByte(old[:p], '\n') + 1 // back to a line start
	s := commonSuffix(old[p:], content[p:])
	// The suffix must start a line in both.
	if os, ns := len(old)-s, len(content)-s; s > 0 && !(lineStart(old, os, p) && lineStart(content, ns, p)) {
		if i := bytes.IndexByte(old[os:], '\n'); i >= 0 {
			s -= i + 1
		} else {
			s = 0
		}
	}
	oldMid, newMid := old[p:len(old)-s], content[p:len(content)-s]
	if len(oldMid)+len(newMid) > max(len(content)/wholeShare, t.tuning().wholeBytes) {
		return t.whole(content, lim, truncated, cut)
	}

	// How many more (or fewer) lines give each host now.
	delta := map[hostKey]int32{}
	hosts := map[hostKey]index.Host{}
	var gone, arrived Stats
	count := func(mid []byte, st *Stats, d int32) {
		ps := parser{stats: st}
		eachLine(mid, p == 0, lim, st, func(line []byte) {
			if h, ok := ps.parseLine(line, 0); ok {
				k := keyOf(h)
				delta[k] += d
				if _, ok := hosts[k]; !ok {
					h.ID = string(k[:])
					hosts[k] = h
				}
			}
		})
	}
	count(oldMid, &gone, -1)
	count(newMid, &arrived, +1)

	c := change{content: content, extra: map[hostKey]int32{}}
	var went, came []index.Host // hosts no line gives any more, and new ones
	newDead, extras := t.ndead, len(t.extra)
	var pace index.Pacer
	for k, d := range delta {
		pace.Tick()
		if d == 0 {
			continue
		}
		h := hosts[k]
		var alive, dead []int32
		t.base.Find(h.Addrs[0].IP, h.Names, func(i int32) {
			if t.live(i) {
				alive = append(alive, i)
			} else {
				dead = append(dead, i)
			}
		})
		was := t.extra[k]
		before := int32(len(alive)) + was
		if d < 0 {
			// Lines went: take them from the extra host first, then from
			// the base.
			n := min(-d, was)
			if now := was - n; now != was {
				c.extra[k] = now
				if now == 0 {
					c.removed = append(c.removed, h.ID)
					extras--
				}
			}
			for _, i := range alive[:min(int(-d-n), len(alive))] {
				c.kill = append(c.kill, i)
				newDead++
			}
		} else {
			// Lines came: bring back base hosts first, then the extra.
			n := min(d, int32(len(dead)))
			c.revive = append(c.revive, dead[:n]...)
			newDead -= int(n)
			if n < d {
				c.extra[k] = was + d - n
				if was == 0 {
					c.added = append(c.added, h)
					extras++
				}
			}
		}
		switch after := before + d; {
		case before > 0 && after == 0:
			went = append(went, h)
		case before == 0 && after > 0:
			came = append(came, h)
		}
	}
	if newDead+extras > max(t.base.Hosts()/wholeShare, t.tuning().patched) {
		return t.whole(content, lim, truncated, cut) // compaction
	}
	c.drops = dropsNames(went, came)
	c.stats = t.stats
	c.stats.add(gone, -1)
	c.stats.add(arrived, +1)
	c.stats.Truncated, c.stats.CutNames = truncated, cut
	return c
}

// whole loads content as a new base. Nothing is allocated per line: the
// names go straight into the table's arrays.
func (t *table) whole(content []byte, lim Limits, truncated bool, cut int) change {
	b := t.builder()
	var stats Stats
	p := parser{stats: &stats}
	eachLine(content, true, lim, &stats, func(line []byte) {
		if ip, names, ok := p.scanLine(line, 0); ok {
			b.Add(ip, names)
		}
	}) // eachLine yields the CPU as it goes
	stats.Truncated, stats.CutNames = truncated, cut
	c := change{content: content, base: b.Done(), stats: stats}
	// A file caught half written has fewer names than it had: hold such a
	// read back for the shrink grace. (Checking every name, as an edit
	// does, would cost as much as the load.)
	c.drops = t.base != nil && stats.Names < t.stats.Names
	return c
}

// accept makes c the table.
func (t *table) accept(c change) {
	if c.base != nil {
		*t = table{content: c.content, base: c.base, stats: c.stats, tune: t.tune, newTable: t.newTable}
		return
	}
	if len(c.kill) > 0 && t.dead == nil {
		t.dead = make([]uint64, (t.base.Hosts()+63)/64)
	}
	for _, h := range c.kill {
		t.dead[h>>6] |= 1 << (h & 63)
	}
	for _, h := range c.revive {
		t.dead[h>>6] &^= 1 << (h & 63)
	}
	t.ndead += len(c.kill) - len(c.revive)
	for k, n := range c.extra {
		if n == 0 {
			delete(t.extra, k)
			continue
		}
		if t.extra == nil {
			t.extra = map[hostKey]int32{}
		}
		t.extra[k] = n
	}
	t.content, t.stats = c.content, c.stats
}

// update is c as the watcher reports it.
func (c *change) update(path string) Update {
	return Update{Path: path, Table: c.base, Kill: c.kill, Revive: c.revive, Removed: c.removed, Hosts: c.added, Stats: c.stats}
}

// commonPrefix is the length of the longest common prefix of a and b. It
// compares blocks first (bytes.Equal is vectorised): a large file is
// compared at memory speed, a few milliseconds for 19 MB, so it yields as
// it goes.
func commonPrefix(a, b []byte) int {
	const block = 256
	var pace index.Pacer
	n := min(len(a), len(b))
	i := 0
	for i+block <= n && bytes.Equal(a[i:i+block], b[i:i+block]) {
		i += block
		pace.Tick()
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// commonSuffix is the length of the longest common suffix of a and b.
func commonSuffix(a, b []byte) int {
	const block = 256
	var pace index.Pacer
	n := min(len(a), len(b))
	i := 0
	for i+block <= n && bytes.Equal(a[len(a)-i-block:len(a)-i], b[len(b)-i-block:len(b)-i]) {
		i += block
		pace.Tick()
	}
	for i < n && a[len(a)-1-i] == b[len(b)-1-i] {
		i++
	}
	return i
}

func lineStart(b []byte, i, min int) bool { return i == min || b[i-1] == '\n' }

// eachLine calls f with each line of b that is within the line limit; lines
// over it are counted in stats. first says b starts the file (a BOM there is
// no part of the line, but counts toward its length). The limit is Parse's:
// a line is too long when it does not fit LineBytes with its newline, or
// fills them without one.
func eachLine(b []byte, first bool, lim Limits, stats *Stats, f func(line []byte)) {
	var pace index.Pacer
	for len(b) > 0 {
		pace.Tick()
		line, n := b, len(b)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b, n = b[:i], b[i+1:], i+1
		} else {
			b = nil
			n++ // as if the newline were there: an unterminated line may not fill the limit either
		}
		if n > lim.LineBytes {
			stats.Skipped++
			stats.LongLines++
			var names nameCounter
			names.write(line)
			stats.LongLineNames += names.end()
			first = false
			continue
		}
		if first {
			line, first = bytes.TrimPrefix(line, utf8BOM), false
		}
		f(line)
	}
}

// dropsNames reports whether a host that goes has a name that no host that
// comes has. A name that an unchanged line still has counts as dropped too:
// the change then waits out the shrink grace, which delays it but loses
// nothing.
func dropsNames(went, came []index.Host) bool {
	if len(went) == 0 {
		return false
	}
	have := map[string]struct{}{}
	for _, h := range came {
		for _, n := range h.Names {
			have[n] = struct{}{}
		}
	}
	for _, h := range went {
		for _, n := range h.Names {
			if _, ok := have[n]; !ok {
				return true
			}
		}
	}
	return false
}
