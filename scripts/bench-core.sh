#!/usr/bin/env bash
# bench-core.sh - build the benchmarks (`make bench`) and run
# build/bin/bench_core: the in-process Ananke core against ext4 on a
# loop-mounted image of the same size. Arguments are passed to bench_core
# (e.g. --quick, --reps 5, --image-size 1G, --files 10000, --dir DIR).
#
# The ext4 side needs root (mkfs.ext4 and `mount -o loop`); without root the
# benchmark runs the Ananke side only and says so.
#
# Unless --dir is given, the images live in a fresh directory under /var/tmp
# that this script removes on exit, even if bench_core was killed.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
make --no-print-directory bench >&2
BIN="$BUILD/bin/bench_core"

if [ "$(id -u)" -ne 0 ]; then
	echo "bench-core: not root: the ext4 side (mount -o loop) will be skipped" >&2
fi

have_dir=0
for a in "$@"; do
	case "$a" in --dir|--dir=*) have_dir=1 ;; esac
done

if [ "$have_dir" -eq 1 ]; then
	exec "$BIN" "$@"
fi

workdir=$(mktemp -d /var/tmp/bench-core.XXXXXX)
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	# bench_core unmounts by itself (and mounts in a private namespace when
	# it can); this only catches a mount left by a killed process.
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
