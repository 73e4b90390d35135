#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs each cmocka suite given as an argument, shows its output, and ends with
# one line that sums them up: "tests: N passed, N failed". Exits 1 if any
# suite failed or crashed. $VALGRIND, if set, prefixes each run.
set -u

passed=0
failed=0
status=0
log=$(mktemp "${TMPDIR:-/tmp}/kausal-tests.XXXXXX")
trap 'rm -f "$log"' EXIT

for suite in "$@"; do
    ${VALGRIND:-} "$suite" >"$log" 2>&1
    rc=$?
    cat "$log"
    total=$(sed -n 's/^\[==========\] Running \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    passed=$((passed + ${p:-0}))
    # Whatever did not pass failed, including tests a crash cut short.
    failed=$((failed + ${total:-1} - ${p:-0}))
    if [ "$rc" -ne 0 ]; then
        status=1
        echo "$suite: exited with status $rc" >&2
        [ "${total:-1}" -gt "${p:-0}" ] || failed=$((failed + 1))
    fi
done

echo "tests: $passed passed, $failed failed"
exit "$status"
