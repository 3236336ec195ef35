// Package dockertest drives the real Docker Engine for integration tests:
// it skips (or fails, when DOCKERHOSTS_REQUIRE_DOCKER=1) without an engine,
// builds a tiny image FROM scratch (no registry is needed), and creates
// networks and containers under a unique per-test prefix, all removed when
// the test ends, passed or failed. It uses the docker CLI. StartDaemon adds
// a second, real dockerd of the test's own, for tests of several engines
// and of a daemon restart.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// RequireEnv names the variable that turns a missing engine from a skip into
// a failure, for CI machines that must run the integration tests.
const RequireEnv = "DOCKERHOSTS_REQUIRE_DOCKER"

// commandTimeout bounds every docker CLI call.
const commandTimeout = 2 * time.Minute

// Engine is the Docker Engine as one test sees it.
type Engine struct {
	t testing.TB
	// Prefix starts the name of everything this test creates:
	// "dhtest-<random>".
	Prefix string
	// host is the engine's endpoint for the docker CLI (--host); empty for
	// the machine's engine, set for a Daemon the test started.
	host string
	// cli is the command and its first arguments that drive the engine;
	// nil is the docker CLI. A Podman service is driven by podman --url.
	cli []string
}

// Require returns the engine, or skips t with the reason when no engine is
// reachable; with DOCKERHOSTS_REQUIRE_DOCKER=1 it fails t instead.
func Require(t testing.TB) *Engine {
	t.Helper()
	Need(t, "a usable Docker Engine", reachable())
	var b [4]byte
	_, _ = rand.Read(b[:])
	e := &Engine{t: t, Prefix: "dhtest-" + hex.EncodeToString(b[:])}
	// Registered first, so it runs after every other cleanup of the test.
	t.Cleanup(e.sweep)
	return e
}

// ownerLabel marks every container and network a test creates, so that the
// final sweep finds them even after a test renamed them.
const ownerLabel = "dockerhosts.test"

func (e *Engine) label() string { return ownerLabel + "=" + e.Prefix }

// sweep removes whatever still carries this test's label: containers first,
// since neither a network with endpoints nor an image in use can go.
func (e *Engine) sweep() {
	type kind struct{ list, remove []string }
	kinds := []kind{
		{[]string{"ps", "--all", "--quiet"}, []string{"rm", "--force", "--volumes"}},
		{[]string{"network", "ls", "--quiet"}, []string{"network", "rm"}},
		{[]string{"images", "--quiet"}, []string{"image", "rm", "--force"}},
	}
	if e.IsPodman() {
		// A pod's infra container carries no label: the pod goes first.
		kinds = append([]kind{{[]string{"pod", "ls", "--quiet"}, []string{"pod", "rm", "--force"}}}, kinds...)
	}
	for _, kind := range kinds {
		ids, err := e.run(nil, append(kind.list, "--filter", "label="+e.label())...)
		if err != nil || ids == "" {
			continue
		}
		unique := slices.Compact(slices.Sorted(slices.Values(strings.Fields(ids))))
		if _, err := e.run(nil, append(kind.remove, unique...)...); err != nil {
			e.t.Logf("cleanup: %v", err)
		}
	}
}

// Need skips t because what is missing (err says why), or fails it under
// DOCKERHOSTS_REQUIRE_DOCKER=1, where CI has installed everything: a test
// that needs Docker, root or a program never passes by skipping there.
// It does nothing when err is nil.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s required (%s=1): %v", what, RequireEnv, err)
	}
	t.Skipf("%s: %v (set %s=1 to fail instead)", what, err, RequireEnv)
}

// NeedProgram returns the path of program, or skips (fails in CI) without
// it; debianPackage tells where it comes from.
func NeedProgram(t testing.TB, program, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	Need(t, program+" (Debian package "+debianPackage+")", err)
	return path
}

