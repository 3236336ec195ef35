package hostsfile

import (
	"bytes"
	"fmt"
	"testing"
)

// reread diffs content against tab, accepts it, and returns the change.
func reread(tab *table, content []byte) change {
	c := tab.diff(content, DefaultLimits, false, 0)
	tab.accept(c)
	return c
}

func TestAnEditPatchesTheTable(t *testing.T) {
	in := scaleFile(5000)
	var tab table
	if c := reread(&tab, in); c.base == nil || c.base.Hosts() != 5000 {
		t.Fatalf("first read: %+v, want a table of 5000 hosts", c)
	}
	base := tab.base
	edited := bytes.Replace(in, []byte("10.0.9.196 host2500 "), []byte("10.9.9.9 host2500 "), 1)
	c := reread(&tab, edited)
	if c.base != nil || len(c.kill) != 1 || len(c.added) != 1 || len(c.revive)+len(c.removed) != 0 {
		t.Fatalf("one changed line: new table %v, kill %v, revive %v, removed %d, added %d; want one host killed and one added",
			c.base != nil, c.kill, c.revive, len(c.removed), len(c.added))
	}
	if got := base.Addr(c.kill[0]).String(); got != "10.0.9.196" {
		t.Errorf("killed the host at %s, want 10.0.9.196", got)
	}
	if tab.base != base || tab.ndead != 1 || len(tab.extra) != 1 {
		t.Errorf("after the edit: same base %v, %d dead, %d extra; want the same base, 1, 1", tab.base == base, tab.ndead, len(tab.extra))
	}

	// Undone: the base host comes back and the extra one goes.
	c = reread(&tab, in)
	if c.base != nil || len(c.revive) != 1 || len(c.removed) != 1 || len(c.kill)+len(c.added) != 0 {
		t.Fatalf("undo: kill %v, revive %v, removed %d, added %d; want one revived and one removed", c.kill, c.revive, len(c.removed), len(c.added))
	}
	if tab.ndead != 0 || len(tab.extra) != 0 {
		t.Errorf("after the undo: %d dead, %d extra; want none", tab.ndead, len(tab.extra))
	}
}

func TestDuplicateLinesCountAsOneHost(t *testing.T) {
	in := []byte("10.0.0.1 a\n10.0.0.1   a # again\n10.0.0.2 b\n")
	tab := table{tune: &tuning{wholeBytes: 1 << 30, patched: 1 << 30}}
	reread(&tab, in)
	// One of the two lines goes: a is still served.
	if c := reread(&tab, []byte("10.0.0.1 a\n10.0.0.2 b\n")); c.drops || !tab.served() {
		t.Fatalf("a duplicate line removed: drops %v; the host must stay", c.drops)
	}
	c := reread(&tab, []byte("10.0.0.2 b\n"))
	if !c.drops {
		t.Errorf("the last line of a removed: drops %v, want true (the shrink grace applies)", c.drops)
	}
}

func TestManyEditsLoadTheFileWhole(t *testing.T) {
	in := scaleFile(32) // small: 1/16 of it is less than the tuning
	// Each edit kills a host and adds one: 2 patched hosts.
	tab := table{tune: &tuning{wholeBytes: 1 << 30, patched: 6}}
	reread(&tab, in)
	content := in
	for i := range 10 {
		content = bytes.Replace(content, fmt.Appendf(nil, " host%d ", i), fmt.Appendf(nil, " moved%d ", i), 1)
		c := reread(&tab, content)
		switch {
		case i < 3 && c.base != nil:
			t.Fatalf("edit %d loaded the file whole; patches of up to 6 hosts are kept", i)
		case i == 3 && c.base == nil:
			t.Fatalf("edit %d patched the table past 6 patched hosts; want a whole load", i)
		}
		if i == 3 {
			if tab.ndead != 0 || len(tab.extra) != 0 || tab.base.Hosts() != 32 {
				t.Errorf("after compaction: %d dead, %d extra, %d hosts; want 0, 0, 32", tab.ndead, len(tab.extra), tab.base.Hosts())
			}
			return
		}
	}
}

func TestAWholeReloadWithFewerNamesWaitsForTheGrace(t *testing.T) {
	in := scaleFile(2000)
	tab := table{tune: &tuning{wholeBytes: 0, patched: 1 << 30}} // changes of 1/16 of the file load it whole
	reread(&tab, in)
	if c := tab.diff(in[:len(in)/2], DefaultLimits, false, 0); c.base == nil || !c.drops {
		t.Errorf("half the file: new table %v, drops %v; want a whole load that drops names", c.base != nil, c.drops)
	}
	moved := bytes.ReplaceAll(in, []byte("\n10."), []byte("\n11."))
	if c := tab.diff(moved, DefaultLimits, false, 0); c.base == nil || c.drops {
		t.Errorf("every address moved: new table %v, drops %v; want a whole load that drops nothing", c.base != nil, c.drops)
	}
}
