package dockerhosts

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

func TestSetupParses(t *testing.T) {
	cases := []struct {
		input string
		check func(*config) bool
	}{
		{`dockerhosts`, func(c *config) bool {
			return c.docker != nil && c.ttl == 5 && c.reload == 2*time.Second && c.docker.resync == 5*time.Minute && c.zones[0] == "."
		}},
		{`dockerhosts docker. 17.172.in-addr.arpa {
			hostsfile /etc/hosts /tmp/more
			hostsfile /tmp/third
			ttl 30
			reload 0
			no_reverse
			fallthrough example.org
		}`, func(c *config) bool {
			return c.docker == nil && len(c.hostsFiles) == 3 && c.ttl == 30 && c.reload == 0 && c.noReverse &&
				c.fall && c.fallZones[0] == "example.org" && c.zones[0] == "docker." && c.zones[1] == "17.172.in-addr.arpa."
		}},
		{`dockerhosts docker {
			docker tcp://127.0.0.1:2376
			tls /c.pem /k.pem /ca.pem
			resync 1m
			opt_in
			networks front back
		}`, func(c *config) bool {
			return c.docker.endpoint == "tcp://127.0.0.1:2376" && c.docker.tlsCA == "/ca.pem" && c.docker.resync == time.Minute &&
				c.docker.optIn && strings.Join(c.networks, ",") == "front,back"
		}},
		{`dockerhosts {
			fallthrough
		}`, func(c *config) bool { return c.fall && len(c.fallZones) == 0 && c.docker != nil }},
		{`dockerhosts {
			opt_in
			networks front
		}`, func(c *config) bool { return c.docker != nil && c.docker.optIn && c.networks[0] == "front" }},
	}
	for _, tc := range cases {
		c := caddy.NewTestController("dns", tc.input)
		cfg, err := parse(c)
		if err != nil {
			t.Errorf("%q: unexpected error %v", tc.input, err)
			continue
		}
		if !tc.check(cfg) {
			t.Errorf("%q: parsed to %+v", tc.input, cfg)
		}
	}
}

func TestSetupRejectsMisconfiguration(t *testing.T) {
	cases := []struct{ input, want string }{
		{"dockerhosts {\n bogus\n}", "Testfile:2 - Error during parsing: unknown property 'bogus'"},
		{"dockerhosts {\n hostsfile\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n ttl\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n ttl 5 6\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n ttl -1\n}", "Testfile:2 - Error during parsing: ttl must be"},
		{"dockerhosts {\n ttl five\n}", "Testfile:2 - Error during parsing: ttl must be"},
		{"dockerhosts {\n ttl 86401\n}", "Testfile:2 - Error during parsing: ttl must be"},
		{"dockerhosts {\n ttl 5\n ttl 6\n}", "Testfile:3 - Error during parsing: property 'ttl' given twice"},
		{"dockerhosts {\n reload soon\n}", "Testfile:2 - Error during parsing: 'soon' is not a duration"},
		{"dockerhosts {\n reload -2s\n}", "Testfile:2 - Error during parsing: '-2s' is not a duration"},
		{"dockerhosts {\n reload\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n no_reverse yes\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n docker a b\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n docker\n tls a b\n}", "Testfile:3 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n docker\n resync never\n}", "Testfile:3 - Error during parsing: 'never' is not a duration"},
		{"dockerhosts {\n docker\n opt_in yes\n}", "Testfile:3 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n docker\n networks\n}", "Testfile:3 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n hostsfile /etc/hosts\n opt_in\n}", "needs the 'docker' property"},
		{"dockerhosts\ndockerhosts", "this plugin"},
	}
	for _, tc := range cases {
		c := caddy.NewTestController("dns", tc.input)
		err := setup(c)
		if err == nil {
			t.Errorf("%q: expected an error containing %q", tc.input, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %q does not contain %q", tc.input, err, tc.want)
		}
		if !strings.Contains(err.Error(), "plugin/dockerhosts") {
			t.Errorf("%q: error %q does not name the plugin", tc.input, err)
		}
	}
}
