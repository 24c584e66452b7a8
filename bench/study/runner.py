"""``bench run --study``: the launcher.

It prepares everything shared before any worker starts (the Optuna studies with their
trial slots, the MLflow database, experiment and parent runs), sweeps trials left
running by dead workers, starts ``workers`` worker processes and shows their progress,
then logs each parent's best values and the study's leaderboard and plots.
Running the same command again continues the study.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import optuna
import torch
from mlflow import MlflowClient
from mlflow.entities import Param

from bench import data, evaluator
from bench.cpu import sleeping_openmp, threads_per_process
from bench.errors import BenchError, RunFailed
from bench.files import STORE_EXIT, check_writable, free_space, home, store_failure
from bench.gan import variants
from bench.study import queue, report
from bench.study.estimate import estimate
from bench.study.progress import Monitor, read_progress
from bench.study.sizing import default_population
from bench.signals import Interrupts
from bench.study.spec import Study, task_name
from bench.study.worker import (Options, best_trial, directions, kill_run, objective_names, options_json, parent_run, repeats_name,
                                searched)
from bench.tracking import MLflowTracker, check_tracking_uri, create_store, default_tracking_uri, run_name, source_tags

optuna.logging.set_verbosity(optuna.logging.WARNING)


def budget_tier(budget: str | None, device: str) -> str:
    if budget is None:
        return "full" if torch.device(device).type == "cuda" else "cpu"
    if budget not in ("cpu", "full"):
        raise BenchError(f"--budget {budget!r}; valid: cpu, full")
    return budget


def run(study: Study, trials: int | None = None, budget: str | None = None, device: str = "cpu", storage: str | None = None,
        tracking_uri: str | None = None, workers: int = 1, progress: bool = True, say: Callable[[str], None] | None = None,
        population: int | None = None, estimate_cost: bool = True) -> Iterator[str]:
    """Run every task of ``study`` with ``workers`` local processes, each training up to
    ``population`` trials at once as one population (default: ``sizing.default_population``);
    yields report lines. On a CPU the study's cost is measured first (``estimate_cost``), a
    few seconds per entry.
    A line per finished trial is shown above the live display, or, without it, passed to
    ``say`` (default: stdout, flushed for logs) as the trial ends. They are not yielded: a
    Ctrl-C landing while the consumer prints one would skip the workers' orderly stop."""
    tier = budget_tier(budget, device)
    if workers < 1:
        raise BenchError(f"--workers {workers}; give at least 1")
    if population is not None and population < 1:
        raise BenchError(f"--population {population}; give at least 1 (1: every trial trains alone)")
    n = trials or study.trials
    for dataset in study.datasets:  # everything is checked before anything is written
        data.check_available(dataset)
        evaluator.load(dataset)
    check_writable()
    check_tracking_uri(tracking_uri or default_tracking_uri())
    queue.check_storage(storage)  # last: a new SQLite storage is created by its check
    sized = default_population(study, device, workers) if population is None else None
    options = Options(str(study.path.resolve()), n, tier, device, storage, tracking_uri or default_tracking_uri(),
                      threads=threads_per_process(workers), population=sized.population if sized else population)
    population = options.population
    repeats = f" (+{len(study.repeats)} repeats)" if study.repeats else ""
    yield (f"study {study.name}: {len(study.tasks())} tasks x {n} trial{'s' * (n > 1)}{repeats}, budget '{tier}' "
           f"({study.budget[tier]} steps per trial), device {device}, {workers} worker{'s' * (workers > 1)} "
           f"({options.threads} CPU thread{'s' * (options.threads > 1)} each)"
           + (f", populations of up to {population} trials" if population > 1 else ""))
    if sized and torch.device(device).type == "cuda":  # on a CPU trials train alone unless asked
        yield sized.line()
    parents = prepare(study, options)
    swept = sweep(study, options)
    if swept:
        yield f"swept {swept} trial{'s' * (swept > 1)} left running by a dead worker; {'they' if swept > 1 else 'it'} will resume from the checkpoint"
    if estimate_cost and torch.device(device).type == "cpu" and (cost := estimate(study, tier, queue.storage_for(storage), workers, options.threads)):
        yield cost.line(options.threads)
    client = MlflowClient(options.tracking_uri)
    with Interrupts() as interrupts:  # Ctrl-C or SIGTERM, from here to the summary
        try:
            if _work_left(study, options):  # a finished study needs no worker (each costs seconds of imports)
                _run_workers(options, workers, Monitor(study, options, parents, workers, enabled=progress, say=say or _print), interrupts)
        except (KeyboardInterrupt, RunFailed):  # stopped before its end: the rerun continues it
            _end_parents(client, parents)
            raise
        yield from finish(study, options, parents)
        if interrupts.interrupted:  # it arrived while the summary was written, and was swallowed there
            raise KeyboardInterrupt


