"""``bench doctor``: a study's stores checked against each other, and repaired where that
is safe.

A study lives in four places that drift apart when a process dies at the wrong moment
or a file is damaged: the Optuna storage (trial slots), the MLflow tracking store (a run
per trial attempt, a parent per task, the summary), the artifact store (each finished
trial's generator) and the checkpoints under ``BENCH_HOME/studies`` on this machine.

Whether a worker is gone is the queue's own test (``queue.stale_reason``: its recorded
pid is dead on this host, or its heartbeat is older than ``queue.STALE_AFTER_S``), so the
doctor and the study's sweep never disagree. Repairs are the study's own: a stale trial
is requeued as ``queue.sweep`` does, an abandoned run ends KILLED as after Ctrl-C, a
finished trial's checkpoint is removed as the worker removes it, and a journal's damaged
end is cut after a backup. Results (finished runs, trials, generators, artifacts) are
never deleted: what only a person can settle is reported, not repaired.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlparse

import optuna
from mlflow import MlflowClient
from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException
from optuna.trial import FrozenTrial, TrialState

from bench.errors import BenchError
from bench.files import home
from bench.runs import GENERATOR
from bench.study import journal, queue
from bench.study.worker import kill_run
from bench.tracking import check_tracking_uri, default_tracking_uri, sqlite_path
from bench.trainer import CHECKPOINT, discard_checkpoint

TRIAL_KINDS = ("trial", "repeat")  # runs that belong to one Optuna trial
RUN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class Finding:
    kind: str  # what is wrong, e.g. "stale trial"
    subject: str  # the trial, run or file it is about
    detail: str
    action: str = ""  # what --repair does; empty: nothing that is safe without a person
    fix: Callable[[], str] | None = field(default=None, repr=False)  # does it; says what was done
    problem: bool = True  # False: information only (disk used, files kept for inspection)


def run(study: str | None, storage: str | None, tracking_uri: str | None, repair: bool = False) -> tuple[list[str], bool]:
    """The report's lines, and whether the stores are clean (after repairing, with ``repair``)."""
    findings = examine(study, storage, tracking_uri)
    lines = table(findings)
    if repair:
        for _ in range(3):  # a journal cut back is examined again: its last trials may now be stale
            fixable = [f for f in findings if f.fix is not None]
            if not fixable:
                break
            lines += [f"repaired {f.kind} {f.subject}: {_attempt(f.fix)}" for f in fixable]
            findings = examine(study, storage, tracking_uri)
    problems = [f for f in findings if f.problem]
    if repair and problems:
        lines += ["left after repair:", *table(problems)]
    if not problems:
        lines.append("clean: the stores agree" + (" after repair" if repair else ""))
    elif repair or not any(f.fix for f in problems):
        lines.append(f"{_count(problems, 'problem')} that --repair cannot fix safely; see the detail column")
    else:
        fixable = sum(f.fix is not None for f in problems)
        lines.append(f"{_count(problems, 'problem')}; 'bench doctor --repair' fixes {fixable} of them")
    return lines, not problems


def _attempt(fix: Callable[[], str]) -> str:
    """One repair; a store that refuses it leaves the finding for the next examination."""
    try:
        return fix()
    except (BenchError, MlflowException, OSError) as e:
        return f"not done: {(str(e).strip().splitlines() or [type(e).__name__])[0][:200]}"


def table(findings: list[Finding]) -> list[str]:
    """One aligned row per finding: kind, object, detail, what --repair does."""
    if not findings:
        return []
    rows = [("KIND", "OBJECT", "DETAIL", "--REPAIR")] + [(f.kind, f.subject, f.detail, f.action or "-") for f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3] for row in rows]


def examine(study: str | None, storage: str | None, tracking_uri: str | None) -> list[Finding]:
    """Every finding about ``study`` (a name, or a .toml path), or about every study in the stores."""
    if storage is None and (damage := journal.scan(journal.default_path())) is not None:
        return [_journal_finding(damage)]  # Optuna reads none of it until it is cut back
    optuna_storage = queue.storage_for(storage)
    tracking_uri = tracking_uri or default_tracking_uri()
    try:
        check_tracking_uri(tracking_uri)
    except BenchError as e:
        return [Finding("tracking store", tracking_uri, str(e))]
    client = MlflowClient(tracking_uri)
    names = study_names(optuna_storage, client)
    if study is not None:
        wanted = Path(study).stem if study.endswith(".toml") else study
        if wanted not in names:
            raise BenchError(f"study {wanted!r} is in neither {storage or journal.default_path()} nor {tracking_uri}; "
                             f"studies there: {', '.join(names) or 'none'}")
        names = [wanted]
    findings = [f for name in names for f in StudyCheck(name, optuna_storage, client).findings()]
    return findings + _store_sizes(storage, tracking_uri)


