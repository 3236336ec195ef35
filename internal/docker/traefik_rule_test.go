package docker

import (
	"slices"
	"strings"
	"testing"
)

func TestRuleHosts(t *testing.T) {
	for _, c := range []struct {
		rule string
		want []string
		bad  bool
	}{
		{rule: "Host(`app.example.lan`)", want: []string{"app.example.lan"}},
		{rule: "Host(`a.lan`) || Host(`b.lan`)", want: []string{"a.lan", "b.lan"}},
		{rule: "Host(`a.lan`, `b.lan`)", want: []string{"a.lan", "b.lan"}}, // v2
		{rule: `Host("a.lan") && PathPrefix("/api")`, want: []string{"a.lan"}},
		{rule: "(Host(`a.lan`) || Host(`b.lan`)) && !Path(`/admin`)", want: []string{"a.lan", "b.lan"}},
		{rule: "HostRegexp(`{sub:[a-z]+}.lan`) || PathPrefix(`/`)", want: nil},
		{rule: "HostSNI(`*`)", want: nil},
		{rule: "HostSNI(`db.lan`)", want: []string{"db.lan"}},
		{rule: "!Host(`a.lan`) || !!Host(`b.lan`)", want: []string{"b.lan"}},
		{rule: " host(`A.lan`) ", want: []string{"A.lan"}},
		{rule: `Host("a\"b")`, want: []string{`a"b`}},
		{rule: "", bad: true},
		{rule: "Host(`a.lan`", bad: true},
		{rule: "Host(`a.lan)", bad: true},
		{rule: "Host()", bad: true},
		{rule: "Host(a.lan)", bad: true},
		{rule: "Host(`a`) Host(`b`)", bad: true},
		{rule: "Host(`a`) &&", bad: true},
		{rule: "Host(`a`) & Path(`/`)", bad: true},
		{rule: strings.Repeat("(", 100) + "Host(`a`)" + strings.Repeat(")", 100), bad: true},
	} {
		got, err := ruleHosts(c.rule)
		if (err != nil) != c.bad || !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, %v; want %q (malformed: %v)", c.rule, got, err, c.want, c.bad)
		}
	}
}

// FuzzRuleHosts: any rule (anyone who runs a container writes one) parses
// or fails without panic, and every host it gives appeared in the rule.
func FuzzRuleHosts(f *testing.F) {
	f.Add("Host(`a.lan`) || Host(`b.lan`)")
	f.Add(`(Host("a") && !PathPrefix("/x")) || HostSNI(` + "`*`)")
	f.Add("Host(`a`,`b`")
	f.Add(`Host("\u00e9\"")`)
	f.Fuzz(func(t *testing.T, rule string) {
		hosts, err := ruleHosts(rule)
		if err != nil && hosts != nil {
			t.Fatalf("%q: hosts %q with error %v", rule, hosts, err)
		}
		for _, h := range hosts {
			if h == "*" && !strings.Contains(strings.ToLower(rule), "host(") {
				t.Fatalf("%q: catch-all given as a host", rule)
			}
			if !strings.Contains(rule, h) && !strings.Contains(rule, `"`) {
				t.Fatalf("%q: host %q is not in the rule", rule, h)
			}
		}
	})
}
