import os
import sys

import pytest

from bench.cpu import sleeping_openmp

# What `bench` does before a command imports torch (bench.cli.main): idle OpenMP threads
# sleep. The tests run commands and training in this process, which imports torch before
# any of them; its spinning threads made each step and evaluation here several times
# slower on a loaded machine. It must run before torch is first imported, hence here.
sleeping_openmp()


@pytest.fixture(autouse=True, scope="session")
def bench_home(tmp_path_factory):
    """Everything tests write (reference caches, runs) goes to one temp folder; tests
    that use a home of their own still share its cache (built once per session, or
    kept across sessions in a BENCH_CACHE set from outside, as when iterating)."""
    home = tmp_path_factory.mktemp("bench-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_HOME", str(home))
    mp.setenv("BENCH_CACHE", os.environ.get("BENCH_CACHE") or str(home / "cache"))
    # no monitor thread writing to every test's store; the tests of system metrics turn it on
    mp.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    yield home
    mp.undo()


@pytest.fixture
def bench(monkeypatch, capsys):
    """Run the `bench` command in-process: returns (exit code, stdout, stderr)."""
    from bench import cli

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["bench", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        captured = capsys.readouterr()
        return exit_info.value.code or 0, captured.out, captured.err

    return run


@pytest.fixture
def one_thread():
    """One thread: a population's stacked sums round as solo's do (bench.gan.population)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def study_file():
    """Writes a one-entry study (seed000-fc on MNIST, ``lr_g`` searched) to ``folder/name.toml``:
    the smallest study there is, for tests that run one."""

    def write(folder, name, trials, steps, fixed="", repeats="[]"):
        path = folder / f"{name}.toml"
        path.write_text(
            f'datasets = ["mnist"]\ntrials = {trials}\nrepeats = {repeats}\nobjectives = ["fid"]\n[budget]\ncpu = {steps}\nfull = {steps}\n'
            f'[evaluation]\nfinal_samples = 100\n[variants.seed000-fc]\nfixed = {{ {fixed} }}\n'
            '[variants.seed000-fc.search]\nlr_g = { type = "log-float", low = 1e-4, high = 1e-3 }\n'
        )
        return path

    return write


TINY_STUDY = """description = "Two fully connected GANs, briefly"
datasets = ["mnist"]
trials = 2
repeats = [1, 2]
objectives = ["fid", "kl_uniform"]
[budget]
cpu = 20
full = 20
[evaluation]
final_samples = 100
[variants.seed000-fc.search]
lr_g = { type = "log-float", low = 1e-4, high = 1e-3 }
[variants.seed002-fc.search]
lr_d = { type = "log-float", low = 1e-4, high = 1e-3 }
"""


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """``tiny``, a finished study in a home of its own, shared by the tests that read one
    (test_report, test_best, test_browsing): two entries, two trials each (so a chosen trial
    is one of two) and two repeats, 20 steps scored at the end, two objectives (a Pareto
    front), run by two workers (so its runs carry the 2-worker ``threads``). No evaluation
    during training: `bench train --config` of a trial evaluated at step 10 as well came out
    different after that step (test_best), which this study is not the place to chase. Built once: a
    study's run costs most of its time in starting the worker processes and the stores.
    Tests may add runs to experiments of their own, never to ``tiny``; use ``in_tiny_study``
    to point BENCH_HOME at it."""
    from types import SimpleNamespace

    from bench.study import runner, spec

    folder = tmp_path_factory.mktemp("tiny-study")
    path = folder / "tiny.toml"
    path.write_text(TINY_STUDY)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_HOME", str(folder / "home"))
        lines = list(runner.run(spec.load(str(path)), device="cpu", workers=2, progress=False, say=lambda line: None,
                                 estimate_cost=False))
    return SimpleNamespace(home=folder / "home", path=path, text=TINY_STUDY, steps=20, entries=("seed000-fc", "seed002-fc"), lines=lines)


@pytest.fixture
def in_tiny_study(tiny_study, monkeypatch):
    """``tiny_study``, with BENCH_HOME pointing at its home for the test."""
    monkeypatch.setenv("BENCH_HOME", str(tiny_study.home))
    return tiny_study
