#!/usr/bin/env bash
# bench-fuse.sh - the FUSE front door against the reference, side by side in
# one run: the service through its FUSE mount (`ananke mount`: "ananke" with
# the default options, "ananke-wb" with --writeback), libfuse's passthrough_ll
# example (built from the libfuse3-dev package's examples) over ext4, as it
# comes ("passthrough_ll": extended attributes off) and with -o xattr
# ("pt-xattr"), and ext4 itself; every file system on its own image of
# --image-size under a fresh /var/tmp directory. build/bin/bench_fuse measures
# them interleaved (see its header). Then the stall a program sees across
# server kills (--kills N, default 100; build/bin/bench_stall). Needs root.
# Arguments after the options go to bench_fuse (e.g. --reps 3 --files 1000).
set -euo pipefail
ulimit -n 1048576 2>/dev/null || ulimit -n 65536 2>/dev/null || true # (passthrough_ll keeps an fd per inode)
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
SIZE=4G
KILLS=100
while [ $# -gt 0 ]; do
	case "$1" in
	--image-size) SIZE=$2; shift 2 ;;
	--kills) KILLS=$2; shift 2 ;;
	*) break ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench-fuse: needs root (mount)" >&2; exit 1; }
make --no-print-directory "$BUILD/bin/ananke" "$BUILD/bin/ananke-fuse" "$BUILD/bin/bench_fuse" \
	"$BUILD/bin/bench_stall" >&2
ANANKE=$BUILD/bin/ananke
EX=/usr/share/doc/libfuse3-dev/examples

w=$(mktemp -d /var/tmp/bench-fuse.XXXXXX)
cleanup() {
	for m in "$w/an" "$w/wb" "$w/pt" "$w/ptx" "$w/ext4"; do
		mountpoint -q "$m" 2>/dev/null && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	for s in "$w/an.sock" "$w/wb.sock"; do
		[ -S "$s" ] && timeout 90 "$ANANKE" stop --socket "$s" >/dev/null 2>&1
	done
	[ -n "${pt_pid:-}" ] && kill "$pt_pid" 2>/dev/null
	[ -n "${ptx_pid:-}" ] && kill "$ptx_pid" 2>/dev/null
	rm -rf --one-file-system "$w"
}
trap cleanup EXIT

# passthrough_ll, from the installed examples (not part of this project)
cc -O2 -o "$w/passthrough_ll" "$EX/passthrough_ll.c" $(pkg-config --cflags --libs fuse3)

mkdir -p "$w/ext4" "$w/pt" "$w/ptx" "$w/an" "$w/wb"
truncate -s "$SIZE" "$w/ext4.img"
mkfs.ext4 -q -F "$w/ext4.img"
mount -o loop "$w/ext4.img" "$w/ext4"
mkdir -p "$w/ext4/plain" "$w/ext4/under-pt" "$w/ext4/under-ptx"
# passthrough_ll as it comes (extended attributes off: the kernel stops
# asking for them, so a write is one request), and with -o xattr
"$w/passthrough_ll" -o source="$w/ext4/under-pt" -o allow_other "$w/pt" &
pt_pid=$!
"$w/passthrough_ll" -o source="$w/ext4/under-ptx" -o allow_other -o xattr "$w/ptx" &
ptx_pid=$!
for m in pt ptx; do
	for _ in $(seq 1 100); do mountpoint -q "$w/$m" && break; sleep 0.05; done
	mountpoint -q "$w/$m" || { echo "bench-fuse: passthrough_ll did not mount $m" >&2; exit 1; }
done

# the service twice: as mounted by default, and with the kernel's writeback cache
"$ANANKE" mkfs "$w/an.img" --size "$SIZE" >/dev/null
"$ANANKE" mount "$w/an" "$w/an.img" --socket "$w/an.sock" >/dev/null
"$ANANKE" mkfs "$w/wb.img" --size "$SIZE" >/dev/null
"$ANANKE" mount "$w/wb" "$w/wb.img" --socket "$w/wb.sock" --writeback >/dev/null

# a tree of about 10,000 files (1 to 8 KiB) to untar
mkdir "$w/tree"
for d in $(seq 1 100); do
	mkdir "$w/tree/d$d"
	for f in $(seq 1 100); do
		head -c $(( (d * 131 + f * 71) % 7168 + 1024 )) /dev/urandom > "$w/tree/d$d/f$f.c"
	done
done
tar cf "$w/tree.tar" -C "$w/tree" .
rm -rf "$w/tree"

echo "== bench_fuse (ananke = the service through its FUSE mount)"
"$BUILD/bin/bench_fuse" --tar "$w/tree.tar" "$@" ananke="$w/an" ananke-wb="$w/wb" \
	passthrough_ll="$w/pt" pt-xattr="$w/ptx" ext4="$w/ext4/plain" || echo "bench-fuse: bench_fuse reported errors (above)"

echo
echo "== the stall a program sees across $KILLS server kills"
"$BUILD/bin/bench_stall" --kills "$KILLS" --socket "$w/an.sock" --ananke "$ANANKE" "$w/an"
