package dockertest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// CreateSubnetNetwork creates the bridge network name with a /24 of its own,
// 10.213.X.0/24 with X picked at random, so that callers can pin addresses
// with docker run --ip. It tries other X while the engine reports an overlap
// with an existing network (another test run, another program). The caller
// removes the network.
func CreateSubnetNetwork(ctx context.Context, name string, args ...string) (netip.Prefix, error) {
	var lastErr error
	for range 16 {
		var b [1]byte
		_, _ = rand.Read(b[:])
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, b[0], 0}), 24)
		cmdArgs := append([]string{"network", "create", "--subnet", subnet.String()}, args...)
		out, err := exec.CommandContext(ctx, "docker", append(cmdArgs, name)...).CombinedOutput()
		if err == nil {
			return subnet, nil
		}
		lastErr = fmt.Errorf("docker network create --subnet %s %s: %v: %s", subnet, name, err, strings.TrimSpace(string(out)))
		if !strings.Contains(string(out), "overlap") {
			break
		}
	}
	return netip.Prefix{}, lastErr
}

// SubnetNetwork is Network with a subnet of its own (see
// CreateSubnetNetwork). It returns the network's name and subnet; the
// network is removed when the test ends.
func (e *Engine) SubnetNetwork(suffix string, args ...string) (string, netip.Prefix) {
	e.t.Helper()
	name := e.Name(suffix)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	subnet, err := CreateSubnetNetwork(ctx, name, append([]string{"--label", e.label()}, args...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.cleanupQuiet("network", "rm", name)
	return name, subnet
}

// TryRun is Run for goroutines other than the test's: it returns the error
// instead of failing the test. The container is removed when the test ends,
// even when docker run created it but could not start it.
func (e *Engine) TryRun(suffix string, args ...string) (string, error) {
	name := e.Name(suffix)
	e.cleanupQuiet("rm", "--force", "--volumes", name)
	return e.run(nil, append([]string{"run", "--detach", "--name", name, "--label", e.label()}, args...)...)
}

// TryDocker runs the docker CLI and returns its trimmed standard output or
// its error; it never fails the test.
func (e *Engine) TryDocker(args ...string) (string, error) { return e.run(nil, args...) }

// cleanupQuiet is cleanup for objects the test may have removed itself: a
// missing object is not worth a log line.
func (e *Engine) cleanupQuiet(args ...string) {
	e.t.Cleanup(func() {
		if _, err := e.run(nil, args...); err != nil && !strings.Contains(err.Error(), "No such") {
			e.t.Logf("cleanup: %v", err)
		}
	})
}
