#!/usr/bin/env bash
# inject-campaign.sh - the long memory-corruption campaign (not in CI; needs
# root): rounds of tests/test_inject.c, each a fresh service with a new seed,
# until N injections are done; then the table of outcomes by memory class
# (heap, page cache, stack, p-log, ring) and the totals.
#
#   scripts/inject-campaign.sh [--injections N] [--per-round N] [--first-round K]
#                              [--out DIR] [--build DIR]
#
# Defaults: 20000 injections, 500 per round, out build/inject. Round k uses
# seed k; --first-round K starts at K (to extend an earlier campaign with new
# seeds: concatenate the rounds.log files).
set -euo pipefail
cd "$(dirname "$0")/.."

total=20000
per=500
first=1
out=build/inject
build=build
while [ $# -gt 0 ]; do
	case "$1" in
	--injections) total=$2; shift 2 ;;
	--per-round) per=$2; shift 2 ;;
	--first-round) first=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	*) echo "usage: $0 [--injections N] [--per-round N] [--first-round K] [--out DIR] [--build DIR]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "inject-campaign: needs root (/proc/PID/mem of the server)" >&2; exit 1; }

make --no-print-directory BUILD="$build" "$build/bin/ananke" "$build/tests/test_inject" >/dev/null
mkdir -p "$out"
: >"$out/rounds.log"
done_n=0
round=$((first - 1))
start=$(date +%s)
while [ "$done_n" -lt "$total" ]; do
	round=$((round + 1))
	ANK_INJ_SEED=$round ANK_INJ_COUNT=$per timeout --signal=KILL 3600 "$build/tests/test_inject" \
		>>"$out/rounds.log" 2>&1 || true
	done_n=$(awk '/^INJRESULT/ { for (i = 2; i <= NF; i++) if ($i ~ /^injections=/) { split($i, a, "="); n += a[2] } } END { print n + 0 }' "$out/rounds.log")
	echo "round $round: $done_n injections so far ($(( $(date +%s) - start )) s)"
done

awk '
/^INJCLASS/ { c = $2; if ($3 !~ /=/) { c = c " " $3 }
	for (i = 2; i <= NF; i++) if ($i ~ /=/) { split($i, a, "="); t[c, a[1]] += a[2]; k[a[1]] = 1 }
	cls[c] = 1 }
/^INJRESULT/ { for (i = 2; i <= NF; i++) { split($i, a, "="); r[a[1]] += a[2] } }
END {
	printf "| memory | injections | not manifested | crash, recovered | explicit error (EIO) | wrong result | hang |\n"
	printf "|---|---|---|---|---|---|---|\n"
	for (c in cls) {
		n = t[c, "none"] + t[c, "crash"] + t[c, "eio"] + t[c, "wrong"] + t[c, "hang"]
		printf "| %s | %d | %d | %d | %d | %d | %d |\n", c, n, t[c, "none"], t[c, "crash"], t[c, "eio"], t[c, "wrong"], t[c, "hang"]
	}
	printf "| all | %d | %d | %d | %d | %d | %d |\n", r["injections"], r["none"], r["crash"], r["eio"], r["wrong"], r["hang"]
	printf "\nrounds with a failed stop: %d, with fsck findings: %d\n", r["stop"], r["fsck"]
}' "$out/rounds.log" | tee "$out/summary.md"
echo "inject-campaign: $(( $(date +%s) - start )) s; details in $out/rounds.log"
