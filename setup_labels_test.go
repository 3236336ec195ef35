package dockerhosts

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"
)

func TestSetupTraefikProperties(t *testing.T) {
	c := caddy.NewTestController("dns", "dockerhosts docker. lan. {\n docker\n traefik_proxy /edge-1\n traefik_opt_in\n}")
	cfg, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.traefikProxy != "edge-1" || !cfg.traefikOptIn {
		t.Errorf("parsed to proxy %q, opt-in %v", cfg.traefikProxy, cfg.traefikOptIn)
	}
	for _, tc := range []struct{ input, want string }{
		{"dockerhosts {\n traefik_proxy\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n traefik_proxy a b\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n traefik_proxy bad/name\n}", "Testfile:2 - Error during parsing: traefik_proxy 'bad/name' is not a container name"},
		{"dockerhosts {\n traefik_opt_in yes\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"dockerhosts {\n traefik_opt_in\n traefik_opt_in\n}", "Testfile:3 - Error during parsing: property 'traefik_opt_in' given twice"},
		{"dockerhosts {\n hostsfile /etc/hosts\n traefik_proxy edge\n}", "needs the 'docker' property"},
	} {
		err := setup(caddy.NewTestController("dns", tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.input, err, tc.want)
		}
	}
}
