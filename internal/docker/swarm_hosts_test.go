package docker

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/metricstest"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

var testNetworks = map[string]swarmNetwork{
	"net-appnet":  {name: "appnet"},
	"net-ingress": {name: "ingress", ingress: true},
}

func TestServiceFromNamesAndAddresses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spec      svcSpec
		names     []string
		taskNames []string
		aliases   []string // the first alias group's names
		vips      []string
		skipped   []string
	}{
		{
			name:  "plain vip service: the VIP of its network, not ingress's",
			spec:  webService(),
			names: []string{"web"}, taskNames: []string{"tasks.web"}, vips: []string{"10.0.1.2"},
		},
		{
			name:  "dnsrr: no VIP",
			spec:  svcSpec{id: "s", name: "Web", dnsrr: true},
			names: []string{"web"}, taskNames: []string{"tasks.web"},
		},
		{
			name: "stack service: short name like service.project, and its alias on its network",
			spec: svcSpec{id: "s", name: "shop_api", networks: []string{"net-appnet"}, aliases: []string{"api"},
				labels: map[string]string{labelStackNamespace: "shop"}},
			names:     []string{"shop_api", "api.shop"},
			taskNames: []string{"tasks.shop_api", "tasks.api.shop"},
			aliases:   []string{"api"},
		},
		{
			name:  "stack label without the stack's prefix: no short name",
			spec:  svcSpec{id: "s", name: "api", labels: map[string]string{labelStackNamespace: "shop"}},
			names: []string{"api"}, taskNames: []string{"tasks.api"},
		},
		{
			name:  "VIP on a network not (yet) known is not served",
			spec:  svcSpec{id: "s", name: "web", vips: map[string]string{"net-new": "10.9.0.2/24"}},
			names: []string{"web"}, taskNames: []string{"tasks.web"},
		},
		{
			name:  "invalid names skipped, valid ones kept",
			spec:  svcSpec{id: "s", name: "web", networks: []string{"net-appnet"}, aliases: []string{"bad alias", "web", "ok"}},
			names: []string{"web"}, taskNames: []string{"tasks.web"}, aliases: []string{"ok"}, skipped: []string{"bad alias"},
		},
		{
			name: "label names answer everywhere, with their tasks. names",
			spec: svcSpec{id: "s", name: "web", networks: []string{"net-appnet"}, aliases: []string{"front"},
				labels: map[string]string{"dockerhosts.name": "www, bad name"}},
			names: []string{"web", "www"}, taskNames: []string{"tasks.web", "tasks.www"}, aliases: []string{"front"},
			skipped: []string{"bad name"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec.build()
			v, skipped := serviceFrom(spec, parseLabels(spec.Spec.Labels, DefaultLabelPrefix), testNetworks, "")
			var aliases []string
			if len(v.aliases) > 0 {
				aliases = v.aliases[0].names
			}
			if !slices.Equal(v.names, tc.names) || !slices.Equal(v.taskNames, tc.taskNames) || !slices.Equal(aliases, tc.aliases) ||
				!slices.Equal(skipped, tc.skipped) {
				t.Errorf("names %v, tasks %v, aliases %v, skipped %v; want %v, %v, %v, %v",
					v.names, v.taskNames, aliases, skipped, tc.names, tc.taskNames, tc.aliases, tc.skipped)
			}
			var vips []string
			for _, a := range v.vips {
				vips = append(vips, a.IP.String())
			}
			if !slices.Equal(vips, tc.vips) {
				t.Errorf("VIPs %v, want %v", vips, tc.vips)
			}
		})
	}
}

func TestServiceFromPublishedPorts(t *testing.T) {
	host := swarm.PortConfig{Protocol: network.TCP, TargetPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}
	spec := webService()
	spec.ports = []swarm.PortConfig{ingressPort, ingressPort, host, {Protocol: network.UDP, TargetPort: 53}}
	v, _ := serviceFrom(spec.build(), containerLabels{}, testNetworks, "")
	if want := []swarm.PortConfig{ingressPort}; !slices.Equal(v.ingress, want) {
		t.Errorf("ingress ports %v, want %v (host-mode and unpublished ports are not routed by every node)", v.ingress, want)
	}
}

