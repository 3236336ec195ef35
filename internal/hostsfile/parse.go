// Package hostsfile turns files in /etc/hosts format into index hosts and
// keeps them current: Parse reads one file, Watcher follows files on disk
// through every way they get rewritten (rename, in-place rewrite, symlink
// swap, delete and re-create) and reports each real change to a callback.
package hostsfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

// Limits bound the memory and time one file can cost, whatever it holds.
// There is no cap on names: a million names cost about what the README's
// Performance section says, and memory is the real limit. What a limit
// keeps out is logged and counted (Stats.Dropped), never lost silently.
type Limits struct {
	// LineBytes is the longest line parsed; a longer one is skipped whole.
	LineBytes int
	// FileBytes caps the bytes read from one file; the rest is not served.
	FileBytes int64
}

// Default limits: far above any real hosts file's lines, and room for
// block lists of a few million names.
const (
	MaxLineBytes = 64 << 10
	MaxFileBytes = 64 << 20
)

// MaxFileBytesLimit is the largest FileBytes: a file's table addresses its
// names with 32-bit offsets.
const MaxFileBytesLimit = 2 << 30

// DefaultLimits are the limits unless the Corefile sets others.
var DefaultLimits = Limits{LineBytes: MaxLineBytes, FileBytes: MaxFileBytes}

// Stats describes one parse, for logs and metrics.
type Stats struct {
	Hosts   int // lines that became a host
	Names   int // names in those hosts
	Skipped int // invalid lines plus invalid names on otherwise valid lines
	// FirstSkipped is the line number of the first skipped line or name (0 if
	// none, and in the updates of a watched file), so a log message can
	// point at it.
	FirstSkipped int
	// LongLines counts lines over Limits.LineBytes (skipped, and in Skipped).
	LongLines int
	// LongLineNames counts the names on those lines: not served.
	LongLineNames int
	// Truncated is set when Limits.FileBytes stopped the parse early;
	// CutNames counts the names past it: not served.
	Truncated bool
	CutNames  int
}

// Dropped is how many names the limits kept out.
func (s Stats) Dropped() int { return s.LongLineNames + s.CutNames }

func (s *Stats) skip(lineno int) {
	s.Skipped++
	if s.FirstSkipped == 0 {
		s.FirstSkipped = lineno
	}
}

// add adds o's counts to s; sign -1 takes them away.
func (s *Stats) add(o Stats, sign int) {
	s.Hosts += sign * o.Hosts
	s.Names += sign * o.Names
	s.Skipped += sign * o.Skipped
	s.LongLines += sign * o.LongLines
	s.LongLineNames += sign * o.LongLineNames
}

var utf8BOM = []byte("\xef\xbb\xbf")

// Parse reads a hosts file with the default limits. Each line with an
// address and at least one valid name becomes one host with ID "path:line";
// invalid lines and names are skipped and counted in Stats. err is set only
// when reading r fails.
func Parse(r io.Reader, path string) (hosts []index.Host, stats Stats, err error) {
	return parse(r, path, DefaultLimits)
}

