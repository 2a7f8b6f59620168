#!/usr/bin/env bash
# demo.sh - `make demo`: first the file system core on its own (format
# ./ananke.img, scripted workload, remount, verify, fsck), then the service:
# start `ananke serve` on the same image, run a client through libananke that
# writes a tree, reads it back and verifies it, print `ananke status`, stop
# the service cleanly and check the image; then transparent recovery: a
# client works for a few seconds while the server is killed four ways
# (SIGKILL, SIGSEGV, SIGABRT, a hang caught by the watchdog), and the client
# must see no error at all. Exits non-zero if anything failed.
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
"$CLIENT" --loop 6 "$SOCK" &
client=$!
for sig in KILL SEGV ABRT STOP; do
	sleep 1
	pid=$(server_pid)
	echo "killing the server (pid $pid) with SIG$sig$([ $sig = STOP ] && echo ': a hang, for the watchdog')"
	kill -s "$sig" "$pid"
done
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
echo "demo: all steps passed"
