// Command coredns is CoreDNS with the lean set of plugins listed in the
// repository's plugin.cfg, dockerhosts among them. The blank imports and the
// directive order live in zplugins.go, generated from plugin.cfg.
package main

//go:generate go run ./gen -in ../../plugin.cfg -out zplugins.go

import "github.com/coredns/coredns/coremain"

func main() {
	coremain.Run()
}
