package dockertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ImportIdleImage builds testdata/idle and imports it as the image ref, like
// Engine.IdleImage, for programs without a testing.T (bench/docker-lag),
// with labels ("key=value") set on the image.
// The caller removes the image (docker image rm --force ref).
func ImportIdleImage(ctx context.Context, ref string, labels ...string) error {
	return importProgram(ctx, "./testdata/idle", ref, labels...)
}

// importProgram builds the Go program in pkg (a path from the module root)
// as a static binary and imports it as the image ref: one file, FROM
// scratch, that is also the entrypoint.
func importProgram(ctx context.Context, pkg, ref string, labels ...string) error {
	name := filepath.Base(pkg)
	dir, err := os.MkdirTemp("", "dockertest-"+name)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, name)
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, pkg)
	build.Dir = moduleRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s in %s: %v: %s", pkg, build.Dir, err, out)
	}
	layer, err := tarOf(bin, name)
	if err != nil {
		return err
	}
	args := []string{"import", "--change", fmt.Sprintf(`ENTRYPOINT ["/%s"]`, name)}
	for _, l := range labels {
		args = append(args, "--change", "LABEL "+l)
	}
	imp := exec.CommandContext(ctx, "docker", append(args, "-", ref)...)
	imp.Stdin = bytes.NewReader(layer)
	if out, err := imp.CombinedOutput(); err != nil {
		return fmt.Errorf("docker import %s: %v: %s", ref, err, strings.TrimSpace(string(out)))
	}
	return nil
}
