#!/usr/bin/env bash
# bench-recovery.sh - build (`make`) and run the two recovery benchmarks:
#
#  1. throughput of the service in each recovery mode, interleaved:
#     build/bin/bench_service --modes none,ananke,sync --no-ext4 --no-tmpfs
#     --reps 9 (ratios ananke/none and sync/none);
#  2. recovery time against p-log fill over repeated SIGKILLs:
#     build/bin/bench_recovery (100 crashes at each of 0%, 50% and 92% of a
#     4 MiB p-log per worker, 2 workers).
#
# Usage: scripts/bench-recovery.sh [--quick] [--only throughput|recovery]
#                                  [--throughput-args "ARGS"]
#                                  [--recovery-args "ARGS"]
#   --quick            smoke test of both (about a minute)
#   --only X           run one of the two
#   --*-args "ARGS"    more options for that program (word-split), e.g.
#                      --throughput-args "--reps 9" --recovery-args "--csv /tmp/r.csv"
#
# Root is not needed. Everything lives in a fresh directory under /var/tmp
# that this script removes on exit, even if a benchmark was killed (a
# service left behind is stopped through its socket there).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
only=""
targs=""
rargs=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=(--quick) ;;
	--only)
		only=${2:?--only needs throughput or recovery}
		shift ;;
	--only=*) only=${1#--only=} ;;
	--throughput-args)
		targs=${2?--throughput-args needs a value}
		shift ;;
	--throughput-args=*) targs=${1#--throughput-args=} ;;
	--recovery-args)
		rargs=${2?--recovery-args needs a value}
		shift ;;
	--recovery-args=*) rargs=${1#--recovery-args=} ;;
	-h|--help)
		sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
		exit 0 ;;
	*)
		echo "bench-recovery: unknown argument $1 (see --help)" >&2
		exit 2 ;;
	esac
	shift
done
case "$only" in
"" | throughput | recovery) ;;
*)
	echo "bench-recovery: --only takes throughput or recovery" >&2
	exit 2 ;;
esac

BUILD=${BUILD:-build}
make --no-print-directory "$BUILD/bin/ananke" bench >&2
ANANKE="$BUILD/bin/ananke"

workdir=$(mktemp -d /var/tmp/bench-recovery.XXXXXX)
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	# The benchmarks stop their services themselves; this only catches what
	# a killed benchmark left behind.
	for sock in "$workdir"/*/s; do
		if [ -S "$sock" ]; then
			timeout 90 "$ANANKE" stop --socket "$sock" >/dev/null 2>&1 || true
		fi
	done
	rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
if [ "$only" != recovery ]; then
	echo "=== 1. throughput by recovery mode ==="
	reps=(--reps 9)
	[ ${#quick[@]} -eq 0 ] || reps=()
	# shellcheck disable=SC2086  # the extra arguments are word-split on purpose
	"$BUILD/bin/bench_service" --modes none,ananke,sync --no-ext4 --no-tmpfs \
		"${reps[@]}" --dir "$workdir" "${quick[@]}" $targs || rc=$?
	echo
fi
if [ "$only" != throughput ]; then
	echo "=== 2. recovery time by p-log fill ==="
	# shellcheck disable=SC2086
	"$BUILD/bin/bench_recovery" --dir "$workdir" "${quick[@]}" $rargs || rc=$?
fi
exit "$rc"
