#!/bin/sh
# Builds the rules filter: examples/rust-filter/build.sh OUT.wasm
#
# Uses Debian's Rust toolchain (apt-get install rustc libstd-rust-dev-wasm32
# lld-14): rustc with the wasm32-wasi standard library, linked by wasm-ld.
# RUSTC and WASM_LD override the tools. Exits 77 when no usable toolchain
# is installed, so that tests can skip with this script's message.
set -eu

out=${1:?usage: build.sh OUT.wasm}
src=$(dirname "$0")/src/lib.rs

if [ -z "${RUSTC:-}" ]; then
	# Debian's rustc first: a rustup toolchain on PATH often lacks wasm32-wasi.
	for c in /usr/bin/rustc "$(command -v rustc 2>/dev/null || true)"; do
		if [ -n "$c" ] && [ -x "$c" ] && [ -d "$("$c" --print sysroot)/lib/rustlib/wasm32-wasi" ]; then
			RUSTC=$c
			break
		fi
	done
fi
if [ -z "${RUSTC:-}" ]; then
	echo "build.sh: no rustc with the wasm32-wasi target (apt-get install rustc libstd-rust-dev-wasm32 lld-14)" >&2
	exit 77
fi
if [ -z "${WASM_LD:-}" ]; then
	for l in /usr/lib/llvm-14/bin/wasm-ld "$(command -v wasm-ld 2>/dev/null || true)"; do
		if [ -n "$l" ] && [ -x "$l" ]; then
			WASM_LD=$l
			break
		fi
	done
fi
if [ -z "${WASM_LD:-}" ]; then
	echo "build.sh: no wasm-ld linker (apt-get install lld-14)" >&2
	exit 77
fi

# A cdylib: the exports are the #[no_mangle] functions; no _start, no main.
exec "$RUSTC" --edition 2021 --target wasm32-wasi --crate-type cdylib --crate-name rules \
	-C opt-level=2 -C panic=abort -C strip=symbols -C linker="$WASM_LD" \
	-o "$out" "$src"
