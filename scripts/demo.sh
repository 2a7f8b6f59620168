#!/usr/bin/env bash
# demo.sh - `make demo`: run the demo workload on ./ananke.img and print its
# summary. Exits non-zero if anything failed.
set -euo pipefail
ANANKE=${1:-build/bin/ananke}
exec "$ANANKE" demo ananke.img