func reachable() error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("docker CLI: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.APIVersion}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker version: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Name returns a name unique to this test run: Prefix + "-" + suffix.
func (e *Engine) Name(suffix string) string { return e.Prefix + "-" + suffix }

// Host is the engine's endpoint, for a Corefile: "" for the machine's
// engine (the default), the socket of one the test started.
func (e *Engine) Host() string { return e.host }

// Docker runs the docker CLI and returns its trimmed standard output; it
// fails the test on error.
func (e *Engine) Docker(args ...string) string {
	e.t.Helper()
	out, err := e.run(nil, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *Engine) run(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if e.host != "" {
		args = append([]string{"--host", e.host}, args...)
	}
	cmd := exec.CommandContext(ctx, e.command()[0], append(e.command()[1:], args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", e.command()[0], strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// networkRemove is the command that removes a network at the end of a
// test. Podman refuses while a container the test renamed, or a pod, still
// uses it (Docker's sweep gets those later); --force takes them along.
func (e *Engine) networkRemove(name string) []string {
	if e.IsPodman() {
		return []string{"network", "rm", "--force", name}
	}
	return []string{"network", "rm", name}
}

// command is the CLI that drives the engine, with its first arguments.
func (e *Engine) command() []string {
	if e.cli == nil {
		return []string{"docker"}
	}
	return e.cli
}

// cleanup removes a docker object when the test ends, whatever its outcome.
func (e *Engine) cleanup(args ...string) {
	e.t.Cleanup(func() {
		if _, err := e.run(nil, args...); err != nil {
			e.t.Logf("cleanup: %v", err)
		}
	})
}

// IdleImage builds an image FROM scratch holding only testdata/idle, a
// static program that waits for SIGTERM or SIGINT and exits at once, and
// returns its reference. The image is removed when the test ends.
func (e *Engine) IdleImage() string {
	e.t.Helper()
	return e.programImage("./testdata/idle")
}

// HostnameImage builds an image FROM scratch holding only
// internal/testkit/dockertest/testdata/hostname, a static HTTP server on :8080 that
// answers every request with the container's hostname, and returns its
// reference. The image is removed when the test ends.
func (e *Engine) HostnameImage() string {
	e.t.Helper()
	return e.programImage("./internal/testkit/dockertest/testdata/hostname")
}

// HealthImage is HostnameImage with a HEALTHCHECK in exec form (there is
// no shell FROM scratch): `hostname check`, every second; `docker run
// --health-interval` and friends tune it. WARMUP and DRAIN (durations, in
// the container's environment) give the app a warm-up, answered 503 and
// unhealthy, and a graceful drain after SIGTERM; `docker exec C /hostname
// sick` (or `well`) turns its health check. Removed when the test ends.
func (e *Engine) HealthImage() string {
	e.t.Helper()
	base := e.HostnameImage()
	ref := e.Prefix + "-health:latest"
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if err := buildHealthImage(ctx, e.host, base, ref, e.label()); err != nil {
		e.t.Fatal(err)
	}
	// Before the sweep, which cannot remove the base while this child is.
	e.cleanup("image", "rm", "--force", ref)
	return ref
}

// programImage imports the program in pkg as the image
// Prefix-<program>:latest and returns its reference.
func (e *Engine) programImage(pkg string) string {
	e.t.Helper()
	ref := e.Prefix + "-" + filepath.Base(pkg) + ":latest"
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cli := e.command()
	if e.host != "" {
		cli = append(slices.Clone(cli), "--host", e.host)
	}
	// Removed by the sweep, after the containers that use it.
	if err := importProgramWith(ctx, cli, pkg, ref, e.label()); err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// Network creates a user-defined bridge network and returns its name. It is
// removed when the test ends (after the containers, which are created
// later and cleaned up first).
func (e *Engine) Network(suffix string, args ...string) string {
	e.t.Helper()
	name := e.Name(suffix)
	e.Docker(append(append([]string{"network", "create", "--label", e.label()}, args...), name)...)
	e.cleanup(e.networkRemove(name)...)
	return name
}

// Run starts a detached container named Prefix-suffix with the given docker
// run arguments (options, then the image and its arguments) and returns its
// full ID. It is removed when the test ends.
func (e *Engine) Run(suffix string, args ...string) string {
	e.t.Helper()
	id, err := e.TryRun(suffix, args...)
	if err != nil {
		e.t.Fatalf("docker run %s: %v", e.Name(suffix), err)
	}
	return id
}

// moduleRoot is the directory of go.mod, found from this file's location so
// that tests of any package can build testdata programs.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// tarOf returns a tar archive holding the file at path under name, mode 0755.
func tarOf(path, name string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
