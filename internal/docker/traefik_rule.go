package docker

import (
	"fmt"
	"strconv"
	"strings"
)

// ruleHosts returns the hostnames a Traefik router rule routes by name:
// the arguments of its Host and HostSNI matchers (Traefik v2 and v3
// grammar: matchers joined by && and ||, negated by !, grouped by
// parentheses; strings in backquotes or double quotes). The catch-all
// HostSNI(`*`), names under a negation, and every other matcher
// (HostRegexp, PathPrefix, Header...) give none. A rule that does not parse
// gives an error. The names are as written: the caller validates them.
func ruleHosts(rule string) ([]string, error) {
	p := ruleParser{src: rule}
	p.next()
	if err := p.expr(false, 0); err != nil {
		return nil, err
	}
	if p.err == nil && p.tok.kind != tokEnd {
		p.fail("unexpected %s", p.tok)
	}
	if p.err != nil {
		return nil, p.err
	}
	return p.hosts, nil
}

// maxRuleDepth bounds nesting, so that a label of a million parentheses
// costs no more stack than a sensible rule.
const maxRuleDepth = 32

type tokKind int

const (
	tokEnd tokKind = iota
	tokIdent
	tokString
	tokAnd
	tokOr
	tokNot
	tokOpen
	tokClose
	tokComma
)

type token struct {
	kind tokKind
	text string // an identifier, or a string's value
}

func (t token) String() string {
	switch t.kind {
	case tokEnd:
		return "end of rule"
	case tokIdent:
		return fmt.Sprintf("%q", t.text)
	case tokString:
		return fmt.Sprintf("string %q", t.text)
	}
	return fmt.Sprintf("%q", [...]string{tokAnd: "&&", tokOr: "||", tokNot: "!", tokOpen: "(", tokClose: ")", tokComma: ","}[t.kind])
}

type ruleParser struct {
	src   string
	pos   int
	tok   token
	hosts []string
	err   error // the first error; once set, the token is tokEnd
}

func (p *ruleParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
	p.tok = token{kind: tokEnd}
}

// next reads the next token into p.tok.
func (p *ruleParser) next() {
	if p.err != nil {
		return
	}
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
	if p.pos == len(p.src) {
		p.tok = token{kind: tokEnd}
		return
	}
	rest := p.src[p.pos:]
	switch c := rest[0]; {
	case strings.HasPrefix(rest, "&&"):
		p.tok, p.pos = token{kind: tokAnd}, p.pos+2
	case strings.HasPrefix(rest, "||"):
		p.tok, p.pos = token{kind: tokOr}, p.pos+2
	case c == '!':
		p.tok, p.pos = token{kind: tokNot}, p.pos+1
	case c == '(':
		p.tok, p.pos = token{kind: tokOpen}, p.pos+1
	case c == ')':
		p.tok, p.pos = token{kind: tokClose}, p.pos+1
	case c == ',':
		p.tok, p.pos = token{kind: tokComma}, p.pos+1
	case c == '`':
		end := strings.IndexByte(rest[1:], '`')
		if end < 0 {
			p.fail("unclosed backquote")
			return
		}
		p.tok, p.pos = token{kind: tokString, text: rest[1 : 1+end]}, p.pos+end+2
	case c == '"':
		quoted, err := strconv.QuotedPrefix(rest)
		if err != nil {
			p.fail("unclosed or malformed double-quoted string")
			return
		}
		s, _ := strconv.Unquote(quoted)
		p.tok, p.pos = token{kind: tokString, text: s}, p.pos+len(quoted)
	case isIdentByte(c):
		n := 1
		for n < len(rest) && isIdentByte(rest[n]) {
			n++
		}
		p.tok, p.pos = token{kind: tokIdent, text: rest[:n]}, p.pos+n
	default:
		p.fail("unexpected %q at byte %d", c, p.pos)
	}
}

func isIdentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// expr parses matchers joined by || and &&; negated says an odd number of
// ! apply, so its hosts are not routed by name.
func (p *ruleParser) expr(negated bool, depth int) error {
	for {
		p.unary(negated, depth)
		if p.tok.kind != tokAnd && p.tok.kind != tokOr {
			return p.err
		}
		p.next()
	}
}

func (p *ruleParser) unary(negated bool, depth int) {
	if depth > maxRuleDepth {
		p.fail("nested deeper than %d", maxRuleDepth)
		return
	}
	switch p.tok.kind {
	case tokNot:
		p.next()
		p.unary(!negated, depth+1)
	case tokOpen:
		p.next()
		p.expr(negated, depth+1)
		p.expect(tokClose)
	case tokIdent:
		p.matcher(negated)
	default:
		p.fail("unexpected %s", p.tok)
	}
}

func (p *ruleParser) expect(k tokKind) {
	if p.tok.kind != k {
		p.fail("unexpected %s, want %s", p.tok, token{kind: k})
		return
	}
	p.next()
}

// matcher parses NAME(`arg`, ...) and keeps the hosts of Host and HostSNI.
func (p *ruleParser) matcher(negated bool) {
	name := p.tok.text
	p.next()
	p.expect(tokOpen)
	var args []string
	for p.err == nil && p.tok.kind != tokClose {
		if len(args) > 0 {
			p.expect(tokComma)
		}
		if p.tok.kind != tokString {
			p.fail("%s: unexpected %s, want a string", name, p.tok)
			return
		}
		args = append(args, p.tok.text)
		p.next()
	}
	p.expect(tokClose)
	if p.err != nil {
		return
	}
	byName := strings.EqualFold(name, "Host") || strings.EqualFold(name, "HostSNI")
	if byName && len(args) == 0 {
		p.fail("%s() names no host", name)
		return
	}
	if !byName || negated {
		return
	}
	for _, a := range args {
		if strings.EqualFold(name, "HostSNI") && a == "*" {
			continue // the catch-all: no name of its own
		}
		p.hosts = append(p.hosts, a)
	}
}
