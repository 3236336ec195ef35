//go:build linux

package fleet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// resolverBuildTimeout bounds building the custom CoreDNS and its image.
const resolverBuildTimeout = 5 * time.Minute

// ResolverImage builds the resolver image as `make dist` does
// (lab/resolver.Dockerfile: the static custom CoreDNS, readycheck and
// packaging/container.Corefile, FROM scratch) on the first machine, copies
// it to the others and returns its reference, dockerhosts/coredns:tag. It
// goes with the machines.
func (f *Fleet) ResolverImage(t testing.TB, tag string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), resolverBuildTimeout)
	defer cancel()
	root := moduleRoot()
	dir := t.TempDir()
	for _, b := range []struct{ out, pkg string }{{"coredns", "./cmd/coredns"}, {"readycheck", "./lab/readycheck"}} {
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, b.out), b.pkg)
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v: %s", b.pkg, err, out)
		}
	}
	corefile, err := os.ReadFile(filepath.Join(root, "packaging", "container.Corefile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), corefile, 0o644); err != nil {
		t.Fatal(err)
	}
	first := f.Machines[0].For(t)
	ref := "dockerhosts/coredns:" + tag
	build := exec.CommandContext(ctx, "docker", "--host", first.Host(), "build", "--quiet", "--tag", ref,
		"--file", filepath.Join(root, "lab", "resolver.Dockerfile"), dir)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v: %s", ref, err, strings.TrimSpace(string(out)))
	}
	for _, m := range f.Machines[1:] {
		m.For(t).CopyImageFrom(first.Daemon, ref)
	}
	return ref
}

// moduleRoot is the directory of go.mod, found from this file's location.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}
