#!/usr/bin/env bash
# demo.sh - `make demo`: first the file system core on its own (format
# ./ananke.img, scripted workload, remount, verify, fsck), then the service:
# start `ananke serve` on the same image, run a client through libananke that
# writes a tree, reads it back and verifies it, print `ananke status`, stop
# the service cleanly and check the image; then transparent recovery: a
# client works for a few seconds while the server is killed four ways
# (SIGKILL, SIGSEGV, SIGABRT, a hang caught by the watchdog), and the client
# must see no error at all; then (as root) git and sqlite3 through a FUSE
# mount (`ananke mount`) while the server dies the same four ways, with
# zero errors, `ananke umount` and fsck. Exits non-zero if anything failed.
set -euo pipefail
BUILD=${1:-build}
ANANKE=$BUILD/bin/ananke
CLIENT=$BUILD/bin/ananke-demo-client
IMAGE=ananke.img
SOCK=$PWD/ananke.sock

"$ANANKE" stop --socket "$SOCK" >/dev/null 2>&1 || true
rm -f "$IMAGE"

echo "== 1. the file system core, in-process"
"$ANANKE" demo "$IMAGE"

echo
echo "== 2. the service: ananke serve, a client through libananke"
"$ANANKE" serve "$IMAGE" --socket "$SOCK"
trap '"$ANANKE" stop --socket "$SOCK" >/dev/null 2>&1 || true' EXIT
"$CLIENT" "$SOCK"
echo
"$ANANKE" status --socket "$SOCK"
echo
"$ANANKE" stop --socket "$SOCK"
trap - EXIT
"$ANANKE" fsck "$IMAGE" --quiet

echo
echo "== 3. transparent recovery: the server dies four ways under a working client"
"$ANANKE" serve "$IMAGE" --socket "$SOCK" --recovery=ananke
trap '"$ANANKE" stop --socket "$SOCK" >/dev/null 2>&1 || true' EXIT
server_pid() {
	"$ANANKE" status --socket "$SOCK" --json | sed -n 's/.*"server_pid": \([0-9]*\).*/\1/p'
}
# One second apart: SIGKILL, SIGSEGV, SIGABRT, and a hang the watchdog ends.
kill_four_ways() {
	for sig in KILL SEGV ABRT STOP; do
		sleep 1
		pid=$(server_pid)
		echo "killing the server (pid $pid) with SIG$sig$([ $sig = STOP ] && echo ': a hang, for the watchdog')"
		kill -s "$sig" "$pid"
	done
}
"$CLIENT" --loop 6 "$SOCK" &
client=$!
kill_four_ways
client_rc=0
wait "$client" || client_rc=$?
echo "recoveries (microseconds):"
"$ANANKE" status --socket "$SOCK" --json | tr '{' '\n' | grep '"total_us"' |
while read -r rec; do
	get() { echo "$rec" | sed -n "s/.*\"$1\": \"\{0,1\}\([^,\"}]*\).*/\1/p"; }
	printf '  %-10s total %6s  detect %s, hand-over %s, journal %s, p-log %s, AIM %s, resume %s\n' \
		"$(get cause)" "$(get total_us)" "$(get detect_us)" "$(get handover_us)" \
		"$(get journal_us)" "$(get plog_us)" "$(get aim_us)" "$(get resume_us)"
done
"$ANANKE" stop --socket "$SOCK"
trap - EXIT
"$ANANKE" fsck "$IMAGE" --quiet
[ "$client_rc" -eq 0 ] || { echo "demo: the application saw errors during recovery"; exit 1; }

echo
echo "== 4. unmodified programs through the FUSE mount: git and sqlite3 while the server dies four ways"
if [ "$(id -u)" -ne 0 ] || [ ! -w /dev/fuse ]; then
	echo "(needs root and /dev/fuse: skipped)"
else
	MNT=$(mktemp -d /tmp/ananke-demo-mnt.XXXXXX)
	"$ANANKE" mount "$MNT" "$IMAGE" --socket "$SOCK"
	trap '"$ANANKE" umount "$MNT" >/dev/null 2>&1 || umount -l "$MNT" 2>/dev/null; rmdir "$MNT" 2>/dev/null || true' EXIT
	(
		set -e
		cd "$MNT"
		mkdir demo4
		cd demo4
		git init -q
		printf 'int main(void) { return 0; }\n' > main.c
		git add main.c
		git -c user.name=demo -c user.email=demo@example.org commit -qm first
		sqlite3 app.db "PRAGMA journal_mode=WAL; CREATE TABLE t(n INTEGER PRIMARY KEY, v TEXT);" >/dev/null
		for i in $(seq 1 40); do
			sqlite3 app.db "BEGIN; INSERT INTO t(v) VALUES (hex(randomblob(64))); COMMIT;"
			echo "change $i" >> main.c
			git -c user.name=demo -c user.email=demo@example.org commit -qam "change $i"
			sleep 0.1
		done
		test "$(sqlite3 app.db 'PRAGMA integrity_check;')" = ok
		test "$(sqlite3 app.db 'SELECT count(*) FROM t;')" = 40
		test "$(git rev-list --count HEAD)" = 41
		git fsck --full 2>&1 | { ! grep -v '^Checking'; }
		echo "  git: 41 commits, fsck clean; sqlite3 (WAL): 40 rows, integrity_check ok"
	) &
	work=$!
	kill_four_ways
	work_rc=0
	wait "$work" || work_rc=$?
	"$ANANKE" status --socket "$SOCK" | grep -E '^(restarts|recoveries):'
	"$ANANKE" umount "$MNT"
	trap - EXIT
	rmdir "$MNT"
	"$ANANKE" fsck "$IMAGE" --quiet
	[ "$work_rc" -eq 0 ] || { echo "demo: a program saw an error through the mount"; exit 1; }
fi
echo
echo "demo: all steps passed"
