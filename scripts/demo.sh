#!/usr/bin/env bash
# demo.sh - `make demo`: first the file system core on its own (format
# ./ananke.img, scripted workload, remount, verify, fsck), then the service:
# start `ananke serve` on the same image, run a client through libananke that
# writes a tree, reads it back and verifies it, print `ananke status`, stop
# the service cleanly and check the image. Exits non-zero if anything failed.
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
echo "demo: all steps passed"
