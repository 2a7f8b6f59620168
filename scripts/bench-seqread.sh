#!/usr/bin/env bash
# bench-seqread.sh - build the service and bench_seqread, start a service
# with an 8 MiB page cache on a fresh 1 GiB image in a temporary directory,
# and read a file larger than the cache sequentially (4 KiB and 1 MiB
# reads): every block comes from the device. Arguments go to bench_seqread
# (--size SIZE, default 64M; --reps N, default 5). Extra `ananke serve`
# options: SERVE_OPTS="--recovery=none".
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
make --no-print-directory "$BUILD/bin/ananke" "$BUILD/bin/bench_seqread" >&2
ANANKE="$BUILD/bin/ananke"
dir=$(mktemp -d /var/tmp/bench-seqread.XXXXXX)
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	[ -S "$dir/s" ] && timeout 90 "$ANANKE" stop --socket "$dir/s" >/dev/null 2>&1 || true
	rm -rf --one-file-system "$dir"
}
trap cleanup EXIT
"$ANANKE" mkfs "$dir/img" --size 1G >/dev/null
# shellcheck disable=SC2086  # SERVE_OPTS is a list of options
"$ANANKE" serve "$dir/img" --socket "$dir/s" --cache-size 8M ${SERVE_OPTS:-} >/dev/null
echo "service: ananke serve IMG --cache-size 8M ${SERVE_OPTS:-} ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
"$BUILD/bin/bench_seqread" --socket "$dir/s" "$@"
