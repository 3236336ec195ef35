package docker

import (
	"slices"
	"strings"
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
)

// FuzzRecordFor feeds arbitrary container names, hostnames, aliases and
// labels (anyone who can run a container chooses them) through the mapping
// to DNS names: no panic, and nothing served that is not a valid lowercase
// DNS name or a well-formed SRV service.
func FuzzRecordFor(f *testing.F) {
	f.Add("web", "api", "alias", "db,Primary", "http:8080/tcp,dns:53/udp", "shop", "front", "true", "Host(`a.lan`)", "traefik:v3")
	f.Add("x", "", "", ",,", ":0/", "", "", "false", "Host(`a`", "")
	f.Add(strings.Repeat("a", 70), "h.", "a..b", "_x", "http:99999/tcp", "p", "s", "", "HostSNI(`*`) || Host(`B..lan`)", "r:5000/traefik@x")
	f.Fuzz(func(t *testing.T, name, hostname, alias, extra, srv, project, service, enable, rule, image string) {
		c := ctr{id: "0123456789abcdef0123", name: name, hostname: hostname, image: image,
			labels: map[string]string{
				keyName: extra, keySRV: srv, keyEnable: enable, DefaultLabelPrefix + "." + labelHealth: enable,
				labelComposeProject: project, labelComposeService: service,
				"traefik.http.routers.r.rule": rule,
			},
			nets: map[string]ep{"net": {ip: "10.0.0.2", aliases: []string{alias}}}}
		c.health = "starting" // not ready: service names are withheld
		for _, optIn := range []bool{false, true} {
			r, ok := recordFor(c.build(), mapping{optIn: optIn, zones: []string{"lan.", "."}, health: optIn})
			for _, n := range r.routes {
				if !dnsname.Valid(n) {
					t.Fatalf("served an invalid router name %q from %q", n, rule)
				}
			}
			if !ok {
				continue
			}
			for _, n := range slices.Concat(r.host.Names, r.host.Withheld) {
				if n != strings.ToLower(n) || !dnsname.Valid(n) {
					t.Fatalf("served an invalid name %q", n)
				}
			}
			for _, s := range r.host.Services {
				if s.Port == 0 || (s.Proto != "tcp" && s.Proto != "udp") || !dnsname.ValidLabel(s.Name) {
					t.Fatalf("served a malformed SRV service %+v from %q", s, srv)
				}
			}
		}
	})
}
