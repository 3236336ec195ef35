// Command gen writes cmd/coredns/zplugins.go from plugin.cfg; main.go runs it
// through go:generate.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/dockerhosts/dockerhosts/cmd/coredns/internal/plugincfg"
)

func main() {
	in := flag.String("in", "../../plugin.cfg", "plugin.cfg to read")
	out := flag.String("out", "zplugins.go", "Go file to write")
	pkg := flag.String("pkg", "main", "package of the Go file")
	flag.Parse()
	if err := run(*in, *out, *pkg); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, out, pkg string) error {
	cfg, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	plugins, err := plugincfg.Parse(bytes.NewReader(cfg))
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	src, err := plugincfg.Generate(pkg, plugins)
	if err != nil {
		return err
	}
	// Leave an up-to-date file alone so its mtime keeps make from rebuilding.
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, src) {
		return nil
	}
	return os.WriteFile(out, src, 0o644)
}
