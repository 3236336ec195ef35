package plugincfg

import (
	"strings"
	"testing"
)

func TestParseResolvesShortAndFullPackages(t *testing.T) {
	cfg := `# comment
metadata:metadata

prometheus:metrics
on:github.com/coredns/caddy/onevent
  dockerhosts:github.com/dockerhosts/dockerhosts  
`
	got, err := Parse(strings.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	want := []Plugin{
		{"metadata", "github.com/coredns/coredns/plugin/metadata"},
		{"prometheus", "github.com/coredns/coredns/plugin/metrics"},
		{"on", "github.com/coredns/caddy/onevent"},
		{"dockerhosts", "github.com/dockerhosts/dockerhosts"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d plugins %v, want %v", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("plugin %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestParseRejectsMalformedLists(t *testing.T) {
	tests := []struct {
		name, cfg, err string
	}{
		{"no colon", "hosts\n", "line 1"},
		{"empty name", ":hosts\n", "line 1"},
		{"empty package", "hosts:\n", "line 1"},
		{"two colons", "a:b:c\n", "line 1"},
		{"duplicate", "hosts:hosts\n# x\nhosts:hosts\n", "line 3: plugin \"hosts\" already listed on line 1"},
		{"empty", "# nothing\n\n", "no plugins"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestGenerateKeepsOrderAndImportsEachPackageOnce(t *testing.T) {
	plugins := []Plugin{
		{"whoami", "github.com/coredns/coredns/plugin/whoami"},
		{"dockerhosts", "github.com/dockerhosts/dockerhosts"},
		{"hosts", "github.com/coredns/coredns/plugin/hosts"},
		{"alias", "github.com/coredns/coredns/plugin/hosts"},
	}
	src, err := Generate("main", plugins)
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	if !strings.HasPrefix(s, Header+"\n") {
		t.Errorf("generated file does not start with %q", Header)
	}
	if n := strings.Count(s, `_ "github.com/coredns/coredns/plugin/hosts"`); n != 1 {
		t.Errorf("hosts imported %d times, want 1", n)
	}
	order := []string{`"whoami",`, `"dockerhosts",`, `"hosts",`, `"alias",`}
	last := -1
	for _, d := range order {
		i := strings.Index(s, d)
		if i <= last {
			t.Fatalf("directive %s out of order in\n%s", d, s)
		}
		last = i
	}
}
