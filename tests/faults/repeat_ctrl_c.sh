#!/usr/bin/env bash
# Issue 12, item 1's evidence: the Ctrl-C test, 20 times (or $1), while two busy loops
# keep both CPU cores of a small machine busy; prints "N/20 passed". Logs of failed runs
# stay in $TMPDIR. Usage: bash tests/faults/repeat_ctrl_c.sh [RUNS]
set -u
cd "$(dirname "$0")/../.."
runs=${1:-20}
test=tests/study/test_runner.py::test_ctrl_c_checkpoints_the_trial_marks_its_run_killed_and_the_rerun_resumes_it
python -c 'while True: pass' & busy1=$!
python -c 'while True: pass' & busy2=$!
trap 'kill "$busy1" "$busy2"' EXIT
passed=0
for i in $(seq "$runs"); do
    log="${TMPDIR:-/tmp}/repeat_ctrl_c.$i.log"
    if PYTHONPATH="$PWD" python -m pytest -q -p no:cacheprovider "$test" >"$log" 2>&1; then
        passed=$((passed + 1))
        rm -f "$log"
    else
        echo "run $i failed: $log"
    fi
    echo "run $i: $passed/$i passed so far"
done
echo "$passed/$runs passed"