def study_names(storage, client: MlflowClient) -> list[str]:
    """Studies with Optuna studies (``<study>/<dataset>/<entry>``) or runs tagged with their name."""
    names = {name.split("/")[0] for name in optuna.get_all_study_names(storage)}
    for experiment in client.search_experiments(view_type=ViewType.ACTIVE_ONLY):
        if "'" in experiment.name:  # not a study's: no study file has a quote in its name
            continue
        if client.search_runs([experiment.experiment_id], f"tags.study = '{experiment.name}'", ViewType.ALL, max_results=1):
            names.add(experiment.name)
    return sorted(names)


class StudyCheck:
    """The findings about one study: its Optuna studies (one per task and one per task's
    repeats), its MLflow experiment, its artifacts, and its checkpoints on this machine."""

    def __init__(self, name: str, storage, client: MlflowClient):
        self.name, self.client = name, client
        names = [n for n in optuna.get_all_study_names(storage) if n.startswith(f"{name}/")]
        self.tasks = {n: optuna.load_study(study_name=n, storage=storage) for n in sorted(names)}
        self.trials = {n: s.get_trials(deepcopy=False) for n, s in self.tasks.items()}
        self.experiment = client.get_experiment_by_name(name)
        self.runs = _all_runs(client, self.experiment.experiment_id) if self.experiment else []
        self.active = {r.info.run_id: r for r in self.runs if r.info.lifecycle_stage == "active"}
        self.tagged = {(r.data.tags.get("optuna_study"), r.data.tags.get("trial")): r.info.run_id
                       for r in sorted(self.active.values(), key=lambda r: r.info.start_time) if r.data.tags.get("kind") in TRIAL_KINDS}

    def findings(self) -> list[Finding]:
        return [*self.stale_trials(), *self.abandoned_runs(), *self.trials_without_runs(), *self.runs_without_trials(),
                *self.missing_generators(), *self.checkpoints(), *self.orphan_artifacts(), *self.disk()]

    # Optuna

    def trial(self, task: str | None, number) -> FrozenTrial | None:
        trials = self.trials.get(task, [])
        try:
            return trials[int(number)] if 0 <= int(number) < len(trials) else None  # numbers are positions
        except (TypeError, ValueError):
            return None

    def run_of(self, task: str, trial: FrozenTrial) -> str | None:
        """The trial's run: the id it recorded, else the run tagged with it."""
        return trial.user_attrs.get("mlflow_run_id") or self.tagged.get((task, str(trial.number)))

    def live(self, trial: FrozenTrial) -> bool:
        return trial.state == TrialState.RUNNING and not queue.is_stale(trial)

    def stale_trials(self):
        for task, trials in self.trials.items():
            for trial in trials:
                if trial.state == TrialState.RUNNING and (why := queue.stale_reason(trial)):
                    yield Finding("stale trial", _label(task, trial), f"RUNNING, but {why}",
                                  "fail it and requeue its slot, as the study's sweep does (it resumes from its checkpoint); its run ends KILLED",
                                  partial(self._requeue, task, trial.number))

    def _requeue(self, task: str, number: int) -> str:
        study = self.tasks[task]
        trial = study.get_trials(deepcopy=False)[number]  # as it is now
        if not queue.requeue_if_stale(study, trial, lambda t: kill_run(self.client, t, task)):
            return "left alone: it finished or its worker came back meanwhile"
        run = self.active.get(self.run_of(task, trial))
        if run is None:
            return "failed, slot requeued; it has no run"
        if run.info.status != "RUNNING":
            return f"failed, slot requeued; its run had ended {run.info.status} and keeps it"
        self._kill(run.info.run_id)  # also the run of a worker that died before recording it on its trial
        return "failed, slot requeued; its run KILLED"

    def trials_without_runs(self):
        for task, trials in self.trials.items():
            for trial in trials:
                if trial.state in queue.FINISHED and not trial.user_attrs.get("requeued"):  # a requeued attempt may die before its run
                    run_id = self.run_of(task, trial)
                    if run_id is None or run_id not in self.active:
                        gone = "deleted" if self._known(run_id) else "not in the tracking store"
                        where = "no run recorded" if run_id is None else f"its run {run_id} is {gone}"
                        yield Finding("trial without run", _label(task, trial), f"{trial.state.name}, {where}; its scores are in Optuna only")

    # MLflow

    def abandoned_runs(self):
        """RUNNING runs nobody will end: a trial run whose trial is not running on a live
        worker, or a parent or summary when no live worker runs any of the study's trials."""
        covered = {self.run_of(task, t) for task, ts in self.trials.items() for t in ts if t.state == TrialState.RUNNING and queue.is_stale(t)}
        anyone_live = any(self.live(t) for ts in self.trials.values() for t in ts)
        for run_id, run in self.active.items():
            if run.info.status != "RUNNING" or run_id in covered:  # a stale trial's run ends with its repair
                continue
            tags = run.data.tags
            if tags.get("kind") in TRIAL_KINDS:
                trial = self.trial(tags.get("optuna_study"), tags.get("trial"))
                if trial is not None and self.live(trial) and trial.user_attrs.get("mlflow_run_id") in (None, run_id):
                    continue
                if trial is None:
                    why = f"its trial {tags.get('trial')} is not in {tags.get('optuna_study')}"
                elif trial.state != TrialState.RUNNING:
                    why = f"its trial is {trial.state.name}"
                else:
                    why = f"its trial is stale: {queue.stale_reason(trial)}" if queue.is_stale(trial) else "its trial runs another run"
            elif anyone_live:
                continue
            else:
                why = "no live worker runs this study: its launcher is gone"
            yield Finding("abandoned run", _run_label(run), f"RUNNING, but {why}", "mark it KILLED, as Ctrl-C does",
                          partial(self._kill, run_id))

    def _kill(self, run_id: str) -> str:
        run = self.client.get_run(run_id)
        if run.info.status != "RUNNING":
            return f"left alone: it ended {run.info.status} meanwhile"
        if run.data.tags.get("kind") in TRIAL_KINDS:
            self.client.set_tag(run_id, "state", "killed")
        self.client.set_terminated(run_id, "KILLED")
        return "marked KILLED"

    def runs_without_trials(self):
        for run_id, run in self.active.items():
            tags = run.data.tags
            if tags.get("kind") not in TRIAL_KINDS:
                continue
            task, number = tags.get("optuna_study"), tags.get("trial")
            trial = self.trial(task, number)
            if trial is None:
                where = f"{task} is not in the Optuna storage" if task not in self.tasks else f"{task} has no trial {number}"
            elif trial.user_attrs.get("mlflow_run_id") not in (None, run_id):
                where = f"trial {number} of {task} records run {trial.user_attrs['mlflow_run_id']} instead"
            else:
                continue
            yield Finding("run without trial", _run_label(run), f"{where}; the Optuna storage lost it, or was replaced")

    def missing_generators(self):
        for run_id, run in self.active.items():
            if run.data.tags.get("kind") in TRIAL_KINDS and run.info.status == "FINISHED" and run.data.tags.get("state") == "finished":
                try:
                    present = {a.path for a in self.client.list_artifacts(run_id)}
                except (MlflowException, OSError):
                    present = set()
                if GENERATOR not in present:
                    yield Finding("missing generator", _run_label(run), f"finished, but {run.info.artifact_uri}/{GENERATOR} is missing: "
                                  "'bench sample' cannot draw from it (its scores stand); restore the file or retrain")

    def orphan_artifacts(self):
        root = _local(self.experiment.artifact_location) if self.experiment else None
        if root is None or not root.is_dir():
            return
        known = {r.info.run_id for r in self.runs}
        for folder in sorted(root.iterdir()):
            if folder.is_dir() and RUN_ID.fullmatch(folder.name) and folder.name not in known:
                yield Finding("orphan artifacts", str(folder),
                              f"{_size(folder)} of artifacts of run {folder.name}, which is not in the tracking store")

    # this machine's files

    def checkpoints(self):
        root = home() / "studies" / self.name
        if not root.is_dir():
            return
        for folder in sorted(p for p in root.rglob("slot-*") if p.is_dir()):
            task, slot = folder.parent.relative_to(home() / "studies").as_posix(), folder.name.removeprefix("slot-")
            trials = [t for t in self.trials.get(task, []) if str(queue.slot(t)) == slot]
            in_use = any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials)
            checkpoint = folder / CHECKPOINT
            if checkpoint.exists() and not trials:
                why = f"{task} is not in the Optuna storage" if task not in self.tasks else f"{task} has no slot {slot}"
                yield Finding("orphan checkpoint", str(checkpoint), f"{_size(checkpoint)}; {why}")
            elif checkpoint.exists() and not in_use:
                yield Finding("finished checkpoint", str(checkpoint), f"{_size(checkpoint)}; slot {slot} of {task} is finished",
                              "delete it, as a worker does when its trial ends", partial(self._discard, folder))
            for temp in folder.glob(f".{CHECKPOINT}.*"):
                if not in_use:  # a live worker may be writing it now
                    yield Finding("unfinished save", str(temp), "a temp file left by a save that was killed; the checkpoint beside it is whole",
                                  "delete it", partial(_unlink, temp))
            for aside in folder.glob(f"{CHECKPOINT}.damaged-*"):
                yield Finding("set-aside checkpoint", str(aside), f"{_size(aside)}; damaged, kept for inspection (its trial restarted from step 0)",
                              "none: delete it by hand when done", problem=False)

    def _discard(self, folder: Path) -> str:
        discard_checkpoint(folder)
        return "deleted"

    def disk(self):
        checkpoints = home() / "studies" / self.name
        if checkpoints.is_dir():
            yield Finding("disk", str(checkpoints), f"{_size(checkpoints)} of checkpoints on this machine", problem=False)
        artifacts = _local(self.experiment.artifact_location) if self.experiment else None
        if artifacts is not None and artifacts.is_dir():
            yield Finding("disk", str(artifacts), f"{_size(artifacts)} of artifacts", problem=False)

    def _known(self, run_id: str) -> bool:
        return any(r.info.run_id == run_id for r in self.runs)


