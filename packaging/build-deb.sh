#!/usr/bin/env bash
# Builds the Debian package of sluice with nfpm:
#   packaging/build-deb.sh            → dist/sluice_VERSION_ARCH.deb
# The binary is the release build (scripts/build-release.sh: built-in
# filters embedded), the man pages come from `sluice man`, the rest from
# packaging/ (nfpm.yaml lists it). GOARCH chooses the architecture
# (default: this machine's). VERSION overrides the package version, which
# is otherwise 0.1.0~gitDATE.COMMIT of the last commit. Needs Go, git and
# nfpm (installed with `go install` when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

nfpm_version=v2.48.0

export GOARCH="${GOARCH:-$(go env GOARCH)}"
host_arch="$(GOARCH= go env GOARCH)"
if [ -z "${VERSION:-}" ]; then
	VERSION="0.1.0~git$(date -u -d "@$(git log -1 --format=%ct)" +%Y%m%d).$(git rev-parse --short=12 HEAD)"
fi
export VERSION ARCH="$GOARCH"

nfpm="$(command -v nfpm || true)"
if [ -z "$nfpm" ]; then
	nfpm="$(GOARCH= go env GOPATH)/bin/nfpm"
	if [ ! -x "$nfpm" ]; then
		echo "installing nfpm $nfpm_version (go install)" >&2
		GOARCH= GOFLAGS= go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version"
	fi
fi

rm -rf dist/deb
mkdir -p dist/deb/man
scripts/build-release.sh dist/deb/sluice

# The manual pages, from the commands' own help: the binary just built
# writes them, or a host build when it is for another architecture.
if [ "$GOARCH" = "$host_arch" ]; then
	dist/deb/sluice man dist/deb/man >/dev/null
else
	GOARCH= go run ./cmd/sluice man dist/deb/man >/dev/null
fi
gzip -9n dist/deb/man/*.8

deb="dist/sluice_${VERSION}_${ARCH}.deb"
rm -f "$deb"
"$nfpm" package --config packaging/nfpm.yaml --packager deb --target "$deb" >&2
ls -l "$deb" >&2
echo "$deb"