def _print(line: str) -> None:
    print(line, flush=True)


def _end_parents(client: MlflowClient, parents: dict) -> None:
    """KILLED, as their trials; a store that refuses it (a full disk) leaves them RUNNING for
    the rerun, and the error that stopped the study is the one reported."""
    try:
        for parent in parents.values():
            client.set_terminated(parent, "KILLED")
    except Exception as e:
        if store_failure(e) is None:
            raise


def prepare(study: Study, options: Options) -> dict[tuple[str, str], str]:
    """Slots and parent runs for every task; returns {(dataset, entry): parent run id}."""
    storage = queue.storage_for(options.storage)
    create_store(options.tracking_uri)
    client = MlflowClient(options.tracking_uri)
    parents = {}
    for dataset, plan in study.tasks():
        defaults = variants.get(plan.variant).config(plan.fixed)
        first = {p.name: getattr(defaults, p.targets[0]) / (p.scale or [1])[0] for p in plan.search}  # the preset's own settings go first
        queue.ensure_slots(storage, task_name(study, dataset, plan), directions(study), options.trials, first, metric_names=objective_names(study))
        parent = parent_run(client, study, dataset, plan)
        if parent is None:
            tags = {"study": study.name, "dataset": dataset, "entry": plan.name, "variant": plan.variant, "kind": "parent",
                    "searched": searched(plan)} | source_tags(f"bench run --study {study.name}")
            tracker = MLflowTracker(study.name, run_name(plan.name, dataset), tags, options.tracking_uri)
            tracker.log_params(report.search_space(study, plan))
            parent = tracker.run_id
        else:
            if not client.get_run(parent).data.params:  # made before parents carried their search
                client.log_batch(parent, params=[Param(k, str(v)) for k, v in report.search_space(study, plan).items()])
            client.update_run(parent, status="RUNNING")
        parents[dataset, plan.name] = parent
    return parents


def sweep(study: Study, options: Options) -> int:
    """Requeue trials whose worker died (their MLflow runs become KILLED); returns how many."""
    storage = queue.storage_for(options.storage)
    client = MlflowClient(options.tracking_uri)
    swept = 0
    for dataset, plan in study.tasks():
        for name in (task_name(study, dataset, plan), repeats_name(study, dataset, plan)):
            if (existing := queue.load_existing(storage, name)) is not None:
                swept += len(queue.sweep(existing, lambda t: kill_run(client, t, name)))
    return swept


def _run_workers(options: Options, count: int, monitor: Monitor, interrupts: Interrupts) -> None:
    """Start ``count`` worker processes and watch them until all have exited. Ctrl-C or
    SIGTERM stops them all, each after saving its trial, however long that takes."""
    processes = [
        subprocess.Popen([sys.executable, "-m", "bench.study.worker", options_json(dataclasses.replace(options, index=i))],
                         env=sleeping_openmp(dict(os.environ)))
        for i in range(count)
    ]
    try:
        with monitor:
            while any(p.poll() is None for p in processes) and not interrupts.interrupted:
                monitor.update([p.pid for p in processes])
                monitor.wait(2.0)
            monitor.update([])
    except KeyboardInterrupt:
        _stop(processes, interrupts)
        raise
    if interrupts.interrupted:  # the interrupt was swallowed on its way up: the study still stops
        _stop(processes, interrupts)
        raise KeyboardInterrupt
    refused = [i for i, p in enumerate(processes) if p.returncode == STORE_EXIT]
    if refused:  # each said which file; the disk is the same for all of them
        raise RunFailed(f"worker{'s' * (len(refused) > 1)} {', '.join(map(str, refused))} could not write under {home()} (see the line above); "
                        f"if the disk is full, {free_space()}; if it is read-only, make it writable; then run the same command again to continue")
    failed = [(i, p.returncode) for i, p in enumerate(processes) if p.returncode not in (0, None)]
    if failed:
        raise RunFailed(f"worker{'s' * (len(failed) > 1)} {', '.join(f'{i} (exit {rc})' for i, rc in failed)} stopped early; "
                         "see the messages above, then run the same command again to continue")


