package hostsfile

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"127.0.0.1 localhost\n::1 localhost ip6-localhost\n",
		"# comment\n\n10.0.0.1\tWeb www. # trailing\r\n",
		"\xef\xbb\xbf10.0.0.1 bom\n",
		"fe80::1%eth0 link\n::ffff:10.0.0.9 mapped\n",
		"10.0.0.1%eth0 a\nfe80::1% b\n10.0.0.256 c\n",
		"10.0.0.1 a..b .x x. _srv -dash ünï " + strings.Repeat("l", 64) + "\n",
		"10.0.0.1 " + strings.Repeat("abcdefgh.", 28) + "x\n",
		"10.0.0.1 a a A a. b\n10.0.0.2\n",
		"\x00\xff 10.0.0.1\x00a\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkParse(t, in, DefaultLimits)
		checkParse(t, in, small) // reaches the long-line and cap paths too
	})
}

func checkParse(t *testing.T, in []byte, lim Limits) {
	t.Helper()
	hosts, stats, err := parse(bytes.NewReader(in), "/h", lim)
	if err != nil {
		t.Fatalf("a bytes.Reader cannot fail, got %v", err)
	}
	if stats.Hosts != len(hosts) {
		t.Errorf("stats.Hosts %d, %d hosts", stats.Hosts, len(hosts))
	}
	names := 0
	for _, h := range hosts {
		if len(h.Names) == 0 || len(h.Addrs) != 1 {
			t.Fatalf("host %+v: want names and exactly one address", h)
		}
		if ip := h.Addrs[0].IP; !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
			t.Errorf("host %s: address %v", h.ID, ip)
		}
		if !slices.Equal(h.Names, h.ReverseNames) {
			t.Errorf("host %s: ReverseNames %q differ from Names %q", h.ID, h.ReverseNames, h.Names)
		}
		seen := map[string]bool{}
		for _, n := range h.Names {
			if seen[n] {
				t.Errorf("host %s: name %q twice", h.ID, n)
			}
			seen[n] = true
			if !validName(n) {
				t.Errorf("host %s: invalid name %q", h.ID, n)
			}
			if !bytes.Contains(bytes.ToLower(in), []byte(n)) {
				t.Errorf("host %s: name %q is not in the input", h.ID, n)
			}
		}
		names += len(h.Names)
	}
	if stats.Names != names {
		t.Errorf("stats.Names %d, counted %d", stats.Names, names)
	}
}

// validName restates the rule independently of normalizeName: lowercase
// letters, digits, hyphens and underscores in labels of 1 to 63 bytes, at most
// 253 bytes in all, no trailing dot.
func validName(n string) bool {
	if len(n) == 0 || len(n) > 253 {
		return false
	}
	for _, label := range strings.Split(n, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		if strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}

// FuzzDiff checks the reread path against the full parse: a file read as a,
// then reread as b, leaves exactly the hosts a full parse of b gives, and
// the same counts.
func FuzzDiff(f *testing.F) {
	f.Add([]byte("10.0.0.1 a\n10.0.0.2 b\n"), []byte("10.0.0.1 a\n10.0.0.3 b\n"))
	f.Add([]byte("10.0.0.1 a\n10.0.0.1 a\nx\n"), []byte("10.0.0.1 a\n"))
	f.Add([]byte("\xef\xbb\xbf10.0.0.1 a\n10.0.0.2 b"), []byte("10.0.0.2 b\n\xef\xbb\xbf10.0.0.1 a\n"))
	f.Add([]byte("10.0.0.1 a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3\n10.0.0.2 x\n"), []byte("10.0.0.2 x\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, lim := range []Limits{DefaultLimits, small} {
			for _, tune := range []*tuning{nil, {wholeBytes: 1 << 30, patched: 1 << 30}, {wholeBytes: 1 << 30, patched: 1}} {
				rereadMatches(t, a, b, lim, tune)
			}
		}
	})
}

// rereadMatches checks that a file read as a, then reread as b, leaves
// exactly the hosts a full parse of b gives, and the same counts.
func rereadMatches(t *testing.T, a, b []byte, lim Limits, tune *tuning) {
	t.Helper()
	tab := table{tune: tune}
	var got served
	for _, content := range [][]byte{a, b} {
		c := tab.diff(content, lim, false, 0)
		got.apply(c.update("/h"))
		tab.accept(c)
	}
	want, stats, _ := parse(bytes.NewReader(b), "/h", Limits{LineBytes: lim.LineBytes, FileBytes: 1 << 30})
	if got, want := hostSet(got.hosts), hostSet(want); !slices.Equal(got, want) {
		t.Fatalf("limits %+v, tuning %+v: after the diff\n%q\nwant\n%q", lim, tune, got, want)
	}
	stats.FirstSkipped = 0
	if tab.stats != stats {
		t.Fatalf("limits %+v, tuning %+v: stats %+v, want %+v", lim, tune, tab.stats, stats)
	}
}

// hostSet is hosts by what they say, sorted, duplicates once.
func hostSet[M ~map[string]index.Host | ~[]index.Host](hosts M) []string {
	var out []string
	add := func(h index.Host) { out = append(out, fmt.Sprint(h.Addrs[0].IP, h.Names)) }
	switch hs := any(hosts).(type) {
	case map[string]index.Host:
		for _, h := range hs {
			add(h)
		}
	case []index.Host:
		for _, h := range hs {
			add(h)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