func TestTaskFrom(t *testing.T) {
	svc := swarmService{name: "web"}
	for _, tc := range []struct {
		name          string
		spec          taskSpec
		containerName string
		addrs         []string
		hostPorts     []uint32
	}{
		{
			name:          "replicated: slot in the container name, ingress address left out",
			spec:          webTask("t1", 3, "n1", "10.0.1.5"),
			containerName: "web.3.t1", addrs: []string{"10.0.1.5"},
		},
		{
			name:          "global: the node in the container name",
			spec:          taskSpec{id: "t2", service: "s", node: "nodeid", addrs: map[string]string{"appnet": "10.0.1.6/24"}},
			containerName: "web.nodeid.t2", addrs: []string{"10.0.1.6"},
		},
		{
			name:          "a host port listed twice by Docker (IPv4, IPv6) counts once",
			spec:          taskSpec{id: "t3", service: "s", slot: 1, hostPorts: []uint32{30001}},
			containerName: "web.1.t3", hostPorts: []uint32{30001},
		},
		{
			name:          "IPv4 and IPv6 host ports that drifted apart: the IPv4 one, listed first",
			spec:          taskSpec{id: "t4", service: "s", slot: 1, hostPorts: []uint32{32865}, hostPortsV6: []uint32{32861}},
			containerName: "web.1.t4", hostPorts: []uint32{32865},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := taskFrom(tc.spec.build(), svc, "")
			var addrs []string
			for _, a := range v.addrs {
				addrs = append(addrs, a.IP.String())
			}
			var ports []uint32
			for _, p := range v.hostPorts {
				ports = append(ports, p.PublishedPort)
			}
			if v.containerName != tc.containerName || !slices.Equal(addrs, tc.addrs) || !slices.Equal(ports, tc.hostPorts) {
				t.Errorf("got %q %v %v, want %q %v %v", v.containerName, addrs, ports, tc.containerName, tc.addrs, tc.hostPorts)
			}
		})
	}
}

// FuzzSwarmNames: whatever a service is called, labelled (through the one
// label parser, parseLabels) and aliased, every name the source serves for
// it and its tasks is a valid DNS name, and every record a well-formed one.
func FuzzSwarmNames(f *testing.F) {
	f.Add("shop_web", "shop", "web", "t1", "www,api", "http:8080/tcp")
	f.Add("Web", "", "Front.End", "abc", "", "")
	f.Add("a_", "a", "", "x", "bad name,", ":0/")
	f.Add("x", "y", "bad alias", "..", "..", "dns:53/udp,http:99999/tcp")
	f.Fuzz(func(t *testing.T, name, stack, alias, taskID, label, srv string) {
		labels := map[string]string{labelStackNamespace: stack, keyName: label, keySRV: srv,
			DefaultLabelPrefix + "." + labelCNAME: label, DefaultLabelPrefix + "." + labelTXT + "." + label: srv}
		spec := svcSpec{id: "s", name: name, aliases: []string{alias}, networks: []string{"net-appnet"},
			labels: labels, vips: map[string]string{"net-appnet": "10.0.1.2/24"}}
		svc, _ := serviceFrom(spec.build(), parseLabels(labels, DefaultLabelPrefix), testNetworks, "")
		task := taskFrom(taskSpec{id: taskID, service: "s", slot: 1, addrs: map[string]string{"appnet": "10.0.1.5/24"}}.build(), svc, "")
		own := taskHost(taskID, task, svc)
		hosts := append([]index.Host{own, serviceHost("s", svc, nil, nil, nil)}, taskAliasHosts(task, svc, own)...)
		hosts = append(hosts, serviceAliasHosts(svc, hosts[1])...)
		for _, h := range hosts {
			for _, n := range h.Names {
				if !dnsname.Valid(n) {
					t.Fatalf("invalid name %q served (service %q, stack %q, alias %q, task %q, label %q)", n, name, stack, alias, taskID, label)
				}
			}
			if c := strings.TrimSuffix(h.CNAME, "."); h.CNAME != "" && !dnsname.Valid(c) {
				t.Fatalf("invalid CNAME %q from %q", h.CNAME, label)
			}
			for _, s := range h.Services {
				if s.Port == 0 || s.Proto != "tcp" && s.Proto != "udp" || !dnsname.ValidLabel(s.Name) || s.Target != "" && !dnsname.Valid(s.Target) {
					t.Fatalf("malformed SRV %+v from %q", s, srv)
				}
			}
			for _, r := range h.TXT {
				if r.Key != "" && !dnsname.ValidLabel(r.Key) {
					t.Fatalf("TXT key %q from %q", r.Key, label)
				}
			}
		}
	})
}

