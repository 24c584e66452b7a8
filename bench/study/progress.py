"""What a running study tells the person watching it.

Workers write a small JSON progress file (``ProgressFile``) while they train a trial: its
step, whether it trains or evaluates, and how long its steps and evaluations took. The
launcher's ``Monitor`` reads those files and the Optuna storage every couple of seconds
and shows: trials done per task, a bar per trial running on this machine, an ETA for the
whole study, and one line per finished trial with its objectives and state. Counts and
lines come from the storage, so trials run by workers on other machines count too.

The ETA (``seconds_left``) prices each task's trials from its finished trials' durations,
evaluations included; before any has finished, from the steps/s and evaluation times
measured on the running trials; a task with neither borrows the other tasks' rate.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from bench.files import atomic_write, home
from bench.metrics import show
from bench.gan import variants
from bench.study import queue
from bench.study.spec import Study, task_label, task_name

WRITE_EVERY_S = 1.0  # a worker rewrites its progress file at most this often while it trains


def progress_path(pid: int, member: int = 0) -> Path:
    """Worker ``pid``'s file; the members of a population after the first have one each."""
    return home() / "progress" / (f"{pid}.json" if member == 0 else f"{pid}-{member}.json")


def read_progress(pids: list[int]) -> dict[str, dict]:
    """The progress files of these workers' running trials, by file name."""
    files = {}
    for pid in pids:
        for path in [progress_path(pid), *sorted(progress_path(pid).parent.glob(f"{pid}-*.json"))]:
            try:
                files[path.stem] = json.loads(path.read_text())
            except (OSError, ValueError):  # between trials
                continue
    return files


class ProgressFile:
    """A worker's report on its running trial, rewritten as it trains (atomically, so the
    launcher never reads half of one). Time spent training and evaluating is summed
    separately, from the first step on, so start-up does not count as training."""

    def __init__(self, path: Path, task: str, kind: str, slot: int, steps: int, clock=time.monotonic):
        self.path, self.clock = path, clock
        self.state = {"task": task, "kind": kind, "slot": slot, "step": 0, "steps": steps, "phase": "training",
                      "train_seconds": 0.0, "train_steps": 0, "eval_seconds": 0.0, "evaluations": 0}
        self.since: float | None = None  # when the current phase's timing started
        self.written_at: float | None = None
        self.first_step: int | None = None  # a resumed trial starts past 0

    def report(self, step: int, phase: str) -> None:
        """``phase``: training (called after each step) or evaluating (as an evaluation starts)."""
        now, state = self.clock(), self.state
        if self.first_step is None:
            self.first_step = step - 1 if phase == "training" else step
        if self.since is not None:
            if state["phase"] == "training":
                state["train_seconds"] += now - self.since
                state["train_steps"] += step - state["step"]
            elif phase == "training":  # an evaluation has ended
                state["eval_seconds"] += now - self.since
                state["evaluations"] += 1
        changed = phase != state["phase"]
        state["step"], state["phase"], self.since = step, phase, now
        if changed or self.written_at is None or now - self.written_at >= WRITE_EVERY_S or step == state["steps"]:
            atomic_write(self.path, lambda f: f.write(json.dumps(state).encode()))
            self.written_at = now

    def steps_trained(self) -> int:
        """By this attempt: a resumed trial's earlier steps took time not measured here."""
        return 0 if self.first_step is None else self.state["step"] - self.first_step

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class TaskWork:
    """One task's trials, as the ETA sees them."""

    steps: int  # per trial
    evaluations: int  # per trial, the final one included
    slots: int  # trials plus repeats
    done: int = 0  # finished trials that count
    running: int = 0  # trials running anywhere
    timed: list[tuple[float, int]] = field(default_factory=list)  # (seconds, steps trained) of finished trials
    local: list[dict] = field(default_factory=list)  # progress files of its trials running on this machine


