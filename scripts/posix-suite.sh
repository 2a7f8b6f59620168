#!/bin/bash
# posix-suite.sh - run pjdfstest (the POSIX conformance suite of FreeBSD's
# pjd, https://github.com/pjd/pjdfstest) through an `ananke mount`, as root,
# optionally while the server is SIGKILLed and SIGSTOPped again and again;
# then unmount and fsck. Not part of `make test`: the suite is not packaged
# for Debian, so it is built here from a checkout the caller provides (it
# is never part of this repository).
#
#   scripts/posix-suite.sh --suite DIR [--kill] [--build DIR] [--out FILE]
#
# --suite DIR   a pjdfstest source tree (pjdfstest.c, tests/)
# --kill        kill the serving server every 0.3-1.0 s (SIGKILL four times
#               in five, SIGSTOP otherwise: the watchdog must replace it)
# --build DIR   where build/bin/ananke is (default: build)
# --out FILE    prove's output (default: build/posix-suite.log)
#
# Prints prove's summary, the number of server restarts, and fsck's verdict.
# Exit 0 when every test passed and fsck is clean.
set -u
suite= kill=0 build=build out=build/posix-suite.log
while [ $# -gt 0 ]; do
	case "$1" in
	--suite) suite=$2; shift 2 ;;
	--kill) kill=1; shift ;;
	--build) build=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "usage: $0 --suite DIR [--kill] [--build DIR] [--out FILE]" >&2; exit 2 ;;
	esac
done
[ -n "$suite" ] && [ -f "$suite/pjdfstest.c" ] || { echo "$0: --suite DIR with pjdfstest.c" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: run as root (the suite changes owners)" >&2; exit 2; }
command -v prove > /dev/null || { echo "$0: prove (perl) is needed" >&2; exit 2; }
ananke=$(readlink -f "$build/bin/ananke")
[ -x "$ananke" ] || { echo "$0: no $build/bin/ananke (make first)" >&2; exit 2; }

work=$(mktemp -d /tmp/ank-posix-XXXXXX)
mnt=$work/mnt img=$work/img sock=$work/sock
mkdir -p "$mnt"
cleanup() {
	touch "$work/stop"
	"$ananke" umount "$mnt" > /dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

# The suite's configure script only finds which calls exist; on Linux
# they all do but BSD's, so the build names them itself.
defs="-DHAVE_FACCESSAT -DHAVE_FCHMODAT -DHAVE_FCHOWNAT -DHAVE_FSTATAT -DHAVE_LINKAT
      -DHAVE_MKDIRAT -DHAVE_MKFIFOAT -DHAVE_MKNODAT -DHAVE_OPENAT -DHAVE_POSIX_FALLOCATE
      -DHAVE_READLINKAT -DHAVE_RENAMEAT -DHAVE_SYMLINKAT -DHAVE_UTIMENSAT
      -DHAVE_STRUCT_STAT_ST_ATIM -DHAVE_STRUCT_STAT_ST_MTIM -DHAVE_STRUCT_STAT_ST_CTIM"
echo '#include <sys/sysmacros.h>' > "$suite/config.h"
# shellcheck disable=SC2086
gcc -O1 -D_GNU_SOURCE $defs -o "$suite/pjdfstest" "$suite/pjdfstest.c" || exit 1

"$ananke" mkfs "$img" --size 512M > /dev/null || exit 1
"$ananke" mount "$mnt" "$img" --socket "$sock" > "$work/mount.log" 2>&1 < /dev/null || {
	cat "$work/mount.log"; exit 1; }

killer() {
	local n=0 pid
	while [ ! -e "$work/stop" ]; do
		sleep "0.$(( RANDOM % 8 + 3 ))"
		pid=$("$ananke" status --socket "$sock" --json 2> /dev/null |
		      grep -o '"server_pid": [0-9]*' | grep -o '[0-9]*$')
		[ -n "$pid" ] && [ "$pid" -gt 0 ] || continue
		if [ $(( RANDOM % 5 )) -eq 0 ]; then kill -STOP "$pid"; else kill -KILL "$pid"; fi 2> /dev/null
		n=$(( n + 1 ))
	done
	echo "$n" > "$work/kills"
}
[ "$kill" = 1 ] && killer &

mkdir -p "$(dirname "$out")"
(cd "$mnt" && timeout 3000 prove -r "$(readlink -f "$suite")/tests") > "$out" 2>&1
rc=$?
touch "$work/stop"
wait
restarts=$("$ananke" status --socket "$sock" 2> /dev/null | sed -n 's/^restarts: //p')
tail -n 4 "$out"
kills=
[ "$kill" = 1 ] && kills=" (kills and stops sent: $(cat "$work/kills" 2> /dev/null || echo 0))"
echo "server restarts: ${restarts:-?}$kills"
"$ananke" umount "$mnt" || rc=1
"$ananke" fsck "$img" || rc=1
exit $rc
