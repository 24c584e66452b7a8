#!/usr/bin/env bash
# The checks that need a GPU (issues 10 and 11), as one run on the device machine:
#   bash ../shared/gpu/wheelhouse.sh      # here, once: mlflow and optuna wheels into .whl/
#   device run, carrying .whl:  bash tests/gpu/check.sh [NAME ...]   (default: every check)
# Each check's whole output goes to $OUT/<name>.log (kept by the device tool); a line per
# check says its exit status and seconds. Every check together is about 12 minutes at
# most, over one command's 10: run them in two commands, e.g.
#   bash tests/gpu/check.sh graphed population-cuda speed-dcgan speed-metrics
#   bash tests/gpu/check.sh speed-population sizing
set -uo pipefail
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
export BENCH_CACHE=/tmp/bench-cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"

wanted=" $* "
check() {  # check NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    [ "$wanted" = "  " ] || [[ "$wanted" == *" $name "* ]] || return 0
    local start=$SECONDS
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    echo "== $name: rc=$? in $((SECONDS - start)) s ($*)"
    tail -n 12 "$out/$name.log"
}

check graphed 150 python3 -m pytest -q -x -p no:cacheprovider tests/gan/test_graphed.py
check population-cuda 120 python3 -m pytest -q -p no:cacheprovider tests/gan/test_population.py -k cuda
check speed-dcgan 90 python3 -m bench speed --variant dcgan --device cuda
check speed-population 180 python3 -m bench speed --variant dcgan --device cuda --population 1,4,16 --steps 50
check speed-metrics 90 python3 -m bench speed --metrics --device cuda
# bench run's default --population on this GPU, as if populations were verified here (the
# check above is what verifies them): each setup of mode-collapse measured, 10 workers
check sizing 150 python3 -c "from bench.gan import population; population.unverified_on = lambda device: None
from bench.study import sizing, spec; print(sizing.default_population(spec.load('mode-collapse'), 'cuda', 10).line())"
