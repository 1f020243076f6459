#!/bin/sh
# Builds the subject filter: examples/c-filter/build.sh OUT.wasm
#
# Uses Debian's C toolchain for WebAssembly (apt-get install clang lld
# wasi-libc libclang-rt-dev-wasm32; bookworm: clang 14): clang for
# wasm32-wasi as a reactor, linked by wasm-ld against wasi-libc and
# compiler-rt's wasm32 builtins. CC overrides the compiler, WASI_SYSROOT the
# sysroot (default: Debian's, which clang finds by itself in
# /usr/include/wasm32-wasi and /usr/lib/wasm32-wasi; a wasi-sdk one such as
# /usr/share/wasi-sysroot is used when it exists). Exits 77 when a part of
# the toolchain is missing, so that tests can skip with this script's message.
set -eu

out=${1:?usage: build.sh OUT.wasm}
dir=$(dirname "$0")
need="apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"

if [ -z "${CC:-}" ]; then
	for c in clang clang-14; do
		if command -v "$c" >/dev/null 2>&1; then
			CC=$c
			break
		fi
	done
fi
if [ -z "${CC:-}" ]; then
	echo "build.sh: no clang ($need)" >&2
	exit 77
fi
sysroot=
if [ -n "${WASI_SYSROOT:-}" ]; then
	sysroot=--sysroot=$WASI_SYSROOT
elif [ -d /usr/share/wasi-sysroot ]; then
	sysroot=--sysroot=/usr/share/wasi-sysroot
elif [ ! -f /usr/lib/wasm32-wasi/libc.a ]; then
	echo "build.sh: no wasi-libc ($need)" >&2
	exit 77
fi
# compiler-rt's builtins for wasm32 (libclang-rt-14-dev-wasm32): without
# them every link fails on __multi3 and friends.
rt=$("$CC" --target=wasm32-wasi $sysroot -print-libgcc-file-name 2>/dev/null || true)
if [ -z "$rt" ] || [ ! -f "$rt" ]; then
	echo "build.sh: no compiler-rt for wasm32 at ${rt:-?} ($need)" >&2
	exit 77
fi
if ! command -v wasm-ld >/dev/null 2>&1 && [ ! -x "$(dirname "$(readlink -f "$(command -v "$CC")")")/wasm-ld" ]; then
	echo "build.sh: no wasm-ld linker ($need)" >&2
	exit 77
fi

# -mexec-model=reactor: a library whose _initialize runs the C constructors
# once; the default (command) model exports _start, which sluice refuses.
# -s strips the names section; export_name in the source picks the exports.
exec "$CC" --target=wasm32-wasi $sysroot -mexec-model=reactor -O2 -s \
	-Wall -Wextra -Werror -o "$out" "$dir/src/subject.c"