def seconds_per_step(task: TaskWork) -> float | None:
    """Wall seconds per training step, evaluations included; None while nothing is measured."""
    seconds, steps = sum(s for s, n in task.timed if n > 0), sum(n for _, n in task.timed if n > 0)
    if steps:
        return seconds / steps
    train_seconds, train_steps = sum(p["train_seconds"] for p in task.local), sum(p["train_steps"] for p in task.local)
    if not train_steps:
        return None
    evaluations = sum(p["evaluations"] for p in task.local)
    per_evaluation = sum(p["eval_seconds"] for p in task.local) / evaluations if evaluations else 0.0
    return train_seconds / train_steps + task.evaluations * per_evaluation / task.steps


def seconds_left(tasks: list[TaskWork], parallel: int) -> float | None:
    """The study's remaining wall time with ``parallel`` trials at once; None until some
    task has a rate."""
    rates = [seconds_per_step(t) for t in tasks]
    known = [r for r in rates if r is not None]
    if not known:
        return None
    total = longest = 0.0
    for task, rate in zip(tasks, rates):
        trial = (rate if rate is not None else sum(known) / len(known)) * task.steps
        unstarted = max(task.slots - task.done - task.running, 0)
        running = [trial * (1 - p["step"] / p["steps"]) for p in task.local]
        running += [trial] * max(task.running - len(task.local), 0)  # elsewhere: progress unknown, counted whole
        total += unstarted * trial + sum(running)
        longest = max([longest, *running] + [trial] * (unstarted > 0))
    return max(total / max(parallel, 1), longest)  # the last trial cannot be shared


