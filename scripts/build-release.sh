#!/usr/bin/env bash
# Builds the release binary with the built-in filters inside it:
#   scripts/build-release.sh [OUTPUT]      (default dist/sluice)
# First every plugins/<name> is built to WebAssembly and compressed into
# plugin/builtin/wasm/ (go generate ./plugin/builtin), then the binary is
# built with -tags builtins, which embeds them. Both come from this tree,
# so the binary and its built-ins are always the same version. GOOS and
# GOARCH in the environment choose the binary's platform as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-dist/sluice}

echo "building the built-in filters (plugin/builtin/wasm/)" >&2
# The generator itself runs on this machine, whatever GOOS/GOARCH ask for.
GOOS= GOARCH= go generate ./plugin/builtin

echo "building $out" >&2
mkdir -p "$(dirname "$out")"
CGO_ENABLED=0 go build -tags builtins -trimpath -ldflags='-s -w' -o "$out" ./cmd/sluice
ls -l "$out" >&2