func parse(r io.Reader, path string, lim Limits) (hosts []index.Host, stats Stats, err error) {
	limited := &io.LimitedReader{R: r, N: lim.FileBytes}
	// ReadSlice with a buffer of lim.LineBytes rather than bufio.Scanner: the
	// Scanner gives up on the first long line, we skip it and read on.
	br := bufio.NewReaderSize(limited, lim.LineBytes)
	p := parser{stats: &stats}
	lineno := 0
	for {
		line, rerr := br.ReadSlice('\n')
		if errors.Is(rerr, bufio.ErrBufferFull) {
			lineno++
			stats.skip(lineno)
			stats.LongLines++
			var names nameCounter
			names.write(line)
			for errors.Is(rerr, bufio.ErrBufferFull) {
				line, rerr = br.ReadSlice('\n')
				names.write(line)
			}
			stats.LongLineNames += names.end()
		} else if len(line) > 0 {
			lineno++
			if lineno == 1 {
				line = bytes.TrimPrefix(line, utf8BOM)
			}
			if rerr == io.EOF && limited.N == 0 {
				// Cut off by FileBytes mid-line: its last name may be a
				// fragment, so do not serve the line; its names count as
				// dropped with the rest.
				stats.skip(lineno)
				stats.Truncated = true
				var names nameCounter
				names.write(line)
				rest, cerr := countNames(r, &names)
				if cerr != nil {
					return nil, stats, fmt.Errorf("read %s: %w", path, cerr)
				}
				stats.CutNames += rest
			} else if h, ok := p.parseLine(line, lineno); ok {
				h.ID = path + ":" + strconv.Itoa(lineno)
				hosts = append(hosts, h)
			}
		}
		if rerr == io.EOF {
			if limited.N == 0 && !stats.Truncated {
				// The limit fell on a line end: see whether more follows.
				var names nameCounter
				rest, cerr := countNames(r, &names)
				if cerr != nil {
					return nil, stats, fmt.Errorf("read %s: %w", path, cerr)
				}
				stats.Truncated = names.seen
				stats.CutNames += rest
			}
			return hosts, stats, nil
		}
		if rerr != nil {
			return nil, stats, fmt.Errorf("read %s: %w", path, rerr)
		}
	}
}

// nameCounter counts the names on lines fed to it in pieces, without keeping
// them: what a limit drops is counted, not stored. A line's names are its
// fields after the first (the address), up to a comment.
type nameCounter struct {
	fields  int  // on the current line
	inField bool // the last byte seen was part of a field
	comment bool // the current line is in its comment
	seen    bool // some byte was fed
	total   int  // names on finished lines
}

func (c *nameCounter) write(b []byte) {
	if len(b) > 0 {
		c.seen = true
	}
	for _, ch := range b {
		switch {
		case ch == '\n':
			c.endLine()
		case c.comment:
		case ch == '#':
			c.comment, c.inField = true, false
		case isBlank(ch):
			c.inField = false
		case !c.inField:
			c.inField = true
			c.fields++
		}
	}
}

func (c *nameCounter) endLine() {
	if c.fields > 1 {
		c.total += c.fields - 1
	}
	c.fields, c.inField, c.comment = 0, false, false
}

// end finishes the last line and returns the names counted.
func (c *nameCounter) end() int {
	c.endLine()
	return c.total
}

