package dockertest

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopPodman()
	os.Exit(code)
}

// The harness's service runs a container (the limits it needs come from
// its containers.conf) on a network of its own, and the test's sweep
// removes them.
func TestPodmanServiceRunsAContainer(t *testing.T) {
	e := RequirePodman(t)
	net, subnet := e.SubnetNetwork("net")
	id := e.Run("idle", "--network", net, e.IdleImage())
	ip := e.Docker("inspect", "--format", "{{(index .NetworkSettings.Networks \""+net+"\").IPAddress}}", id)
	if !strings.HasPrefix(ip, strings.TrimSuffix(subnet.Addr().String(), "0")) {
		t.Errorf("container address %q is not in %s", ip, subnet)
	}
	if got := e.Docker("inspect", "--format", "{{.State.Running}}", id); got != "true" {
		t.Errorf("container running: %s", got)
	}
}

func TestRuleFieldsKeepsQuotedComments(t *testing.T) {
	got := ruleFields(`-A FORWARD -m comment --comment "netavark firewall plugin rules" -j NETAVARK_FORWARD`)
	want := []string{"-A", "FORWARD", "-m", "comment", "--comment", "netavark firewall plugin rules", "-j", "NETAVARK_FORWARD"}
	if !slices.Equal(got, want) {
		t.Errorf("ruleFields = %q, want %q", got, want)
	}
}
