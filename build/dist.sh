#!/usr/bin/env bash
# dist.sh builds the release artifacts, for users who run dockerhosts without
# Go: `make dist` calls it with the Makefile's version and link flags, so the
# binaries are built exactly as `make build` builds ./coredns.
#
#   dockerhosts-VERSION-linux-ARCH.tar.gz   for amd64 and arm64: the static
#       (CGO_ENABLED=0) custom CoreDNS as dockerhosts-coredns, the systemd
#       unit, its Corefile, the recipes and the README
#   dockerhosts-coredns-VERSION-image.tar   the resolver image, FROM scratch
#       (lab/resolver.Dockerfile) with packaging/container.Corefile, tagged
#       dockerhosts/coredns:VERSION, for `docker load -i`; built for the
#       Docker daemon's architecture
#   SHA256SUMS                              of the above
#
# Usage: VERSION=... LDFLAGS=... build/dist.sh OUTPUT_DIR
# The image is built in the local daemon (no registry is needed), saved, and
# its tag removed again: the tarball is the artifact.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: VERSION=... LDFLAGS=... build/dist.sh OUTPUT_DIR}
: "${VERSION:?set VERSION (make dist does)}" "${LDFLAGS:?set LDFLAGS (make dist does)}"
arches=(amd64 arm64)
image=dockerhosts/coredns:$VERSION

step() { printf '%s dist: %s\n' "$(date +%T)" "$*" >&2; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/dockerhosts-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Reproducible archives: fixed owner, order and time (the commit's).
mtime=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)
tarflags=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime")

for arch in "${arches[@]}"; do
	step "linux/$arch"
	name=dockerhosts-$VERSION-linux-$arch
	dir=$work/$name
	mkdir -p "$dir"
	(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "$LDFLAGS" \
		-o "$dir/dockerhosts-coredns" ./cmd/coredns)
	cp "$repo/packaging/Corefile" "$repo/packaging/dockerhosts.service" "$repo/README.md" "$dir/"
	cp -r "$repo/recipes" "$dir/recipes"
	tar "${tarflags[@]}" -C "$work" -czf "$out/$name.tar.gz" "$name"
done

daemon_arch=$(docker version --format '{{.Server.Arch}}')
[[ " ${arches[*]} " == *" $daemon_arch "* ]] || { echo "dist: no linux/$daemon_arch build for the image" >&2; exit 1; }
step "image $image (linux/$daemon_arch)"
ctx=$work/image
mkdir -p "$ctx"
cp "$work/dockerhosts-$VERSION-linux-$daemon_arch/dockerhosts-coredns" "$ctx/coredns"
cp "$repo/packaging/container.Corefile" "$ctx/Corefile"
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=$daemon_arch go build -trimpath -ldflags '-s -w' \
	-o "$ctx/readycheck" ./lab/readycheck)
docker build -q --label "org.opencontainers.image.version=$VERSION" -t "$image" \
	-f "$repo/lab/resolver.Dockerfile" "$ctx" >/dev/null
docker save -o "$out/dockerhosts-coredns-$VERSION-image.tar" "$image"
chmod 0644 "$out/dockerhosts-coredns-$VERSION-image.tar"
docker image rm "$image" >/dev/null

step "SHA256SUMS"
(cd "$out" && sha256sum "dockerhosts-$VERSION"-linux-*.tar.gz "dockerhosts-coredns-$VERSION-image.tar" > SHA256SUMS)
ls -l "$out" >&2
