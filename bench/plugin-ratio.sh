#!/usr/bin/env bash
# Throughput kept by a chain of three pass-through Wasm plugins (issue 5's
# target: at least 80%), measured with BenchmarkRelay4KB (mta/smtpd: 10
# clients, 4 KB messages, fsync before 250, accept to delivered at a local
# sink). The two sides run in alternating processes, pair after pair, because
# a shared machine drifts within a minute: back-to-back -count runs of one
# side and then the other mix that drift into the ratio.
#
#   bench/plugin-ratio.sh [PAIRS] [MESSAGES]     # default 8 pairs of 4000 messages
set -euo pipefail
cd "$(dirname "$0")/.."

pairs="${1:-8}"
msgs="${2:-4000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/smtpd.test" ./mta/smtpd

rate() { # filters -> msgs/s
	(cd mta/smtpd && "$work/smtpd.test" -test.run '^$' -test.bench "Relay4KB/filters=$1\$" -test.benchtime "${msgs}x") |
		awk '/^Benchmark/ { for (i = 1; i < NF; i++) if ($(i+1) == "msgs/s") print $i }'
}

echo "pair  no-filters  3-filters  ratio"
for i in $(seq 1 "$pairs"); do
	a="$(rate 0)"
	b="$(rate 3)"
	r="$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
	printf '%4d  %10s  %9s  %s\n' "$i" "$a" "$b" "$r"
	echo "$r" >>"$work/ratios"
done
sort -n "$work/ratios" | awk '{ r[NR] = $1 } END {
	m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
	printf "median ratio %.3f (min %.3f, max %.3f, %d pairs)\n", m, r[1], r[NR], NR
}'
