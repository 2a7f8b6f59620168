#!/usr/bin/env bash
# crash-campaign.sh - the long crash-differential campaign (not in CI):
# test_crashdiff over many seeds of every workload mix, until a number of
# crashes or a time limit is reached, then one summary: crashes,
# recoveries, mismatches, hangs, stop and fsck failures, recovery time
# p50/p99/max, and a gnuplot PNG of the recovery-time distribution.
#
#   scripts/crash-campaign.sh [--crashes N] [--minutes M] [--kill-ms MS] [--jobs J]
#                             [--first-round K] [--out DIR] [--build DIR]
#
# Defaults: 100000 crashes, no time limit, a crash every ~40 ms (--kill-ms:
# the killer's mean interval), 1 job, out build/campaign. --jobs J runs J
# rounds side by side (one test_crashdiff uses about one core). Each round
# runs every variant of test_crashdiff (one worker, two workers with 2-4
# clients, 64 KiB p-logs, commit intervals, armed fault points, placed
# kills) with the next seed base and the next workload mix (mixed,
# metadata, append_fsync, large_overwrite, many_fds, rename_unlink; see
# tests/differ.c); failures keep their service log in /tmp and print a
# replay line, all of which is in DIR/rounds.log. Round k uses seed base
# 1000 k; --first-round K starts at round K (to extend an earlier campaign
# with new seeds).
set -euo pipefail
cd "$(dirname "$0")/.."

crashes=100000
minutes=0
kill_ms=40
jobs=1
first=1
out=build/campaign
build=build
while [ $# -gt 0 ]; do
	case "$1" in
	--crashes) crashes=$2; shift 2 ;;
	--minutes) minutes=$2; shift 2 ;;
	--kill-ms) kill_ms=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	--first-round) first=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	*) echo "usage: $0 [--crashes N] [--minutes M] [--kill-ms MS] [--jobs J] [--first-round K] [--out DIR] [--build DIR]" >&2; exit 2 ;;
	esac
done

make --no-print-directory BUILD="$build" "$build/bin/ananke" "$build/tests/test_crashdiff" >/dev/null
mkdir -p "$out"
times="$out/recovery-us.txt"
results="$out/results.txt"
rm -f "$out"/rounds-*.log "$out"/recovery-us-*.txt
: >"$times"
: >"$results"
start=$(date +%s)
mixes=(mixed metadata append_fsync large_overwrite many_fds rename_unlink)

# The crashes counted so far, over every job's rounds.
count() {
	{ cat "$out"/rounds-*.log 2>/dev/null || true; } | { grep '^CDRESULT ' || true; } | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^crashes=/) { split($i, a, "="); n += a[2] } } END { print n + 0 }'
}

# Job J runs rounds first-1+J, then every jobs-th, until the campaign is done.
job() {
	local j=$1 round=$((first - 1 + $1)) total mix
	while :; do
		total=$(count)
		[ "$total" -lt "$crashes" ] || break
		if [ "$minutes" -gt 0 ] && [ $(( $(date +%s) - start )) -ge $(( minutes * 60 )) ]; then
			break
		fi
		mix=${mixes[$(( (round - 1) % ${#mixes[@]} ))]}
		ANK_CD_MIX=$mix ANK_CD_STOPS=0 ANK_CD_KILL_MS=$kill_ms ANK_CD_SEED_BASE=$((round * 1000)) \
			ANK_CD_RECOVERY_TIMES="$out/recovery-us-$j.txt" \
			timeout --signal=KILL 1800 "$build/tests/test_crashdiff" >>"$out/rounds-$j.log" 2>&1 || true
		echo "round $round ($mix): $(count) crashes so far ($(( $(date +%s) - start )) s)"
		round=$((round + jobs))
	done
}

for j in $(seq 1 "$jobs"); do
	job "$j" &
done
wait
cat "$out"/rounds-*.log >"$out/rounds.log" 2>/dev/null || true
grep '^CDRESULT ' "$out/rounds.log" >"$results" || true
cat "$out"/recovery-us-*.txt >"$times" 2>/dev/null || true

summary=$(awk '
	{ for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
	  seeds++; crashes += v["crashes"]; restarts += v["restarts"]; hangs += v["hangs"];
	  mismatch += v["mismatch"]; stop += v["stop"]; fsck += v["fsck"]; mixes[v["mix"]] = 1 }
	END { n = 0; for (m in mixes) n++
	      printf "%d seeds over %d workload mixes: %d crashes, %d recoveries, %d mismatches, %d hangs, %d stop failures, %d fsck failures\n",
	             seeds, n, crashes, restarts, mismatch, hangs, stop, fsck }' "$results")
pct=$(sort -n "$times" | awk '{ a[NR] = $1 } END {
	if (NR == 0) { print "no recoveries"; exit }
	p50 = a[int((NR - 1) * 0.50) + 1]; p99 = a[int((NR - 1) * 0.99) + 1];
	printf "recovery time (death to clients served again) over %d recoveries: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
	       NR, p50 / 1000, p99 / 1000, a[NR] / 1000 }')
echo "campaign: $summary"
echo "campaign: $pct"
echo "campaign: $(( $(date +%s) - start )) s; details in $out/rounds.log"
{ echo "$summary"; echo "$pct"; } >"$out/summary.txt"

if ! command -v gnuplot >/dev/null && [ "$(id -u)" -eq 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1 || true
fi
if command -v gnuplot >/dev/null && [ -s "$times" ]; then
	sort -n "$times" | awk '{ a[NR] = $1 } END { for (i = 1; i <= NR; i++) printf "%.3f %.5f\n", a[i] / 1000, i / NR }' >"$out/cdf.dat"
	gnuplot <<EOF
set terminal png size 900,500 noenhanced
set output "$out/recovery-cdf.png"
set title "Recovery time after random crashes (test_crashdiff campaign)"
set xlabel "death to clients served again (ms, log scale)"
set ylabel "fraction of recoveries"
set logscale x
set grid
set key off
plot "$out/cdf.dat" using 1:2 with lines lw 2
EOF
	echo "campaign: plot in $out/recovery-cdf.png"
fi
