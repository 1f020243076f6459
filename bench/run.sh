#!/usr/bin/env bash
# Benchmark sluice against Postfix and Haraka on the shared loopback rig
# (../../shared/bench, see its README.md) and print sluice's ratio to the
# better of the two per configuration.
#
#   bench/run.sh [--quick] [--pprof 127.0.0.1:6060] [--filters N] [--peers "limit postfix haraka custom"]
#                [any other option of the shared run.sh, e.g. --reps 5 --per-session "1 10"]
#
# Defaults: sizes 4 KB (5000 messages) and 100 KB (1000), 10 and 50
# sessions, one message per session (as issue 10 states; --per-session 10
# gives the earlier tables), 3 repetitions. --quick: 500 messages,
# one repetition. --filters N: a chain of N pass-through Wasm plugins
# (plugin/testdata/pass, mail and data stages) on every message. Results: $BENCH_RESULTS (default /var/lib/mtabench/results)/sluice-DATE/.
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RIG="${BENCH_RIG:-$(cd "$ROOT/../shared/bench" 2>/dev/null && pwd || true)}"
[ -f "$RIG/run.sh" ] || { echo "cannot find the shared rig (set BENCH_RIG)" >&2; exit 1; }
STATE="${BENCH_STATE:-/var/lib/mtabench}"

PEERS="limit postfix haraka custom"
PPROF=""
QUICK=""
FILTERS=0
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) PEERS="$2"; shift 2;;
    --pprof) PPROF="$2"; shift 2;;
    --quick) QUICK=1; shift;;
    --filters) FILTERS="$2"; shift 2;;
    -h|--help) sed -n '2,12p' "$0"; exit 0;;
    *) PASS+=("$1"); shift;;
  esac
done

# Install the peers only when something is missing (setup.sh is idempotent but slow).
if ! { [ -x /usr/sbin/smtp-source ] || command -v smtp-source >/dev/null; } ||
   [ ! -f "${BENCH_VENDOR:-$STATE/vendor}/node_modules/Haraka/bin/haraka" ]; then
  bash "$RIG/setup.sh"
fi

OUT="${BENCH_RESULTS:-$STATE/results}/sluice-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
BIN="$OUT/sluice"
(cd "$ROOT" && go build -trimpath -o "$BIN" ./cmd/sluice)
echo "sluice: $(cd "$ROOT" && git rev-parse --short HEAD) $(cd "$ROOT" && git status --porcelain -- . | grep -q . && echo '(with uncommitted changes)')" > "$OUT/sluice-version.txt"

# The config, with the data directory under $STATE and, if asked, pprof.
CONF="$OUT/sluice.hcl"
sed "s|^data_dir = .*|data_dir = \"$STATE/sluice\"|" "$HERE/sluice.hcl" > "$CONF"
[ -n "$PPROF" ] && echo "pprof_listen = \"$PPROF\"" >> "$CONF"
if [ "$FILTERS" -gt 0 ]; then
  (cd "$ROOT" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$OUT/pass.wasm" ./plugin/testdata/pass)
  names=""
  for i in $(seq 1 "$FILTERS"); do
    printf 'filter "pass%d" {\n  wasm = "%s"\n}\n' "$i" "$OUT/pass.wasm" >> "$CONF"
    names="$names\"pass$i\", "
  done
  sed -i "s|^domain \"\*\" {|domain \"*\" {\n  filters = [${names%, }]|" "$CONF"
fi
"$BIN" check-config "$CONF" >/dev/null
# Mail left from an earlier, interrupted run would be delivered again and counted.
rm -rf "$STATE/sluice/queue"

ARGS=(--peers "$PEERS" --out "$OUT" --sessions "10 50" --per-session "1")
[ -n "$QUICK" ] && ARGS+=(--quick) || ARGS+=(--reps 3)
CUSTOM_NAME=sluice CUSTOM_START="$BIN serve -config $CONF" \
  bash "$RIG/run.sh" "${ARGS[@]}" "${PASS[@]}"

# sluice against the better of Postfix and Haraka, per configuration (medians).
python3 - "$OUT/runs.csv" > "$OUT/ratio.md" <<'PY'
import csv, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for r in csv.DictReader(open(sys.argv[1])):
    if r["status"] == "ok":
        runs[(int(r["size"]), int(r["sessions"]), int(r["per_session"]), r["peer"])].append(r)
def med(k, col):
    v = [float(r[col]) for r in runs.get(k, []) if r[col] not in ("", None)]
    return statistics.median(v) if v else None
def f(x, fmt="{:.0f}"):
    return fmt.format(x) if x is not None else "-"
print("| config | limit | postfix | haraka | sluice | sluice / best peer | CPU ms/msg postfix | CPU ms/msg sluice | sluice CPU / postfix CPU |")
print("|---|---|---|---|---|---|---|---|---|")
for (size, s, k) in sorted({k[:3] for k in runs}):
    e = {p: med((size, s, k, p), "e2e_mps") for p in ("limit", "postfix", "haraka", "sluice")}
    c = {p: med((size, s, k, p), "relay_cpu_ms_per_msg") for p in ("postfix", "sluice")}
    best = max([x for x in (e["postfix"], e["haraka"]) if x is not None], default=None)
    ratio = e["sluice"] / best if e["sluice"] and best else None
    cr = c["sluice"] / c["postfix"] if c["sluice"] and c["postfix"] else None
    print(f"| {size // 1024} KB, {s} sess, {k}/sess | {f(e['limit'])} | {f(e['postfix'])} | {f(e['haraka'])} | "
          f"{f(e['sluice'])} | {f(ratio, '{:.2f}×')} | {f(c['postfix'], '{:.2f}')} | {f(c['sluice'], '{:.2f}')} | {f(cr, '{:.2f}')} |")
PY
echo
cat "$OUT/ratio.md"
echo "results in $OUT"
