// Package dnsname is the one rule for what a name from outside (a hosts-file
// field, a container name, a label) may be before dockerhosts serves it:
// lowercase letters, digits, '-' and '_' in labels of 1-63 bytes, at most 253
// bytes in all, no trailing dot. Every source normalises through it, so a
// name accepted by one source is accepted by all.
package dnsname

// MaxName and MaxLabel are the RFC 1035 limits in presentation form,
// without the trailing dot.
const (
	MaxName  = 253
	MaxLabel = 63
)

// Normalize returns s lowercased without one trailing dot, and whether the
// result is a name that can be served. It allocates only when s has
// uppercase letters or a trailing dot.
func Normalize(s string) (string, bool) {
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	upper, ok := check(s)
	if !ok {
		return "", false
	}
	if !upper {
		return s, true
	}
	return string(lower(make([]byte, 0, len(s)), s)), true
}

// AppendNormal appends the normalised form of b to dst, for parsers that
// reuse one buffer across lines; ok is false (and dst unchanged) when b is
// not a valid name.
func AppendNormal(dst, b []byte) (out []byte, ok bool) {
	if len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	if _, ok := check(b); !ok {
		return dst, false
	}
	return lower(dst, b), true
}

// Valid reports whether name is already normalised and servable.
func Valid(name string) bool {
	upper, ok := check(name)
	return ok && !upper
}

// ValidLabel reports whether label is one normalised, servable label.
func ValidLabel(label string) bool {
	if len(label) == 0 || len(label) > MaxLabel {
		return false
	}
	for i := 0; i < len(label); i++ {
		if !labelByte(label[i]) {
			return false
		}
	}
	return true
}

// check validates s (without trailing dot) and reports whether it has
// uppercase letters to fold.
func check[T string | []byte](s T) (upper, ok bool) {
	if len(s) == 0 || len(s) > MaxName {
		return false, false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false, false
			}
			label = 0
			continue
		case 'A' <= c && c <= 'Z':
			upper = true
		case !labelByte(c):
			return false, false
		}
		label++
		if label > MaxLabel {
			return false, false
		}
	}
	return upper, label > 0
}

func labelByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func lower[T string | []byte](dst []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
