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

// ImportHealthImage is Engine.HealthImage for programs without a
// testing.T (bench/docker-lag): it builds ref and the intermediate image
// ref+"-base". The caller removes both (ref first).
func ImportHealthImage(ctx context.Context, ref string, labels ...string) error {
	base := ref + "-base"
	if err := importProgram(ctx, "./internal/testkit/dockertest/testdata/hostname", base, labels...); err != nil {
		return err
	}
	return buildHealthImage(ctx, "", base, ref, labels...)
}

// buildHealthImage adds to base a HEALTHCHECK in exec form running its
// program's check subcommand (docker import cannot set one).
func buildHealthImage(ctx context.Context, host, base, ref string, labels ...string) error {
	var df strings.Builder
	fmt.Fprintf(&df, "FROM %s\nHEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD [\"/hostname\", \"check\"]\n", base)
	for _, l := range labels {
		fmt.Fprintf(&df, "LABEL %s\n", l)
	}
	args := []string{"build", "--quiet", "--tag", ref, "-"}
	if host != "" {
		args = append([]string{"--host", host}, args...)
	}
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = strings.NewReader(df.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("docker build %s: %v: %s", ref, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// importProgram builds the Go program in pkg (a path from the module root)
// as a static binary and imports it as the image ref: one file, FROM
// scratch, that is also the entrypoint.
func importProgram(ctx context.Context, pkg, ref string, labels ...string) error {
	return importProgramWith(ctx, []string{"docker"}, pkg, ref, labels...)
}

// importProgramWith is importProgram through cli (docker, or podman --url).
func importProgramWith(ctx context.Context, cli []string, pkg, ref string, labels ...string) error {
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
	imp := exec.CommandContext(ctx, cli[0], append(append(cli[1:len(cli):len(cli)], args...), "-", ref)...)
	imp.Stdin = bytes.NewReader(layer)
	if out, err := imp.CombinedOutput(); err != nil {
		return fmt.Errorf("%s import %s: %v: %s", cli[0], ref, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ProgramImage builds the static Go program in pkg (a path from the module
// root, such as "./testdata/idle") into an image FROM scratch on the daemon
// itself, Prefix-<program>:latest, and returns its reference: the
// machine's engine is not involved. It goes with the daemon's data root.
func (d *Daemon) ProgramImage(pkg string) string {
	d.t.Helper()
	ref := d.engine.Prefix + "-" + filepath.Base(pkg) + ":latest"
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if err := importProgramWith(ctx, []string{"docker", "--host", d.Host()}, pkg, ref, d.engine.label()); err != nil {
		d.t.Fatal(err)
	}
	return ref
}
