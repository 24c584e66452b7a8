"""The launcher's live display: trials done/total per task with ETA, and a step bar
for each trial running on this machine.

Counts come from the Optuna storage, so trials run by workers on other machines count
too; step bars come from the small JSON files local workers rewrite at every log.
"""

from __future__ import annotations

import json
import time

import optuna
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bench.files import home
from bench.study import queue
from bench.study.spec import Study


class Monitor:
    def __init__(self, study: Study, options, parents: dict, enabled: bool = True):
        self.study, self.options, self.enabled = study, options, enabled
        self.storage = queue.storage_for(options.storage) if enabled else None
        self.per_task = options.trials + len(study.repeats)
        self.progress = Progress(TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TimeRemainingColumn(), disable=not enabled)
        self.overall = self.progress.add_task(f"{study.name}: all trials", total=self.per_task * len(parents))
        self.task_bars: dict[str, int] = {}
        self.step_bars: dict[int, tuple[int, str]] = {}  # worker pid -> (bar, what it shows)
        self.studies: dict[str, optuna.Study] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def update(self, pids: list[int]) -> None:
        if not self.enabled:
            return
        total = 0
        for dataset, plan in self.study.tasks():
            name = f"{self.study.name}/{dataset}/{plan.name}"
            done = sum(len(queue.counted(s.get_trials(deepcopy=False))) for s in self._studies(name))
            total += done
            label = f"{dataset}/{plan.name}"
            if 0 < done < self.per_task or any(self._running(s) for s in self._studies(name)):
                if label not in self.task_bars:
                    self.task_bars[label] = self.progress.add_task(f"  {label}", total=self.per_task)
                self.progress.update(self.task_bars[label], completed=done)
            elif label in self.task_bars:
                self.progress.remove_task(self.task_bars.pop(label))
        self.progress.update(self.overall, completed=total)
        self._step_bars(pids)

    def _studies(self, name: str) -> list[optuna.Study]:
        for key in (name, name + "/repeats"):  # the repeats begin once the search is done
            if self.studies.get(key) is None:
                self.studies[key] = queue.load_existing(self.storage, key)
        return [s for s in (self.studies[name], self.studies[name + "/repeats"]) if s is not None]

    @staticmethod
    def _running(study: optuna.Study) -> bool:
        return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))

    def _step_bars(self, pids: list[int]) -> None:
        for pid in pids:
            try:
                state = json.loads((home() / "progress" / f"{pid}.json").read_text())
            except (OSError, ValueError):  # between trials, or mid-rewrite
                continue
            description = f"    {state['task']} {state['kind']} {state['slot']} (steps)"
            if pid not in self.step_bars:
                self.step_bars[pid] = (self.progress.add_task(description, total=state["steps"]), description)
            bar, shown = self.step_bars[pid]
            if shown != description:  # a new trial: restart its ETA
                self.progress.reset(bar, total=state["steps"], description=description)
                self.step_bars[pid] = (bar, description)
            self.progress.update(bar, completed=state["step"])
        for pid in [p for p in self.step_bars if p not in pids]:
            self.progress.remove_task(self.step_bars.pop(pid)[0])