// countNames counts the names in what r still holds, continuing c. It reads
// at most countBytes: a device that never ends (a hosts file pointed at
// /dev/zero) must not hang the reader, so past that the count is a floor.
func countNames(r io.Reader, c *nameCounter) (int, error) {
	buf := make([]byte, 32<<10)
	for left := countBytes; left > 0; left -= int64(len(buf)) {
		n, err := r.Read(buf)
		c.write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return c.end(), nil
}

// countBytes bounds how far past the file limit names are counted.
var countBytes int64 = 1 << 30

// parser holds scratch space reused from line to line: scanning a line
// allocates nothing, and a Host made of it costs its names and one slice for
// them. The caller sets the ID.
type parser struct {
	stats *Stats
	names [][]byte
	ends  []int           // where each name of the line ends in buf
	seen  map[string]bool // only for lines with many names, see repeated
	buf   []byte
	addrs []index.Addr // handed out one element at a time
}

// parseLine turns one line into a host; ok is false for blank, comment-only
// and invalid lines (the invalid ones are counted in stats).
func (p *parser) parseLine(line []byte, lineno int) (index.Host, bool) {
	ip, names, ok := p.scanLine(line, lineno)
	if !ok {
		return index.Host{}, false
	}
	// Names and ReverseNames share one allocation but not their capacity, so
	// appending to one can never write into the other.
	both := make([]string, 2*len(names))
	for i, n := range names {
		both[i] = string(n)
		both[len(names)+i] = both[i]
	}
	if len(p.addrs) == 0 {
		p.addrs = make([]index.Addr, 64)
	}
	addrs := p.addrs[:1:1]
	p.addrs = p.addrs[1:]
	addrs[0].IP = ip
	return index.Host{
		Names:        both[:len(names):len(names)],
		ReverseNames: both[len(names):],
		Addrs:        addrs,
	}, true
}

// scanLine reads one line's address and names without allocating: the names
// are normalized, each once, and valid until the next call. ok is false for
// blank, comment-only and invalid lines (the invalid ones are counted).
func (p *parser) scanLine(line []byte, lineno int) (ip netip.Addr, names [][]byte, ok bool) {
	stats := p.stats
	if i := bytes.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	field, rest := nextField(line)
	if field == nil {
		return ip, nil, false
	}
	if ip, ok = parseAddr(field); !ok {
		stats.skip(lineno)
		return ip, nil, false
	}
	p.buf, p.ends = p.buf[:0], p.ends[:0]
	clear(p.seen)
	fields := 0
	for {
		field, rest = nextField(rest)
		if field == nil {
			break
		}
		fields++
		start := len(p.buf)
		var valid bool
		if p.buf, valid = dnsname.AppendNormal(p.buf, field); !valid {
			p.buf = p.buf[:start]
			stats.skip(lineno)
			continue
		}
		if p.repeated(start) {
			p.buf = p.buf[:start]
			continue
		}
		p.ends = append(p.ends, len(p.buf))
	}
	if fields == 0 {
		stats.skip(lineno) // an address without names
	}
	if len(p.ends) == 0 {
		return ip, nil, false
	}
	names = p.names[:0]
	start := 0
	for _, end := range p.ends {
		names = append(names, p.buf[start:end:end])
		start = end
	}
	p.names = names
	stats.Hosts++
	stats.Names += len(names)
	return ip, names, true
}

// repeated reports whether the name just appended to buf at start is one the
// line already has: a repeated name would repeat its PTR answer. Lines have a
// few names, so a scan is cheapest; past a handful, a map keeps a
// pathological line (up to ~32k names) linear.
func (p *parser) repeated(start int) bool {
	name := p.buf[start:]
	if len(p.ends) < 16 {
		from := 0
		for _, end := range p.ends {
			if bytes.Equal(p.buf[from:end], name) {
				return true
			}
			from = end
		}
		return false
	}
	if len(p.seen) == 0 {
		if p.seen == nil {
			p.seen = make(map[string]bool)
		}
		from := 0
		for _, end := range p.ends {
			p.seen[string(p.buf[from:end])] = true
			from = end
		}
	}
	if p.seen[string(name)] {
		return true
	}
	p.seen[string(name)] = true
	return false
}

// nextField returns the first run of non-blank bytes in b and what follows
// it; field is nil when b holds no more fields. Only ASCII blanks separate
// fields ("\r" too, which handles CRLF line ends).
func nextField(b []byte) (field, rest []byte) {
	start := 0
	for start < len(b) && isBlank(b[start]) {
		start++
	}
	if start == len(b) {
		return nil, nil
	}
	end := start
	for end < len(b) && !isBlank(b[end]) {
		end++
	}
	return b[start:end], b[end:]
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// parseAddr accepts IPv4 and IPv6. A zone ("fe80::1%eth0") means nothing to
// a DNS client, so it is dropped; an IPv4-mapped IPv6 address is served as
// the IPv4 address it carries, which is what a client of the name wants.
func parseAddr(b []byte) (netip.Addr, bool) {
	if i := bytes.IndexByte(b, '%'); i >= 0 {
		if bytes.IndexByte(b[:i], ':') < 0 || i == len(b)-1 {
			return netip.Addr{}, false // zones exist only on IPv6 and are never empty
		}
		b = b[:i]
	}
	// ParseAddr keeps nothing of a string without a zone (its error does,
	// but is dropped): no copy needed, though b may be memory the watcher
	// unmaps later.
	ip, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}
