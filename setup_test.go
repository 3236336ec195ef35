package dockerhosts

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"

	"github.com/dockerhosts/dockerhosts/internal/hostsfile"
)

func TestSetupParses(t *testing.T) {
	cases := []struct {
		input string
		check func(*config) bool
	}{
		{`dockerhosts`, func(c *config) bool {
			return len(c.engines) == 1 && c.engines[0].name == "host" && c.engines[0].endpoint == "" &&
				c.ttl == 5 && c.reload == 2*time.Second && c.resync == 5*time.Minute && c.zones[0] == "."
		}},
		{`dockerhosts docker. 17.172.in-addr.arpa {
			hostsfile /etc/hosts /tmp/more
			hostsfile /tmp/third
			ttl 30
			reload 0
			no_reverse
			fallthrough example.org
		}`, func(c *config) bool {
			return len(c.engines) == 0 && len(c.hostsFiles) == 3 && c.ttl == 30 && c.reload == 0 && c.noReverse &&
				c.fall && c.fallZones[0] == "example.org" && c.zones[0] == "docker." && c.zones[1] == "17.172.in-addr.arpa."
		}},
		{`dockerhosts docker {
			docker tcp://127.0.0.1:2376
			tls /c.pem /k.pem /ca.pem
			resync 1m
			opt_in
			networks front back
		}`, func(c *config) bool {
			e := c.engines[0]
			return len(c.engines) == 1 && e.endpoint == "tcp://127.0.0.1:2376" && e.tlsCA == "/ca.pem" && c.resync == time.Minute &&
				c.optIn && strings.Join(c.networks, ",") == "front,back"
		}},
		{`dockerhosts {
			fallthrough
		}`, func(c *config) bool { return c.fall && len(c.fallZones) == 0 && len(c.engines) == 1 }},
		{`dockerhosts {
			hostsfile /etc/hosts
			max_line_size 1M
			max_file_size 2G
		}`, func(c *config) bool {
			l := c.hostsFileLimits()
			return l.LineBytes == 1<<20 && l.FileBytes == 2<<30
		}},
		{`dockerhosts {
			hostsfile /etc/hosts
			max_file_size 1000
		}`, func(c *config) bool {
			l := c.hostsFileLimits()
			return l.LineBytes == hostsfile.MaxLineBytes && l.FileBytes == 1000
		}},
		{`dockerhosts {
			opt_in
			networks front
		}`, func(c *config) bool { return len(c.engines) == 1 && c.optIn && c.networks[0] == "front" }},
		// Several engines, each with its own TLS and host address; a
		// per-engine property applies to the docker line above it.
		{`dockerhosts docker {
			docker unix:///var/run/docker.sock local
			host_address 127.0.0.1
			docker tcp://10.0.0.7:2376 Edge
			tls /e/c.pem /e/k.pem /e/ca.pem
			host_address 10.0.0.7 fd00::7
		}`, func(c *config) bool {
			l, e := c.engines[0], c.engines[1]
			return len(c.engines) == 2 && l.name == "local" && l.tlsCA == "" && fmt.Sprint(l.hostAddrs) == "[127.0.0.1]" &&
				e.name == "edge" && e.endpoint == "tcp://10.0.0.7:2376" && e.tlsCert == "/e/c.pem" &&
				fmt.Sprint(e.hostAddrs) == "[10.0.0.7 fd00::7]"
		}},
		{`dockerhosts {
			label_prefix coredns.dockerdiscovery
			no_short_id
			name_template "{{.Service}}.{{.Project}}"
			name_template {{.Name}}.apps
			host_mode
			health off
		}`, func(c *config) bool {
			return len(c.engines) == 1 && c.labels == "coredns.dockerdiscovery" && c.noShortID && len(c.templates) == 2 && c.hostMode && c.noHealth
		}},
		{"dockerhosts {\n health on\n}", func(c *config) bool { return len(c.engines) == 1 && !c.noHealth }},
		{`dockerhosts {
			docker tcp://m1.lab:2376 swarm1
			swarm_managers tcp://m2.lab:2376 tcp://m3.lab:2376
			docker tcp://w1.lab:2376 w1
			no_swarm
		}`, func(c *config) bool {
			eps := swarmEndpoints(c.engines[0])
			return len(eps) == 3 && eps[0].Endpoint == "tcp://m1.lab:2376" && eps[2].Endpoint == "tcp://m3.lab:2376" &&
				!c.engines[0].noSwarm && c.engines[1].noSwarm && len(c.engines[1].managers) == 0
		}},
		// tls before the docker line it belongs to, as before several engines.
		{`dockerhosts {
			tls /c.pem /k.pem /ca.pem
			docker tcp://127.0.0.1:2376
		}`, func(c *config) bool {
			return len(c.engines) == 1 && c.engines[0].tlsCA == "/ca.pem" && c.engines[0].endpoint == "tcp://127.0.0.1:2376"
		}},
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
		{"dockerhosts {\n docker a b c\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n docker tcp://a:2375 a.b\n}", "Testfile:2 - Error during parsing: Docker engine name 'a.b' is not a DNS label"},
		{"dockerhosts {\n docker tcp://a:2375 a\n docker tcp://b:2375\n}", "Testfile:3 - Error during parsing: several Docker engines: give each one a NAME"},
		{"dockerhosts {\n docker tcp://a:2375 a\n docker tcp://b:2375 A\n}", "Testfile:3 - Error during parsing: Docker engine name 'a' given twice"},
		{"dockerhosts {\n docker tcp://a:2375 a\n docker tcp://a:2375 b\n}", "Testfile:3 - Error during parsing: Docker endpoint 'tcp://a:2375' given twice"},
		{"dockerhosts {\n docker tcp://a:2375 a\n tls a b c\n tls a b c\n}", "Testfile:4 - Error during parsing: property 'tls' given twice for one Docker engine"},
		{"dockerhosts {\n docker\n host_address\n}", "Testfile:3 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n docker\n host_address 0.0.0.0\n}", "Testfile:3 - Error during parsing: host_address '0.0.0.0' is not an IP address"},
		{"dockerhosts {\n docker\n host_address engine.lab\n}", "Testfile:3 - Error during parsing: host_address 'engine.lab' is not an IP address"},
		{"dockerhosts {\n label_prefix Bad..x\n}", "Testfile:2 - Error during parsing: label_prefix 'Bad..x' is not"},
		{"dockerhosts {\n name_template {{.Name\n}", "Testfile:2 - Error during parsing: name_template: template:"},
		{"dockerhosts {\n docker\n swarm_managers\n}", "Testfile:3 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n host_mode on\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n health\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n health maybe\n}", "Testfile:2 - Error during parsing: health 'maybe' is not on or off"},
		{"dockerhosts {\n hostsfile /etc/hosts\n health off\n}", "needs the 'docker' property"},
		{"dockerhosts {\n hostsfile /etc/hosts\n host_mode\n}", "needs the 'docker' property"},
		{"dockerhosts {\n docker\n resync 1m\n resync 2m\n}", "Testfile:4 - Error during parsing: property 'resync' given twice"},
		{"dockerhosts {\n docker\n tls a b\n}", "Testfile:3 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n docker\n resync never\n}", "Testfile:3 - Error during parsing: 'never' is not a duration"},
		{"dockerhosts {\n docker\n opt_in yes\n}", "Testfile:3 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n docker\n networks\n}", "Testfile:3 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n hostsfile /etc/hosts\n opt_in\n}", "needs the 'docker' property"},
		{"dockerhosts\ndockerhosts", "this plugin"},
		{"dockerhosts {\n max_file_size\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n max_file_size 0\n}", "Testfile:2 - Error during parsing: max_file_size must be a size"},
		{"dockerhosts {\n max_file_size 10T\n}", "Testfile:2 - Error during parsing: max_file_size must be a size"},
		{"dockerhosts {\n max_line_size 17M\n}", "Testfile:2 - Error during parsing: max_line_size must be a size"},
		{"dockerhosts {\n max_line_size 1K\n max_line_size 2K\n}", "Testfile:3 - Error during parsing: property 'max_line_size' given twice"},
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
