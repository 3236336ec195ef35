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

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

// Limits that bound the memory and time one file can cost, whatever it holds.
// A real hosts file is far below all of them; ad-block lists of a few hundred
// thousand names still fit.
const (
	// MaxLineBytes is the longest line parsed; a longer one is skipped whole.
	MaxLineBytes = 64 << 10
	// MaxNames caps the names kept from one file; parsing stops there.
	MaxNames = 1 << 18
	// MaxFileBytes caps the bytes read from one file; parsing stops there.
	MaxFileBytes = 64 << 20
)

// Stats describes one parse, for logs and metrics.
type Stats struct {
	Hosts   int // lines that became a host
	Names   int // names in those hosts
	Skipped int // invalid lines plus invalid names on otherwise valid lines
	// FirstSkipped is the line number of the first skipped line or name (0 if
	// none), so a log message can point at it.
	FirstSkipped int
	// Truncated is set when MaxNames or MaxFileBytes stopped the parse early.
	Truncated bool
}

func (s *Stats) skip(lineno int) {
	s.Skipped++
	if s.FirstSkipped == 0 {
		s.FirstSkipped = lineno
	}
}

var utf8BOM = []byte("\xef\xbb\xbf")

// Parse reads a hosts file. Each line with an address and at least one valid
// name becomes one host with ID "path:line"; invalid lines and names are
// skipped and counted in Stats. err is set only when reading r fails.
func Parse(r io.Reader, path string) (hosts []index.Host, stats Stats, err error) {
	return parse(r, path, limits{lineBytes: MaxLineBytes, names: MaxNames, fileBytes: MaxFileBytes})
}

// limits lets tests reach the caps without megabytes of input.
type limits struct {
	lineBytes, names int
	fileBytes        int64
}

func parse(r io.Reader, path string, lim limits) (hosts []index.Host, stats Stats, err error) {
	limited := &io.LimitedReader{R: r, N: lim.fileBytes}
	// ReadSlice with a buffer of lim.lineBytes rather than bufio.Scanner: the
	// Scanner gives up on the first long line, we skip it and read on.
	br := bufio.NewReaderSize(limited, lim.lineBytes)
	p := parser{path: path, stats: &stats, maxNames: lim.names}
	lineno := 0
	for {
		line, rerr := br.ReadSlice('\n')
		if errors.Is(rerr, bufio.ErrBufferFull) {
			lineno++
			stats.skip(lineno)
			for errors.Is(rerr, bufio.ErrBufferFull) {
				_, rerr = br.ReadSlice('\n')
			}
		} else if len(line) > 0 {
			lineno++
			if lineno == 1 {
				line = bytes.TrimPrefix(line, utf8BOM)
			}
			if rerr == io.EOF && limited.N == 0 {
				// Cut off by MaxFileBytes mid-line: its last name may be a
				// fragment, so do not serve it.
				stats.skip(lineno)
			} else if h, ok := p.parseLine(line, lineno); ok {
				hosts = append(hosts, h)
			}
		}
		if rerr == io.EOF {
			stats.Truncated = stats.Truncated || limited.N == 0
			return hosts, stats, nil
		}
		if rerr != nil {
			return nil, stats, fmt.Errorf("read %s: %w", path, rerr)
		}
		if stats.Names >= lim.names {
			stats.Truncated = true
			return hosts, stats, nil
		}
	}
}

// parser holds scratch space reused from line to line, so a line costs a few
// allocations: its ID, its names and one slice for them.
type parser struct {
	path     string
	stats    *Stats
	maxNames int
	names    []string
	seen     map[string]bool // only for lines with many names, see addName
	buf      []byte
	addrs    []index.Addr // handed out one element at a time
}

// parseLine turns one line into a host; ok is false for blank, comment-only
// and invalid lines (the invalid ones are counted in stats).
func (p *parser) parseLine(line []byte, lineno int) (index.Host, bool) {
	stats := p.stats
	if i := bytes.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	field, rest := nextField(line)
	if field == nil {
		return index.Host{}, false
	}
	ip, ok := parseAddr(field)
	if !ok {
		stats.skip(lineno)
		return index.Host{}, false
	}
	names := p.names[:0]
	clear(p.seen)
	fields := 0
	for {
		field, rest = nextField(rest)
		if field == nil {
			break
		}
		fields++
		name, ok := p.normalizeName(field)
		if !ok {
			stats.skip(lineno)
			continue
		}
		if stats.Names+len(names) >= p.maxNames {
			stats.Truncated = true
			break
		}
		names = p.addName(names, name)
	}
	p.names = names
	if fields == 0 {
		stats.skip(lineno) // an address without names
	}
	if len(names) == 0 {
		return index.Host{}, false
	}
	stats.Hosts++
	stats.Names += len(names)
	// Names and ReverseNames share one allocation but not their capacity, so
	// appending to one can never write into the other.
	both := make([]string, 2*len(names))
	copy(both, names)
	copy(both[len(names):], names)
	if len(p.addrs) == 0 {
		p.addrs = make([]index.Addr, 64)
	}
	addrs := p.addrs[:1:1]
	p.addrs = p.addrs[1:]
	addrs[0].IP = ip
	p.buf = append(append(p.buf[:0], p.path...), ':')
	p.buf = strconv.AppendInt(p.buf, int64(lineno), 10)
	return index.Host{
		ID:           string(p.buf),
		Names:        both[:len(names):len(names)],
		ReverseNames: both[len(names):],
		Addrs:        addrs,
	}, true
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
	ip, err := netip.ParseAddr(string(b))
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// normalizeName returns b as a servable name (internal/dnsname's rule).
func (p *parser) normalizeName(b []byte) (string, bool) {
	var ok bool
	p.buf, ok = dnsname.AppendNormal(p.buf[:0], b)
	if !ok {
		return "", false
	}
	return string(p.buf), true
}

// addName appends name unless the line already has it: a repeated name would
// repeat its PTR answer. Lines have a few names, so a scan is cheapest; past
// a handful, a map keeps a pathological line (up to ~32k names) linear.
func (p *parser) addName(names []string, name string) []string {
	if len(names) < 16 {
		for _, n := range names {
			if n == name {
				return names
			}
		}
		return append(names, name)
	}
	if len(p.seen) == 0 {
		if p.seen == nil {
			p.seen = make(map[string]bool)
		}
		for _, n := range names {
			p.seen[n] = true
		}
	}
	if p.seen[name] {
		return names
	}
	p.seen[name] = true
	return append(names, name)
}
