# Makefile for dockerhosts: the custom CoreDNS build, tests and benchmarks.
#
#   make / make build  static ./coredns with the plugins of plugin.cfg
#   make test          vet, race tests, the custom build, the plugin.cfg route
#   make route         build stock CoreDNS with dockerhosts added to its plugin.cfg
#   make bench         dnsperf dockerhosts vs hosts, hosts-file lag, Go benchmarks
#   make run           build, then serve examples/quickstart/Corefile
#   make dist          release artifacts in dist/: static linux amd64/arm64
#                      tarballs, the resolver image tarball, SHA256SUMS
#   make clean         remove what the targets leave behind
# lab/lab.mk, when present, adds image, lab-test and friends.

GO        ?= go
BINARY    ?= ./coredns
GITCOMMIT ?= $(shell git describe --dirty --always 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X github.com/coredns/coredns/coremain.GitCommit=$(GITCOMMIT)
COREFILE  ?= examples/quickstart/Corefile
DIST      ?= dist

.DEFAULT_GOAL := build
.PHONY: all build generate test vet gotest route bench run dist clean

all: build

# Always hand over to go build: the Go build cache decides what is stale.
build: cmd/coredns/zplugins.go
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINARY) ./cmd/coredns
	@$(BINARY) -plugins | grep -qx dockerhosts || { echo "$(BINARY) -plugins does not list dockerhosts" >&2; exit 1; }

# plugin.cfg is the single source of the plugin order; zplugins.go follows it.
cmd/coredns/zplugins.go: plugin.cfg
	cd cmd/coredns && $(GO) generate
	@touch $@

generate:
	cd cmd/coredns && $(GO) generate

test: vet gotest build route

vet:
	$(GO) vet ./...

# The root package runs real engines, a swarm, a fleet of three and Podman
# services: about 8-10 minutes under -race, past go test's default 10m.
gotest:
	$(GO) test -race -timeout 30m ./...

route:
	build/route.sh

bench: build
	bench/bench.sh $(BINARY)

run: build
	$(BINARY) -conf $(COREFILE)

# The version is the one stamped into ./coredns: binaries and image tag alike.
dist: cmd/coredns/zplugins.go
	rm -rf $(DIST)
	VERSION='$(GITCOMMIT)' LDFLAGS='$(LDFLAGS)' build/dist.sh $(DIST)

clean:
	rm -f $(BINARY)
	rm -rf $(DIST)
	rm -rf bench/out

-include lab/lab.mk
