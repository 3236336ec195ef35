package docker

import (
	"errors"
	"strings"
)

// maxCharString is the most one TXT character-string holds (RFC 1035 3.3).
const maxCharString = 255

// parseTXT turns a txt label value into the character-strings of one TXT
// record, each at most 255 bytes and escaped as miekg/dns packs them. A value
// that starts with a quote is master-file syntax, one or more quoted strings
// with \X and \DDD escapes ("a b" "c" is two strings); any other value is
// one string, as written. Longer strings are split at 255 bytes.
func parseTXT(value string) ([]string, error) {
	var raw []string
	if v := strings.TrimSpace(value); strings.HasPrefix(v, `"`) {
		var err error
		if raw, err = quotedStrings(v); err != nil {
			return nil, err
		}
	} else {
		raw = []string{value}
	}
	var out []string
	for _, s := range raw {
		for len(s) > maxCharString {
			out = append(out, escapeTXT(s[:maxCharString]))
			s = s[maxCharString:]
		}
		out = append(out, escapeTXT(s))
	}
	return out, nil
}

// quotedStrings reads "..." "..." with master-file escapes (RFC 1035 5.1).
func quotedStrings(v string) ([]string, error) {
	var out []string
	for v = strings.TrimSpace(v); v != ""; v = strings.TrimSpace(v) {
		if v[0] != '"' {
			return nil, errors.New("text between quoted strings")
		}
		var b strings.Builder
		i, closed := 1, false
		for i < len(v) && !closed {
			switch c := v[i]; {
			case c == '"':
				closed = true
				i++
			case c == '\\' && i+3 < len(v) && isDigit(v[i+1]) && isDigit(v[i+2]) && isDigit(v[i+3]):
				n := int(v[i+1]-'0')*100 + int(v[i+2]-'0')*10 + int(v[i+3]-'0')
				if n > 255 {
					return nil, errors.New(`escape \` + v[i+1:i+4] + " is over 255")
				}
				b.WriteByte(byte(n))
				i += 4
			case c == '\\' && i+1 < len(v):
				b.WriteByte(v[i+1])
				i += 2
			case c == '\\':
				return nil, errors.New("a backslash ends the value")
			default:
				b.WriteByte(c)
				i++
			}
		}
		if !closed {
			return nil, errors.New("unbalanced quote")
		}
		out = append(out, b.String())
		v = v[i:]
		if v != "" && v[0] != ' ' && v[0] != '\t' {
			return nil, errors.New("no space after a quoted string")
		}
	}
	return out, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// escapeTXT writes raw bytes as miekg/dns reads a TXT string when it packs
// one: backslash and quote escaped, every other byte as it is.
func escapeTXT(s string) string {
	if !strings.ContainsAny(s, `\"`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
