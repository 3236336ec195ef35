#!/usr/bin/env bash
# route.sh proves the plugin.cfg route: how someone with their own CoreDNS
# build adds dockerhosts. It takes the stock CoreDNS source from the Go module
# cache, adds one line to its plugin.cfg, points the module at this checkout,
# runs CoreDNS's own `go generate` and `go build`, and checks the result.
#
# Usage: build/route.sh [OUTPUT_BINARY]
#   COREDNS_VERSION  CoreDNS release to build (default: the one go.mod requires)
#   KEEP=1           keep the temporary CoreDNS tree for inspection
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-}
version=${COREDNS_VERSION:-$(cd "$repo" && go list -m -f '{{.Version}}' github.com/coredns/coredns)}
line='dockerhosts:github.com/dockerhosts/dockerhosts'

export CGO_ENABLED=0
GOFLAGS="$(go env GOFLAGS) -mod=mod"
export GOFLAGS
# Build with the installed Go rather than downloading the toolchain CoreDNS's
# Makefile pins; CoreDNS's go.mod only needs the go version it declares.
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

step() { printf '%s route: %s\n' "$(date +%T)" "$*" >&2; }
fail() { printf 'route: FAIL: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dockerhosts-route.XXXXXX")
if [[ ${KEEP:-} == 1 ]]; then
	step "keeping $work"
else
	trap 'rm -rf "$work"' EXIT
fi
start=$SECONDS

step "1. fetch CoreDNS $version source from the module cache"
src=$(go mod download -json "github.com/coredns/coredns@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $src ]] || fail "go mod download gave no directory for coredns@$version"
cp -r "$src" "$work/coredns"
chmod -R u+w "$work/coredns"
cd "$work/coredns"

step "2. add '$line' before hosts:hosts in plugin.cfg"
grep -qx 'hosts:hosts' plugin.cfg || fail "plugin.cfg has no hosts:hosts line"
sed -i "/^hosts:hosts\$/i $line" plugin.cfg

step "3. point github.com/dockerhosts/dockerhosts at $repo"
# A replaced module needs a placeholder version; the real code comes from $repo.
go mod edit -require github.com/dockerhosts/dockerhosts@v0.0.0-00010101000000-000000000000 \
	-replace "github.com/dockerhosts/dockerhosts=$repo"

step "4. go generate (rewrites core/plugin/zplugin.go, core/dnsserver/zdirectives.go)"
go generate coredns.go
# -mod=mod (GOFLAGS above) lets go build add what our module needs to go.mod/go.sum.

step "5. go build"
go build -o coredns .

step "6. check"
./coredns -plugins | grep -qx dockerhosts || fail "-plugins does not list dockerhosts"
directives=$(sed -n 's/^[[:space:]]*"\([a-z0-9_]*\)",$/\1/p' core/dnsserver/zdirectives.go)
next=$(printf '%s\n' "$directives" | grep -A1 -x dockerhosts | tail -n +2)
[[ $next == hosts ]] || fail "zdirectives.go: dockerhosts is followed by '${next:-nothing}', want hosts"
grep -q '"github.com/dockerhosts/dockerhosts"' core/plugin/zplugin.go || fail "zplugin.go does not import dockerhosts"

if [[ -n $out ]]; then
	cd "$repo"
	cp "$work/coredns/coredns" "$out"
	step "wrote $out"
fi
step "OK: stock CoreDNS $version with dockerhosts before hosts, $((SECONDS - start)) s"
