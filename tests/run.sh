#!/usr/bin/env bash
# run.sh - run every test binary in $BUILD/tests, each under a time limit,
# and print one count line for the whole suite: "N passed, N failed".
# A test binary is a cmocka group; its "[       OK ]" and "[  FAILED  ]"
# lines are counted. A binary that crashes or times out counts as one failure.
set -u
BUILD=${BUILD:-build}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0; failed=0; failed_names=()
log_dir="$BUILD/test-logs"; mkdir -p "$log_dir"
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	log="$log_dir/$name.log"
	start=$(date +%s)
	timeout --signal=KILL "${TEST_TIMEOUT:-600}" "$t" >"$log" 2>&1
	rc=$?
	ok=$(grep -c '^\[       OK \]' "$log")
	bad=$(grep -c '^\[  FAILED  \]' "$log")
	# cmocka prints a summary "[  FAILED  ] N test(s), listed below:" plus one
	# line per failed test: count only the per-test lines.
	bad=$(grep '^\[  FAILED  \]' "$log" | grep -vc 'test(s), listed below' || true)
	if [ "$bad" -gt 0 ]; then bad=$(( bad / 2 )); fi
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
	passed=$((passed + ok)); failed=$((failed + bad))
	printf '%-32s %4d passed %3d failed  (%ds)\n' "$name" "$ok" "$bad" $(( $(date +%s) - start ))
	if [ "$bad" -gt 0 ]; then
		failed_names+=("$name"); tail -n 40 "$log" | sed 's/^/    /'
	fi
done
# Repeat where each failing binary first went wrong (its first failed
# test's output, shortened) where the end of a long run shows it.
for name in "${failed_names[@]}"; do
	log="$log_dir/$name.log"
	first=$(grep -m1 -n '^\[  FAILED  \]' "$log" | cut -d: -f1)
	[ -n "$first" ] || first=$(wc -l <"$log")
	start=$(grep -n '^\[ RUN      \]' "$log" | cut -d: -f1 | awk -v f="$first" '$1 <= f' | tail -n 1)
	echo "$name, first failure:"
	sed -n "${start:-1},${first}p" "$log" | grep -v '^-- ' | tail -n 14 | cut -c1-200 | sed 's/^/    /'
done
[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]} (logs in $log_dir)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
