package dnsname

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"appsrv1", "appsrv1", true},
		{"AppSrv1.", "appsrv1", true},
		{"shop_web_1", "shop_web_1", true},
		{"web.shop", "web.shop", true},
		{"", "", false},
		{".", "", false},
		{"a..b", "", false},
		{".a", "", false},
		{"a.b..", "", false},
		{"bad name", "", false},
		{"ü", "", false},
		{"a*", "", false},
		{strings.Repeat("a", 63), strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), "", false},
		{strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 126) + "a", true}, // 253 bytes
		{strings.Repeat("a.", 127), strings.Repeat("a.", 126) + "a", true},       // 254 bytes with the trailing dot
		{strings.Repeat("a.", 127) + "a", "", false},                             // 255 bytes
	} {
		got, ok := Normalize(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		b, bok := AppendNormal([]byte("x"), []byte(tc.in))
		if bok != tc.ok || (bok && string(b) != "x"+tc.want) || (!bok && string(b) != "x") {
			t.Errorf("AppendNormal(%q) = %q, %v", tc.in, b, bok)
		}
	}
}

func TestValid(t *testing.T) {
	for name, want := range map[string]bool{
		"web": true, "Web": false, "web.": false, "": false, "a-b_c.d": true,
		strings.Repeat("x", 254): false,
	} {
		if got := Valid(name); got != want {
			t.Errorf("Valid(%q) = %v, want %v", name, got, want)
		}
	}
	for label, want := range map[string]bool{"http": true, "a.b": false, "": false, "A": false} {
		if got := ValidLabel(label); got != want {
			t.Errorf("ValidLabel(%q) = %v, want %v", label, got, want)
		}
	}
}

// FuzzNormalize checks that whatever goes in, what comes out is valid and a
// fixed point, and that the string and byte forms agree.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"appsrv1", "A.B.", "a..b", strings.Repeat("a", 64), "x_y-z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := Normalize(s)
		b, bok := AppendNormal(nil, []byte(s))
		if ok != bok || (ok && n != string(b)) {
			t.Fatalf("Normalize(%q) = %q, %v but AppendNormal = %q, %v", s, n, ok, b, bok)
		}
		if !ok {
			return
		}
		if !Valid(n) {
			t.Fatalf("Normalize(%q) = %q, which is not Valid", s, n)
		}
		if n2, ok2 := Normalize(n); !ok2 || n2 != n {
			t.Fatalf("Normalize is not idempotent on %q: %q, %v", n, n2, ok2)
		}
		for _, l := range strings.Split(n, ".") {
			if !ValidLabel(l) {
				t.Fatalf("label %q of %q is not valid", l, n)
			}
		}
	})
}
