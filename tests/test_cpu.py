"""Training processes share the cores and do not spin against each other."""

import os
import subprocess
import sys

from bench.cpu import sleeping_openmp, threads_per_process


def test_processes_share_the_cores_unless_omp_num_threads_says_otherwise(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert [threads_per_process(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads_per_process(2) == 3


def test_openmp_threads_sleep_unless_the_user_chose_otherwise():
    assert sleeping_openmp({})["OMP_WAIT_POLICY"] == "PASSIVE"
    assert sleeping_openmp({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_bench_command_sets_it():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    probe = "import sys, os; from bench import cli; sys.argv = ['bench', '--help']; cli.main()"
    code = f"import atexit, os; atexit.register(lambda: print('policy', os.environ.get('OMP_WAIT_POLICY'))); {probe}"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    assert "policy PASSIVE" in out
