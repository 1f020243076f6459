#!/bin/sh
# Builds the rules filter: examples/rust-filter/build.sh OUT.wasm
#
# Needs a rustc with a WASI standard library: the target is called
# wasm32-wasip1 since Rust 1.78 and wasm32-wasi before (Debian's rustc 1.63:
# apt-get install rustc libstd-rust-dev-wasm32 lld-14). Either works; a
# rustc with wasm32-wasip1 is preferred (rustup target add wasm32-wasip1).
# The linker is the rust-lld a rustup toolchain ships, else wasm-ld
# (lld-14's, or one on PATH). RUSTC, RUST_TARGET and WASM_LD override the
# choices. Exits 77 when no usable toolchain is installed, so that tests can
# skip with this script's message.
set -eu

out=${1:?usage: build.sh OUT.wasm}
src=$(dirname "$0")/src/lib.rs

# has_target RUSTC TARGET: whether RUSTC has TARGET's standard library.
has_target() {
	[ -n "$1" ] && [ -x "$1" ] || return 1
	sysroot=$("$1" --print sysroot 2>/dev/null) || return 1
	[ -d "$sysroot/lib/rustlib/$2" ]
}

if [ -z "${RUSTC:-}" ] || [ -z "${RUST_TARGET:-}" ]; then
	# Debian's rustc, then the one on PATH (a rustup toolchain often lacks
	# the wasm targets); the current target name first.
	for t in ${RUST_TARGET:-wasm32-wasip1 wasm32-wasi}; do
		for c in ${RUSTC:-/usr/bin/rustc "$(command -v rustc 2>/dev/null || true)"}; do
			if has_target "$c" "$t"; then
				RUSTC=$c
				RUST_TARGET=$t
				break 2
			fi
		done
	done
fi
if [ -z "${RUSTC:-}" ] || [ -z "${RUST_TARGET:-}" ] || ! has_target "$RUSTC" "$RUST_TARGET"; then
	echo "build.sh: no rustc with the wasm32-wasip1 or wasm32-wasi target (rustup target add wasm32-wasip1, or apt-get install rustc libstd-rust-dev-wasm32 lld-14)" >&2
	exit 77
fi

set -- --edition 2021 --target "$RUST_TARGET" --crate-type cdylib --crate-name rules \
	-C opt-level=2 -C panic=abort -C strip=symbols
# A rustup toolchain links with its own rust-lld, which matches its LLVM;
# Debian's rustc has none for wasm and needs wasm-ld.
if [ -z "${WASM_LD:-}" ] && ! ls "$("$RUSTC" --print sysroot)"/lib/rustlib/*/bin/rust-lld >/dev/null 2>&1; then
	for l in /usr/lib/llvm-14/bin/wasm-ld "$(command -v wasm-ld 2>/dev/null || true)"; do
		if [ -n "$l" ] && [ -x "$l" ]; then
			WASM_LD=$l
			break
		fi
	done
	if [ -z "${WASM_LD:-}" ]; then
		echo "build.sh: no wasm-ld linker (apt-get install lld-14)" >&2
		exit 77
	fi
fi
if [ -n "${WASM_LD:-}" ]; then
	set -- "$@" -C linker="$WASM_LD"
fi

# A cdylib: the exports are the #[no_mangle] functions; no _start, no main.
exec "$RUSTC" "$@" -o "$out" "$src"
