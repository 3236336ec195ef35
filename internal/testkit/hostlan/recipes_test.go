//go:build linux

package hostlan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// TestEveryRecipeNamesTheResolverPlaceholder: the README and each recipe's
// header tell users to replace 192.0.2.53; a recipe without it would keep
// whatever address it has. The JSON one must stay valid JSON for dockerd.
func TestEveryRecipeNamesTheResolverPlaceholder(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(moduleRoot(), "recipes", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recipes: %v", err)
	}
	for _, path := range files {
		switch filepath.Base(path) {
		case "README.md", "networkmanager-dnsmasq.conf": // no address: it switches NetworkManager to dnsmasq
			continue
		case "docker-daemon.json":
			var daemon struct{ DNS []string }
			data, err := os.ReadFile(path)
			if err == nil {
				err = json.Unmarshal(data, &daemon)
			}
			if err != nil || !slices.Equal(daemon.DNS, []string{recipeAddr}) {
				t.Errorf("%s: dns %v, %v; want [%s]", path, daemon.DNS, err, recipeAddr)
			}
			continue
		}
		recipe(t, filepath.Base(path), resolverAddr)
	}
}

// TestCoreDNSForwardsTheZone is the LAN's own CoreDNS with the shipped
// forward recipe in its Corefile, as is.
func TestCoreDNSForwardsTheZone(t *testing.T) {
	lan, _ := webLAN(t)
	site := lan.Machine("site", siteAddr)
	corefile := filepath.Join(t.TempDir(), "Corefile")
	writeFile(t, corefile, recipe(t, "coredns-forward.Corefile", resolverAddr))
	p := site.Start(corednsBinary(t), "-conf", corefile)
	client := lan.Machine("client", clientAddr)

	await.True(t, 10*time.Second, "the site's CoreDNS forwards web.docker", func() bool {
		if exited, err := p.Exited(); exited {
			t.Fatalf("coredns exited: %v\n%s", err, p.Output())
		}
		m, err := query(client, "udp", siteAddr, "web.docker", dns.TypeA)
		return err == nil && slices.Equal(answerAddrs(m), []string{webAddr.String()})
	})
	if m, err := query(client, "udp", siteAddr, "nosuch.docker", dns.TypeA); err != nil || m.Rcode != dns.RcodeNameError || !hasSOA(m, "docker.") {
		t.Errorf("nosuch.docker through the site's CoreDNS: %v, %v; want NXDOMAIN with the SOA", m, err)
	}
	rev, _ := dns.ReverseAddr(webAddr.String())
	if m, err := query(client, "udp", siteAddr, rev, dns.TypePTR); err != nil || len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != "web.docker." {
		t.Errorf("PTR %s through the site's CoreDNS: %v, %v", rev, m, err)
	}
}
