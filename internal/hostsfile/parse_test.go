package hostsfile

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/index"
)

// line is the expected host of one input line, compactly.
type line struct {
	no    int
	addr  string
	names []string
}

func TestParse(t *testing.T) {
	long := strings.Repeat("a", 64)
	name253 := strings.Repeat("abcdefgh.", 28) + "x"
	tests := []struct {
		name    string
		in      string
		want    []line
		skipped int
	}{
		{"empty", "", nil, 0},
		{"comments and blank lines", "# a comment\n\n   \n\t# indented\n", nil, 0},
		{"ipv4 one name", "10.0.0.1 web\n", []line{{1, "10.0.0.1", []string{"web"}}}, 0},
		{"several names, tabs and spaces", "10.0.0.1\tweb  www\t \tapi\n",
			[]line{{1, "10.0.0.1", []string{"web", "www", "api"}}}, 0},
		{"comment after entries", "10.0.0.1 web # www\n10.0.0.2 db#x\n",
			[]line{{1, "10.0.0.1", []string{"web"}}, {2, "10.0.0.2", []string{"db"}}}, 0},
		{"ipv6", "fd00::1 six\n::1 localhost ip6-localhost\n",
			[]line{{1, "fd00::1", []string{"six"}}, {2, "::1", []string{"localhost", "ip6-localhost"}}}, 0},
		{"ipv6 zone dropped", "fe80::1%eth0 link\n", []line{{1, "fe80::1", []string{"link"}}}, 0},
		{"zone on ipv4 or empty zone is invalid", "10.0.0.1%eth0 a\nfe80::1% b\n", nil, 2},
		{"ipv4-mapped ipv6 served as ipv4", "::ffff:10.0.0.9 mapped\n", []line{{1, "10.0.0.9", []string{"mapped"}}}, 0},
		{"lowercased, trailing dot dropped", "10.0.0.1 Web.Example.COM.\n",
			[]line{{1, "10.0.0.1", []string{"web.example.com"}}}, 0},
		{"crlf line ends", "10.0.0.1 web\r\n10.0.0.2 db\r\n",
			[]line{{1, "10.0.0.1", []string{"web"}}, {2, "10.0.0.2", []string{"db"}}}, 0},
		{"utf-8 bom", "\xef\xbb\xbf10.0.0.1 web\n", []line{{1, "10.0.0.1", []string{"web"}}}, 0},
		{"no final newline", "10.0.0.1 web", []line{{1, "10.0.0.1", []string{"web"}}}, 0},
		{"duplicate names across lines kept", "10.0.0.1 web\n10.0.0.2 web\n",
			[]line{{1, "10.0.0.1", []string{"web"}}, {2, "10.0.0.2", []string{"web"}}}, 0},
		{"duplicate names on a line once", "10.0.0.1 web WEB web.\n", []line{{1, "10.0.0.1", []string{"web"}}}, 0},
		{"underscore and hyphen", "10.0.0.1 _srv my-host\n", []line{{1, "10.0.0.1", []string{"_srv", "my-host"}}}, 0},
		{"bad address skipped", "10.0.0.256 a\nnot-an-ip b\n010.0.0.1 c\n10.0.0.2 ok\n",
			[]line{{4, "10.0.0.2", []string{"ok"}}}, 3},
		{"address without names skipped", "10.0.0.1\n10.0.0.2 # only a comment\n", nil, 2},
		{"invalid names skipped, rest kept",
			"10.0.0.1 good a..b .lead bad/char " + long + " ünï ok\n",
			[]line{{1, "10.0.0.1", []string{"good", "ok"}}}, 5},
		{"only invalid names", "10.0.0.1 a..b\n", nil, 1},
		{"label of 63 kept", "10.0.0.1 " + long[:63] + "\n", []line{{1, "10.0.0.1", []string{long[:63]}}}, 0},
		{"name of 253 kept", "10.0.0.1 " + name253 + "\n", []line{{1, "10.0.0.1", []string{name253}}}, 0},
		{"name over 253 skipped", "10.0.0.1 x" + name253 + "\n", nil, 1},
		{"lone dot skipped", "10.0.0.1 . ok\n", []line{{1, "10.0.0.1", []string{"ok"}}}, 1},
		{"overlong line skipped, rest parsed",
			"10.0.0.1 a\n10.0.0.2 " + strings.Repeat("b ", MaxLineBytes) + "\n10.0.0.3 c\n",
			[]line{{1, "10.0.0.1", []string{"a"}}, {3, "10.0.0.3", []string{"c"}}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hosts, stats, err := Parse(strings.NewReader(tc.in), "/h")
			if err != nil {
				t.Fatal(err)
			}
			var want []index.Host
			for _, l := range tc.want {
				want = append(want, index.Host{
					ID:           fmt.Sprintf("/h:%d", l.no),
					Names:        l.names,
					ReverseNames: l.names,
					Addrs:        []index.Addr{{IP: netip.MustParseAddr(l.addr)}},
				})
			}
			if !reflect.DeepEqual(hosts, want) {
				t.Errorf("hosts:\n got %+v\nwant %+v", hosts, want)
			}
			if stats.Skipped != tc.skipped {
				t.Errorf("skipped %d, want %d", stats.Skipped, tc.skipped)
			}
			if stats.Hosts != len(want) {
				t.Errorf("stats.Hosts %d, want %d", stats.Hosts, len(want))
			}
		})
	}
}

