package hostsfile

import (
	"bytes"
	"hash/maphash"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// table is a file as last served, kept so that a reread is diffed against it
// and only the lines that changed touch the index: the file's bytes, and how
// often each line that gave a host occurs.
//
// A host's ID is its line's content (a 128-bit hash of it), not its line
// number: a line inserted near the top changes one host, not every host
// below it. Identical lines are one host: they say the same thing.
type table struct {
	content []byte
	refs    map[lineKey]int32
	stats   Stats
}

type lineKey [16]byte

var lineSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func keyOf(line []byte) lineKey {
	var k lineKey
	a, b := maphash.Bytes(lineSeeds[0], line), maphash.Bytes(lineSeeds[1], line)
	for i := range 8 {
		k[i], k[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	return k
}

// change is what a reread brings, against a table.
type change struct {
	content []byte
	added   []index.Host
	removed []string
	stats   Stats
	refs    map[lineKey]int32 // new counts of the lines it touched
	drops   bool              // a removed host has a name no added host has
}

func (c *change) empty() bool { return len(c.added) == 0 && len(c.removed) == 0 }

// diff compares content, the file as read now, with the table. Only the
// lines between the common prefix and the common suffix are parsed: for a
// one-line edit of a large file, two lines.
func (t *table) diff(content []byte, lim Limits, truncated bool, cut int) change {
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

	lines := bytes.Count(newMid, []byte{'\n'}) + 1
	c := change{content: content, refs: make(map[lineKey]int32, lines+bytes.Count(oldMid, []byte{'\n'}))}
	c.added = make([]index.Host, 0, lines)
	count := func(k lineKey) int32 {
		if n, ok := c.refs[k]; ok {
			return n
		}
		return t.refs[k]
	}
	var gone, came Stats
	op, np := parser{stats: &gone}, parser{stats: &came}
	eachLine(oldMid, p == 0, lim, &gone, func(line []byte) {
		if _, ok := op.parseLine(line, 0); ok {
			k := keyOf(line)
			c.refs[k] = count(k) - 1
		}
	})
	eachLine(newMid, p == 0, lim, &came, func(line []byte) {
		if h, ok := np.parseLine(line, 0); ok {
			k := keyOf(line)
			n := count(k)
			if n == 0 && t.refs[k] == 0 {
				h.ID = string(k[:])
				c.added = append(c.added, h)
			}
			c.refs[k] = n + 1
		}
	})
	var removed map[lineKey]bool
	var pace index.Pacer
	for k, n := range c.refs {
		pace.Tick()
		if n == 0 && t.refs[k] > 0 {
			c.removed = append(c.removed, string(k[:]))
			if removed == nil {
				removed = map[lineKey]bool{}
			}
			removed[k] = true
		}
	}
	if removed != nil {
		c.drops = dropsNames(oldMid, p == 0, lim, removed, c.added)
	}
	c.stats = t.stats
	c.stats.add(gone, -1)
	c.stats.add(came, +1)
	c.stats.Truncated, c.stats.CutNames = truncated, cut
	return c
}

// accept makes c the table.
func (t *table) accept(c change) {
	if t.refs == nil {
		t.refs = map[lineKey]int32{}
	}
	var pace index.Pacer
	for k, n := range c.refs {
		pace.Tick()
		if n == 0 {
			delete(t.refs, k)
		} else {
			t.refs[k] = n
		}
	}
	t.content, t.stats = c.content, c.stats
}

// commonPrefix is the length of the longest common prefix of a and b. It
// compares blocks first (bytes.Equal is vectorised): a large file is
// compared at memory speed.
func commonPrefix(a, b []byte) int {
	const block = 256
	n := min(len(a), len(b))
	i := 0
	for i+block <= n && bytes.Equal(a[i:i+block], b[i:i+block]) {
		i += block
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// commonSuffix is the length of the longest common suffix of a and b.
func commonSuffix(a, b []byte) int {
	const block = 256
	n := min(len(a), len(b))
	i := 0
	for i+block <= n && bytes.Equal(a[len(a)-i-block:len(a)-i], b[len(b)-i-block:len(b)-i]) {
		i += block
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

// dropsNames reports whether a removed line has a name that no added host
// has. A name that an unchanged line still has counts as dropped too: the
// change then waits out the shrink grace, which delays it but loses nothing.
func dropsNames(oldMid []byte, first bool, lim Limits, removed map[lineKey]bool, added []index.Host) bool {
	have := map[string]struct{}{}
	var pace index.Pacer
	for _, h := range added {
		pace.Tick()
		for _, n := range h.Names {
			have[n] = struct{}{}
		}
	}
	var st Stats
	p := parser{stats: &st}
	drops := false
	eachLine(oldMid, first, lim, &st, func(line []byte) {
		if drops || !removed[keyOf(line)] {
			return
		}
		if h, ok := p.parseLine(line, 0); ok {
			for _, n := range h.Names {
				if _, ok := have[n]; !ok {
					drops = true
					return
				}
			}
		}
	})
	return drops
}
