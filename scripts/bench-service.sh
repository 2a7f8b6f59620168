#!/usr/bin/env bash
# bench-service.sh - build the service and the benchmarks (`make`) and run
# build/bin/bench_service: the Ananke service through libananke against ext4
# on a loop-mounted image of the same size and tmpfs, through syscalls.
# Arguments are passed to bench_service (e.g. --quick, --reps 5,
# --image-size 1G, --files 10000, --dir DIR); see `bench_service --help`.
#
# bench_service starts `ananke serve` itself (one service per repetition)
# and stops it with `ananke stop`. The ext4 and tmpfs sides need root
# (mount); without root the benchmark runs the Ananke side only and says so.
#
# Unless --dir is given, everything lives in a fresh directory under /var/tmp
# that this script removes on exit, even if bench_service was killed (a
# service left behind by a killed run is stopped through its socket there).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
make --no-print-directory "$BUILD/bin/ananke" bench >&2
BIN="$BUILD/bin/bench_service"
ANANKE="$BUILD/bin/ananke"

if [ "$(id -u)" -ne 0 ]; then
	echo "bench-service: not root: the ext4 and tmpfs sides (mount) will be skipped" >&2
fi

have_dir=0
for a in "$@"; do
	case "$a" in --dir|--dir=*) have_dir=1 ;; esac
done

if [ "$have_dir" -eq 1 ]; then
	exec "$BIN" "$@"
fi

workdir=$(mktemp -d /var/tmp/bench-service.XXXXXX)
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	# bench_service stops its service and unmounts by itself (mounts are in
	# a private namespace when it can); this only catches what a killed
	# process left behind.
	for sock in "$workdir"/*/s; do
		if [ -S "$sock" ]; then
			timeout 90 "$ANANKE" stop --socket "$sock" >/dev/null 2>&1 || true
		fi
	done
	if command -v findmnt >/dev/null; then
		{ findmnt -rn -o TARGET | grep -F "$workdir/" || true; } | sort -r |
			while read -r m; do
				umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
			done
	fi
	rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
"$BIN" --dir "$workdir" "$@" || rc=$?
exit "$rc"