func TestParseFirstSkipped(t *testing.T) {
	_, stats, _ := Parse(strings.NewReader("10.0.0.1 a\n\nbad b\nbad c\n"), "/h")
	if stats.FirstSkipped != 3 || stats.Skipped != 2 {
		t.Errorf("got %+v, want FirstSkipped 3 and Skipped 2", stats)
	}
}

// small keeps the limits reachable with little input.
var small = Limits{LineBytes: 64, FileBytes: 1000}

func TestParseHasNoNameCap(t *testing.T) {
	const lines = 1<<18 + 10 // past the cap there once was
	var b strings.Builder
	for i := range lines {
		fmt.Fprintf(&b, "10.0.%d.%d n%d\n", i>>8&0xff, i&0xff, i)
	}
	hosts, stats, err := Parse(strings.NewReader(b.String()), "/h")
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != lines || stats.Names != lines || stats.Truncated || stats.Dropped() != 0 {
		t.Errorf("got %d hosts, stats %+v; want %d names", len(hosts), stats, lines)
	}
}

func TestParseCountsNamesPastTheFileLimit(t *testing.T) {
	// 100 lines of 19 bytes with two names each; the limit falls mid-line 51.
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "10.0.0.1 a%03d b%03d\n", i, i)
	}
	lim := small
	lim.FileBytes = 19*50 + 10
	hosts, stats, _ := parse(strings.NewReader(b.String()), "/h", lim)
	if len(hosts) != 50 || !stats.Truncated || stats.CutNames != 100 || stats.Skipped != 1 {
		t.Errorf("got %d hosts, stats %+v; want 50 hosts, Truncated, 100 names cut", len(hosts), stats)
	}
	for _, h := range hosts {
		if len(h.Names) != 2 || len(h.Names[1]) != 4 {
			t.Errorf("served a fragment: %+v", h)
		}
	}
	// An endless reader is counted only so far.
	defer func(n int64) { countBytes = n }(countBytes)
	countBytes = 1 << 16
	_, stats, err := parse(&repeatReader{line: []byte("10.0.0.1 abcdefg\n")}, "/h", small)
	if err != nil || !stats.Truncated || stats.CutNames == 0 {
		t.Errorf("stats %+v, err %v; want Truncated and a count", stats, err)
	}
}

func TestParseCountsNamesOnLongLines(t *testing.T) {
	in := "10.0.0.1 a\n10.0.0.2 " + strings.Repeat("bb ", 40) + "# c d\n10.0.0.3 c\n"
	hosts, stats, _ := parse(strings.NewReader(in), "/h", small)
	if len(hosts) != 2 || stats.LongLines != 1 || stats.LongLineNames != 40 || stats.Skipped != 1 {
		t.Errorf("got %d hosts, stats %+v; want 2 hosts, 1 long line with 40 names", len(hosts), stats)
	}
}

type repeatReader struct {
	line []byte
	n    int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], r.line[(r.n+n)%len(r.line):])
	}
	r.n += n
	return n, nil
}

func TestParseNamesDoNotAlias(t *testing.T) {
	hosts, _, _ := Parse(strings.NewReader("10.0.0.1 a b\n"), "/h")
	h := hosts[0]
	_ = append(h.Names, "x")
	if h.ReverseNames[0] != "a" {
		t.Fatal("appending to Names overwrote ReverseNames")
	}
}

// benchFile is a 1,000-line hosts file like a busy Docker host's.
func benchFile() string {
	var b strings.Builder
	b.WriteString("# generated\n127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
	for i := 3; i < 1000; i++ {
		fmt.Fprintf(&b, "172.%d.%d.%d\tcontainer-%d container-%d.Project.Local # svc\n", 16+i/65536, i/256%256, i%256, i, i)
	}
	return b.String()
}

func BenchmarkParse(b *testing.B) {
	in := benchFile()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(strings.NewReader(in), "/etc/hosts"); err != nil {
			b.Fatal(err)
		}
	}
}