func TestServiceHostSkipsUnusableTargets(t *testing.T) {
	nodes := map[string]swarmNode{
		"n1": {hostname: "node1", addr: netip.MustParseAddr("192.0.2.11"), offersPorts: true},
		"n2": {hostname: "", addr: netip.MustParseAddr("192.0.2.12"), offersPorts: true}, // invalid hostname
		"n3": {hostname: "node3", offersPorts: false},
	}
	svc := swarmService{names: []string{"web"}, ingress: []swarm.PortConfig{ingressPort,
		{Protocol: "sctp", TargetPort: 9, PublishedPort: 9}}}
	h := serviceHost("s", svc, nil, nodes, []string{"n1", "n2", "n3"})
	if len(h.Services) != 1 || h.Services[0].Target != "node1" {
		t.Errorf("SRV %+v, want one record at node1 (no name, no ports, no SRV for sctp)", h.Services)
	}
}

func TestSwarmMetricNamesPassPromlint(t *testing.T) {
	newSwarmMetrics("lint").resync("startup")
	newSwarmMetrics("lint").event("service")
	metricstest.Lint(t, swarmServices, swarmTasks, swarmNodes, swarmUp, swarmPollsTotal, swarmResyncsTotal, swarmEventsTotal, swarmTaskLag, swarmSkippedNamesTotal)
}

// TestServicePublishedOnItsNodes: a client outside the swarm's engine is
// told the nodes that offer a service's ingress ports, or run its tasks
// with host-mode ports; a service without published ports, its VIPs.
func TestServicePublishedOnItsNodes(t *testing.T) {
	nodes := map[string]swarmNode{
		"n1": {hostname: "node1", addr: netip.MustParseAddr("192.0.2.11"), offersPorts: true},
		"n2": {hostname: "node2", addr: netip.MustParseAddr("192.0.2.12"), offersPorts: true},
		"n3": {hostname: "node3", addr: netip.MustParseAddr("192.0.2.13"), offersPorts: false}, // drained
	}
	order := []string{"n1", "n2", "n3"}
	addrs := func(s ...string) (out []netip.Addr) {
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	ingress := swarmService{names: []string{"web"}, ingress: []swarm.PortConfig{ingressPort}}
	if h := serviceHost("s", ingress, nil, nodes, order); !slices.Equal(h.Published, addrs("192.0.2.11", "192.0.2.12")) {
		t.Errorf("ingress: published %v, want every node that offers ports", h.Published)
	}
	hostMode := swarmService{names: []string{"db"}}
	tasks := []swarmTask{{nodeID: "n2", hostPorts: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 5432, PublishedPort: 30000, PublishMode: swarm.PortConfigPublishModeHost}}}}
	if h := serviceHost("s", hostMode, tasks, nodes, order); !slices.Equal(h.Published, addrs("192.0.2.12")) {
		t.Errorf("host mode: published %v, want the task's node", h.Published)
	}
	if h := serviceHost("s", swarmService{names: []string{"quiet"}}, nil, nodes, order); h.Published != nil {
		t.Errorf("no published port: %v, want its VIPs for everyone", h.Published)
	}
}