def duration(seconds: float) -> str:
    """2h05m, 2m13s, 41s."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def trial_line(label: str, trial: FrozenTrial) -> str:
    """``mnist/dcgan-ns trial 3: finished fid 41.2 modes 10 (2m13s)``"""
    outcome = trial.user_attrs.get("outcome", {})
    name = f"repeat seed {trial.user_attrs['seed']}" if "repeat_of" in trial.user_attrs else f"trial {trial.number}"
    if trial.state == TrialState.FAIL and trial.user_attrs.get("requeued"):
        state = "stopped before its end; its slot is trained again"
    else:
        state = {TrialState.COMPLETE: "finished", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}[trial.state]
    words = [f"{label} {name}: {state}"]
    words += [f"{k} {show(k, v)}" for k, v in outcome.get("metrics", {}).items()]
    if outcome.get("reason") and trial.state != TrialState.COMPLETE:
        words.append(f"({outcome['reason']})")
    if trial.datetime_start and trial.datetime_complete:
        words.append(f"({duration((trial.datetime_complete - trial.datetime_start).total_seconds())})")
    return " ".join(words)


def trial_steps(study: Study, plan, tier: str) -> int:
    """Steps per trial: the budget's, or the entry's own when the budget says 'variant'."""
    steps = study.budget[tier]
    return variants.get(plan.variant).config(plan.fixed).steps if steps == "variant" else steps


class Monitor:
    """Polls the storage and the local progress files; ``update`` draws the display (when
    ``enabled``) and reports each newly finished trial, above the bars or through ``say``."""

    def __init__(self, study: Study, options, parents: dict, workers: int = 1, enabled: bool = True, say=print):
        self.study, self.options, self.enabled, self.workers, self.say = study, options, enabled, workers, say
        self.storage = queue.storage_for(options.storage)
        self.per_task = options.trials + len(study.repeats)
        self.tasks = {task_name(study, dataset, plan): (dataset, plan) for dataset, plan in study.tasks()}
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # here: workers never import rich

        # the ETA is this module's: rich's own needs a completion every few seconds, and trials take minutes
        self.progress = Progress(TextColumn("{task.description:<52}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[eta]}", style="progress.remaining"), disable=not enabled)
        self.total = self.per_task * len(parents)
        self.overall = self.progress.add_task(f"{study.name}: all trials", total=self.total, eta="")
        self.task_bars: dict[str, int] = {}
        self.trial_bars: dict[str, tuple[int, tuple]] = {}  # progress file -> (bar, the trial it shows)
        self.studies: dict[str, optuna.Study] = {}
        # trials finished before this launcher started are not news
        self.reported = {(n, t.number) for name in self.tasks for n, t in self._trials(name) if t.state in queue.FINISHED}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def update(self, pids: list[int]) -> None:
        files = read_progress(pids)
        work, news = [], []
        for name, (dataset, plan) in self.tasks.items():
            label = task_label(dataset, plan)
            trials = self._trials(name)
            task = self._task_work(dataset, plan, [t for _, t in trials], [p for p in files.values() if p["task"] == label])
            work.append(task)
            self._task_bar(label, task)
            news += [(n, label, t) for n, t in trials if t.state in queue.FINISHED and (n, t.number) not in self.reported]
        done = sum(t.done for t in work)
        left = seconds_left(work, max(self.workers, sum(t.running for t in work)))
        eta = "estimating" if left is None else duration(left) + " left"
        self.progress.update(self.overall, completed=done, eta=eta)
        self._trial_bars(files)
        for optuna_study, label, trial in news:
            self.reported.add((optuna_study, trial.number))
            self._show(f"{trial_line(label, trial)} [{done}/{self.total} done, {eta}]")

    def _show(self, line: str) -> None:
        if self.enabled:
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            self.say(line)

    def _task_work(self, dataset: str, plan, trials: list[FrozenTrial], local: list[dict]) -> TaskWork:
        steps = trial_steps(self.study, plan, self.options.tier)
        every = self.study.evaluation_for(dataset).get("every", 0)
        evaluations = (steps - 1) // every + 1 if every else 1  # those before the last step, and the final one
        counted = queue.counted(trials)
        timed = [((t.datetime_complete - t.datetime_start).total_seconds(), _steps_trained(t, steps))
                 for t in counted if t.datetime_start and t.datetime_complete]
        running = sum(t.state == TrialState.RUNNING for t in trials)
        return TaskWork(steps, evaluations, self.per_task, len(counted), running, timed, local)

    def _task_bar(self, label: str, task: TaskWork) -> None:
        if self.enabled and (0 < task.done < self.per_task or task.running):
            if label not in self.task_bars:
                self.task_bars[label] = self.progress.add_task(f"  {label}", total=self.per_task, eta="")
            self.progress.update(self.task_bars[label], completed=task.done)
        elif label in self.task_bars:
            self.progress.remove_task(self.task_bars.pop(label))

    def _trial_bars(self, files: dict[str, dict]) -> None:
        if not self.enabled:
            return
        for name, state in files.items():
            trial = (state["task"], state["kind"], state["slot"])
            description = f"    {state['task']} {state['kind']} {state['slot']}: {state['phase']}"
            if name not in self.trial_bars or self.trial_bars[name][1] != trial:  # a new trial: a fresh bar
                if name in self.trial_bars:
                    self.progress.remove_task(self.trial_bars[name][0])
                self.trial_bars[name] = (self.progress.add_task(description, total=state["steps"], eta=""), trial)
            self.progress.update(self.trial_bars[name][0], completed=state["step"], description=description, eta=trial_eta(state))
        for name in [n for n in self.trial_bars if n not in files]:
            self.progress.remove_task(self.trial_bars.pop(name)[0])

    def _trials(self, name: str) -> list[tuple[str, FrozenTrial]]:
        """(optuna study, trial) for the task's search and its repeats."""
        for key in (name, name + "/repeats"):  # the repeats begin once the search is done
            if self.studies.get(key) is None:
                self.studies[key] = queue.load_existing(self.storage, key)
        return [(key, t) for key in (name, name + "/repeats") if self.studies[key] is not None
                for t in self.studies[key].get_trials(deepcopy=False)]


def trial_eta(state: dict) -> str:
    """A running trial's training time left, at its own measured steps/s."""
    if state["phase"] != "training" or not state["train_steps"]:
        return ""
    return duration(state["train_seconds"] / state["train_steps"] * (state["steps"] - state["step"])) + " of steps"


def _steps_trained(trial: FrozenTrial, steps: int) -> int:
    """Recorded by the worker; a trial from before that record is whole if it completed."""
    if "outcome" in trial.user_attrs:
        return trial.user_attrs["outcome"].get("steps", 0)
    return steps if trial.state == TrialState.COMPLETE else 0
