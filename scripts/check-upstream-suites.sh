#!/usr/bin/env bash
# Runs psweep 0.7.0's and 0.16.0's own test suites (kept beside a clone in
# ../shared/compat, never copied here) against the psweep that PYTHON imports,
# and fails on a regression: 0.7.0's must pass whole, 0.16.0's at least
# MIN_016 tests (docs/how-to/coming-from-older-psweep.md lists the rest and why).
#
#   PYTHON=.venv/bin/python bash scripts/check-upstream-suites.sh
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suites=${PSWEEP_COMPAT_DIR:-$here/../shared/compat}
py=${PYTHON:-$here/.venv/bin/python}
case $py in /*) ;; */*) py=$PWD/$py ;; esac  # the suites run in another folder
min_016=${MIN_016:-66}
if [ ! -x "$suites/run-upstream-suites.sh" ]; then
    echo "upstream suites: $suites/run-upstream-suites.sh not found (a plain clone); skipped"
    exit 0
fi
out=$(PYTHON=$py "$suites/run-upstream-suites.sh" all 2>&1)
echo "$out" | grep -E '^(== |FAILED|ERROR|XPASS)|[0-9]+ (passed|failed)'
# the closing line of each suite (not its heading, which names upstream's own count)
summary_07=$(echo "$out" | sed -n '/^== psweep 0.7.0/,/^== psweep 0.16/p' | grep -v '^==' | grep -E '[0-9]+ passed' | tail -n 1)
summary_16=$(echo "$out" | sed -n '/^== psweep 0.16/,$p' | grep -v '^==' | grep -E '[0-9]+ passed' | tail -n 1)
passed_16=$(echo "$summary_16" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
rc=0
if [ -z "$summary_07" ] || echo "$summary_07" | grep -qE 'failed|error'; then
    echo "upstream suites: psweep 0.7.0's suite does not pass whole: $summary_07"
    rc=1
fi
if [ "${passed_16:-0}" -lt "$min_016" ]; then
    echo "upstream suites: psweep 0.16.0's suite passes $passed_16 tests, fewer than $min_016"
    rc=1
fi
[ $rc = 0 ] && echo "upstream suites: 0.7.0 whole, 0.16.0 $passed_16 passed (at least $min_016)"
exit $rc