def _stop(processes: list[subprocess.Popen], interrupts: Interrupts) -> None:
    """Ask every worker to stop (a terminal's Ctrl-C reached them already; a second
    signal does not disturb a worker that is saving) and wait for each to save its
    trial. A second Ctrl-C says what is being saved; a third kills the workers."""
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    said = 1
    while running := [p for p in processes if p.poll() is None]:
        if interrupts.count >= 3:
            for p in running:
                p.kill()
            print(f"forced: killed {len(running)} worker(s); their trials resume from their last periodic checkpoint", file=sys.stderr)
            return
        if interrupts.count > said:
            said = interrupts.count
            saving = ", ".join(_running_trial(p.pid) for p in running)
            print(f"still saving: {saving}; Ctrl-C once more to kill them (their trials lose the steps since their last checkpoint)",
                  file=sys.stderr)
        try:
            running[0].wait(timeout=0.2)  # wakes at the exit, or to look at the count again
        except subprocess.TimeoutExpired:
            pass
    for p in processes:
        p.wait()


def _running_trial(pid: int) -> str:
    """What worker ``pid`` is training, from its progress files (one per member of a population)."""
    trials = [f"{p['task']} {p['kind']} {p['slot']}, step {p['step']:,}" for p in read_progress([pid]).values() if "task" in p]
    return f"worker {pid} ({'; '.join(trials)})" if trials else f"worker {pid}"


def finish(study: Study, options: Options, parents: dict[tuple[str, str], str]) -> Iterator[str]:
    """Best values on each parent, which ends FINISHED once all its slots are done; then
    the leaderboard and the study's plots."""
    storage = queue.storage_for(options.storage)
    client = MlflowClient(options.tracking_uri)
    unfinished = 0
    for dataset, plan in study.tasks():
        search = optuna.load_study(study_name=task_name(study, dataset, plan), storage=storage)
        trials = queue.counted(search.get_trials(deepcopy=False))
        parent = parents[dataset, plan.name]
        report.log_best(client, parent, study, trials)
        if _complete(study, storage, search, options.trials, dataset, plan):
            report.log_chosen(client, parent, study, trials)
            client.set_terminated(parent, "FINISHED")
        else:  # a worker elsewhere still runs it
            unfinished += 1
        counts = {s.name.lower(): sum(t.state == s for t in trials) for s in queue.FINISHED}
        yield f"{dataset:>13} {plan.name:<32} " + ", ".join(f"{v} {k}" for k, v in counts.items()) + report.best_values(study, trials)
    if unfinished:  # the launcher that finishes last publishes, so the summary is whole
        yield (f"{unfinished} task{'s' * (unfinished > 1)} still running on other workers; the last launcher "
               f"to finish logs the leaderboard, or see 'bench leaderboard --study {study.name}'")
    else:
        yield report.publish(study, options.tracking_uri, storage)


def _work_left(study: Study, options: Options) -> bool:
    storage = queue.storage_for(options.storage)
    return not all(_complete(study, storage, optuna.load_study(study_name=task_name(study, dataset, plan), storage=storage), options.trials,
                             dataset, plan) for dataset, plan in study.tasks())


def _complete(study: Study, storage, search: optuna.Study, n: int, dataset, plan) -> bool:
    if queue.pending(search, n):
        return False
    if not study.repeats or best_trial(study, search.get_trials(deepcopy=False)) is None:
        return True  # no repeats to wait for (workers start them from the best trial)
    repeats = queue.load_existing(storage, repeats_name(study, dataset, plan))
    return repeats is not None and queue.pending(repeats, len(study.repeats)) == 0