def _journal_finding(damage: journal.Damage) -> Finding:
    if not damage.repairable:
        return Finding("damaged journal", str(damage.path), damage.message())
    keep = damage.line - 1
    return Finding("damaged journal", str(damage.path), f"line {damage.line} is {damage.reason}, its damaged end; the other checks need it readable",
                   f"back it up beside itself, then keep its first {keep} lines (its complete records)", partial(_cut_journal, damage.path))


def _cut_journal(path: Path) -> str:
    cut = journal.repair(path)
    if cut is None:
        return "left alone: it is whole now"
    damage, backup = cut
    return f"backed up as {backup}, cut back to its first {damage.line - 1} lines"


def _store_sizes(storage: str | None, tracking_uri: str) -> list[Finding]:
    files = [journal.default_path() if storage is None else None, sqlite_path(tracking_uri)]
    return [Finding("disk", str(f), f"{_size(f)}, shared by every study", problem=False) for f in files if f is not None and f.exists()]


def _all_runs(client: MlflowClient, experiment_id: str) -> list[Run]:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], run_view_type=ViewType.ALL, max_results=1000, page_token=token)
        runs += page
        token = page.token
        if not token:
            return runs


def _local(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else None


def _unlink(path: Path) -> str:
    path.unlink(missing_ok=True)
    return "deleted"


def _label(task: str, trial: FrozenTrial) -> str:
    return f"{task} trial {trial.number} (slot {queue.slot(trial)})"


def _run_label(run: Run) -> str:
    return f"run {run.info.run_id} ({run.info.run_name})"


def _size(path: Path) -> str:
    total = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    for unit in ("B", "KB", "MB", "GB"):
        if total < 1024 or unit == "GB":
            return f"{total:.0f} {unit}" if unit == "B" else f"{total:.1f} {unit}"
        total /= 1024
    return ""


def _count(items: list, word: str) -> str:
    return f"{len(items)} {word}{'s' * (len(items) != 1)}"
