"""A study worker: claims trial slots one at a time and trains them, until none is left.

Started by ``bench run`` (``--workers K`` of them per machine) as
``python -m bench.study.worker '<json options>'``. Workers share nothing but the Optuna
storage and the MLflow tracking store, so the same command on another machine with the
same ``--storage`` and ``--tracking-uri`` simply adds workers.

Per task, the search slots come first; when all of them are finished, the first worker to
notice enqueues the repeats: the best configuration retrained with each repeat seed.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import zlib
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
import torch
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from bench import evaluator
from bench.metrics import SIGN
from bench.errors import BenchError
from bench.files import STORE_EXIT, home, store_failure
from bench.gan import population, variants
from bench.gan.config import Config
from bench.runs import tracked_population, tracked_training
from bench.study import queue
from bench.study.progress import ProgressFile, progress_path
from bench.signals import Interrupts
from bench.study.spec import Param, Study, VariantPlan, load, task_label, task_name
from bench.tracking import MLflowTracker, run_name, source_tags
from bench.trainer import PopulationInterrupted, Result, discard_checkpoint, resume_step

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Options:
    study: str  # the study file's path
    trials: int
    tier: str  # budget tier: cpu | full
    device: str
    storage: str | None
    tracking_uri: str
    index: int = 0  # this worker's number on its machine
    threads: int = 0  # torch's CPU threads (bench.cpu.threads_per_process); 0: torch's default
    population: int = 1  # trials claimed at once and trained as one population where they can be


@dataclass
class Member:
    """A claimed trial, with what it trains: alone, or as one member of a population."""

    trial: optuna.Trial
    seed: int
    config: Config
    resume_step: int = 0  # of its slot's checkpoint (0: none)
    why_solo: str | None = None  # when a population was asked for and it trains alone


def repeats_name(study: Study, dataset: str, plan: VariantPlan) -> str:
    return task_name(study, dataset, plan) + "/repeats"


def directions(study: Study) -> list[str]:
    return [direction for _, direction in study.objectives]


def objective_names(study: Study) -> list[str]:
    return [metric for metric, _ in study.objectives]


def sampler_for(study: Study, index: int) -> optuna.samplers.BaseSampler:
    """Distinct per worker and machine, reproducible for each; TPE lies about running
    trials (constant_liar) so parallel workers do not all sample the same point."""
    seed = (study.seed * 1_000_003 + zlib.crc32(queue.HOST.encode()) + index) % 2**32
    if study.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def pruner_for(study: Study) -> optuna.pruners.BasePruner:
    """Optuna cannot prune multi-objective studies: their curves are logged, not pruned."""
    if len(study.objectives) == 1 and study.pruner == "median":
        return optuna.pruners.MedianPruner(n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def suggest(trial: optuna.Trial, p: Param):
    if p.type == "categorical":
        return trial.suggest_categorical(p.name, list(p.choices))
    if p.type == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high))
    return trial.suggest_float(p.name, p.low, p.high, log=p.type == "log-float")


def seed_of(study: Study, trial: optuna.Trial, repeat: bool) -> int:
    """Every search trial trains with the study's seed, so two trials differ only in their
    setting; the spread over seeds is measured apart, by the repeats, each retraining the
    chosen setting with one of the study's repeat seeds."""
    return trial.user_attrs["seed"] if repeat else study.seed


def searched(plan: VariantPlan) -> str:
    """The settings the search samples, as the tag ``searched`` on trial and parent runs."""
    return ",".join(dict.fromkeys(target for p in plan.search for target in p.targets))


def best_trial(study: Study, trials: list[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial | None:
    """The completed trial best on the first objective (for several objectives it lies on
    the Pareto front)."""
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return None
    return min(complete, key=lambda t: SIGN[study.objectives[0][1]] * t.values[0])


def parent_run(client: MlflowClient, study: Study, dataset: str, plan: VariantPlan) -> str | None:
    """The (dataset, entry) parent run; the oldest if several launchers raced to make one."""
    experiment = client.get_experiment_by_name(study.name)
    if experiment is None:
        return None
    found = client.search_runs(
        [experiment.experiment_id],
        f"tags.study = '{study.name}' and tags.dataset = '{dataset}' and tags.entry = '{plan.name}' and tags.kind = 'parent'",
        order_by=["attributes.start_time ASC"], max_results=1,
    )
    return found[0].info.run_id if found else None


def kill_run(client: MlflowClient, trial: optuna.trial.FrozenTrial, optuna_study: str) -> bool:
    """The MLflow run of a trial whose worker died: KILLED, never left RUNNING. A run that
    ended (its trial's last record was lost, say) keeps its own end. A worker killed between
    creating its run and recording it on the trial left only the run's tags to find it by.
    Returns whether it ended it."""
    run_id = trial.user_attrs.get("mlflow_run_id") or _tagged_run(client, optuna_study, trial.number)
    try:
        running = run_id is not None and client.get_run(run_id).info.status == "RUNNING"
    except MlflowException:  # gone from the tracking store: nothing to end
        return False
    if running:
        client.set_tag(run_id, "state", "killed")
        client.set_terminated(run_id, "KILLED")
    return running


def _tagged_run(client: MlflowClient, optuna_study: str, number: int) -> str | None:
    experiment = client.get_experiment_by_name(optuna_study.split("/")[0])
    if experiment is None:
        return None
    found = client.search_runs([experiment.experiment_id], f"tags.optuna_study = '{optuna_study}' and tags.trial = '{number}' "
                               "and attributes.status = 'RUNNING'", max_results=1)
    return found[0].info.run_id if found else None


class _TrialTracker(MLflowTracker):
    """A child run that reports evaluations to Optuna (for pruning) and its progress to
    the launcher's display."""

    def __init__(self, trial: optuna.Trial, prune_on: str | None, progress: ProgressFile, **kwargs):
        super().__init__(**kwargs)
        self.trial, self.prune_on, self.progress = trial, prune_on, progress
        self.last_evaluation: dict = {}

    def report_progress(self, step, phase):
        self.progress.report(step, phase)

    def log_evaluation(self, result, grid, grid_labels, step):
        super().log_evaluation(result, grid, grid_labels, step)
        self.last_evaluation = result
        if self.prune_on is not None:
            self.trial.report(result[self.prune_on], step)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"{self.prune_on} {result[self.prune_on]:.3g} at step {step} is worse than the median")

    def outcome(self, objectives: list[str], reason: str | None = None) -> dict:
        """What the launcher's line for this trial says: steps trained, the last evaluation's
        objectives (and modes), and why it stopped early."""
        shown = [*objectives, *(["modes"] if "modes" not in objectives else [])]
        metrics = {k: float(self.last_evaluation[k]) for k in shown if isinstance(self.last_evaluation.get(k), (int, float))}
        return {"steps": self.progress.steps_trained(), "metrics": metrics} | ({"reason": reason[:200]} if reason else {})


class Worker:
    def __init__(self, options: Options, interrupts: Interrupts | None = None):
        self.options, self.study = options, load(options.study)
        self.interrupts = interrupts or Interrupts()
        self.storage = queue.storage_for(options.storage)
        self.client = MlflowClient(options.tracking_uri)

    def run(self) -> int:
        """Claim and train until no slot is left anywhere; returns how many it trained."""
        done, progressed = 0, True
        while progressed:  # another pass picks up repeats that became ready meanwhile
            progressed = False
            for dataset, plan in self.study.tasks():
                trained = self._drain(dataset, plan)
                done, progressed = done + trained, progressed or trained > 0
        return done

    def _drain(self, dataset: str, plan: VariantPlan) -> int:
        name = task_name(self.study, dataset, plan)
        search = optuna.load_study(study_name=name, storage=self.storage, sampler=sampler_for(self.study, self.options.index),
                                   pruner=pruner_for(self.study))
        trained = self._claim_all(search, dataset, plan, self.options.trials, repeat=False)
        if self.study.repeats and queue.pending(search, self.options.trials) == 0:
            best = best_trial(self.study, search.get_trials(deepcopy=False))
            if best is not None:
                seeds = self.study.repeats
                repeats = queue.ensure_slots(self.storage, repeats_name(self.study, dataset, plan), directions(self.study), len(seeds),
                                             metric_names=objective_names(self.study),
                                             attrs_of=lambda i: {"seed": seeds[i], "repeat_of": best.number, "params": best.params})
                trained += self._claim_all(repeats, dataset, plan, len(seeds), repeat=True)
        return trained

    def _claim_all(self, optuna_study: optuna.Study, dataset, plan, n: int, repeat: bool) -> int:
        queue.sweep(optuna_study, lambda t: kill_run(self.client, t, optuna_study.study_name))
        trained = 0
        while not self.interrupts.interrupted and (members := self._claim(optuna_study, dataset, plan, n, repeat)):
            groups = self._populations(members)
            for i, group in enumerate(groups):
                try:
                    if self.interrupts.interrupted:  # a signal that a library swallowed
                        raise KeyboardInterrupt
                    self._train(optuna_study, group, dataset, plan, repeat)
                except KeyboardInterrupt:  # the groups claimed but not started go back to the queue too
                    _requeue(optuna_study, [m for later in groups[i + 1 :] for m in later])
                    raise
                trained += len(group)
        return trained

    def _settings(self, trial: optuna.Trial, dataset: str, plan: VariantPlan, repeat: bool) -> dict:
        evaluation = self.study.evaluation_for(dataset)
        # a repeat retrains the best trial's parameters
        sampled = trial.user_attrs["params"] if repeat else {p.name: suggest(trial, p) for p in plan.search}
        settings = dict(plan.fixed)
        for p in plan.search:
            settings |= p.values(sampled[p.name])
        steps = self.study.budget[self.options.tier]
        if steps != "variant":
            settings["steps"] = steps
        return settings | {"eval_every": evaluation.get("every", 0), "eval_samples": evaluation.get("samples", 2000),
                           "final_samples": evaluation.get("final_samples", 10_000)}

    def _claim(self, optuna_study: optuna.Study, dataset: str, plan: VariantPlan, n: int, repeat: bool) -> list[Member]:
        """Up to ``population`` waiting slots (one when the entry cannot train as a
        population); each is sampled as it is claimed, so TPE's constant liar sees the
        others running."""
        members: list[Member] = []
        while len(members) < self.options.population and (trial := queue.claim(optuna_study, n)) is not None:
            seed = seed_of(self.study, trial, repeat)
            members.append(Member(trial, seed, variants.get(plan.variant).config(self._settings(trial, dataset, plan, repeat))))
            if len(members) == 1 and self.options.population > 1 and population.why_solo([members[0].config] * 2, self.options.device):
                break
        return members

    def _populations(self, members: list[Member]) -> list[list[Member]]:
        """The claimed members grouped into populations: each member joins the first group it
        can train with (same setup but for the per-member settings, and, as they must resume
        together, the same checkpoint step); what cannot join any trains solo, and its run
        says why (tag ``why_solo``)."""
        if self.options.population == 1:  # one claimed member, trained alone as always
            return [members]
        groups: list[list[Member]] = []
        for member in members:
            member.resume_step = resume_step(self._run_dir(member), member.config, member.seed)
            for group in groups:
                if group[0].resume_step == member.resume_step and not population.why_solo([g.config for g in group] + [member.config], self.options.device):
                    group.append(member)
                    break
            else:
                groups.append([member])
        for group in groups:
            if len(group) == 1:
                group[0].why_solo = (population.why_solo([group[0].config] * 2, self.options.device)
                                     or ("it was the only slot left to claim" if len(members) == 1
                                         else "its settings or checkpoint step differ from every other claimed trial's"))
        return groups

    def _run_dir(self, member: Member) -> Path:
        return home() / "studies" / member.trial.study.study_name / f"slot-{member.trial.user_attrs['slot']}"  # a retry resumes its checkpoint

    def _train(self, optuna_study: optuna.Study, members: list[Member], dataset: str, plan: VariantPlan, repeat: bool) -> None:
        """Train the members (alone, or as one population) under their own MLflow runs, and
        tell Optuna how each ended."""
        trackers = [self._tracker(optuna_study, m, k, members, dataset, plan, repeat) for k, m in enumerate(members)]
        run_dirs = [self._run_dir(m) for m in members]
        try:
            with ExitStack() as heartbeats:
                for member in members:
                    heartbeats.enter_context(queue.Heartbeat(member.trial))
                results = self._results(trackers, members, dataset, run_dirs)
        except PopulationInterrupted as interrupted:  # checkpointed and KILLED; the rerun resumes them
            stopped = [m for m, r in zip(members, interrupted.results) if r.status == "interrupted"]
            _requeue(optuna_study, stopped)
            for member, tracker, run_dir, result in zip(members, trackers, run_dirs, interrupted.results):
                if member not in stopped:  # diverged or pruned before the Ctrl-C
                    self._end_trial(optuna_study, member, tracker, run_dir, result)
            raise
        except KeyboardInterrupt:  # checkpointed and KILLED by tracked_training; the rerun resumes it
            _requeue(optuna_study, members)
            raise
        finally:
            for tracker in trackers:
                tracker.progress.remove()
        for member, tracker, run_dir, result in zip(members, trackers, run_dirs, results):
            self._end_trial(optuna_study, member, tracker, run_dir, result)

    def _results(self, trackers: list[_TrialTracker], members: list[Member], dataset: str, run_dirs: list[Path]) -> list[Result]:
        """Each member's result; an exception that stopped one (its pruner, a crash, a full
        disk) is its ``error``, recorded on its run already."""
        try:
            if len(members) == 1:
                return [tracked_training(trackers[0], members[0].config, dataset, members[0].seed, self.options.device, run_dirs[0],
                                         progress=False)]
            return tracked_population(trackers, [m.config for m in members], [m.seed for m in members], dataset, self.options.device,
                                      run_dirs, progress=False)
        except Exception as e:  # the whole population's (a crash in the step): every member's
            return [Result("failed", 0, error=e) for _ in members]

    def _tracker(self, optuna_study: optuna.Study, member: Member, k: int, members: list[Member], dataset: str, plan: VariantPlan,
                 repeat: bool) -> _TrialTracker:
        """Member ``k``'s MLflow child run, recorded on its trial."""
        trial, seed, slot = member.trial, member.seed, member.trial.user_attrs["slot"]
        kind = "repeat" if repeat else "trial"
        grouping = ({"population": len(members), "population_trials": ",".join(str(m.trial.number) for m in members)} if len(members) > 1
                    else {"population": 1} | ({"why_solo": member.why_solo[:500]} if member.why_solo else {}))
        tags = ({"study": self.study.name, "trial": trial.number, "slot": slot, "optuna_study": optuna_study.study_name, "kind": kind,
                 "variant": plan.variant, "entry": plan.name, "dataset": dataset, "seed": seed, "device": self.options.device,
                 "threads": torch.get_num_threads(), "host": queue.HOST, "evaluator_sha256": evaluator.load(dataset).sha256, "searched": searched(plan)}
                | grouping | source_tags(f"bench run --study {self.study.name}"))  # host and device: runs sharing one device, for its seconds
        progress = ProgressFile(progress_path(os.getpid(), k), task_label(dataset, plan), kind, slot, member.config.steps)
        which = f"repeat of trial {trial.user_attrs['repeat_of']}" if repeat else f"trial {trial.number}"
        tracker = _TrialTracker(trial, None if repeat else _prune_on(self.study), progress, experiment=self.study.name,
                                run_name=run_name(plan.name, dataset, which, f"seed {seed}"), tags=tags, tracking_uri=self.options.tracking_uri,
                                parent_run_id=parent_run(self.client, self.study, dataset, plan), system_metrics=True)
        trial.set_user_attr("mlflow_run_id", tracker.run_id)
        return tracker

    def _end_trial(self, optuna_study: optuna.Study, member: Member, tracker: _TrialTracker, run_dir: Path, result: Result) -> None:
        """The trial's end as Optuna records it: pruned (by its pruner, or diverged), failed
        (the reason on its run; the study goes on) or complete with its objectives. A store
        that cannot be written stops the worker instead: the trial stays RUNNING under it,
        the next sweep requeues it and ends its run KILLED together (requeued here, a run
        whose end the full store refused would stay RUNNING for good), and the retry
        resumes from the last checkpoint."""
        trial, objectives = member.trial, objective_names(self.study)
        if isinstance(result.error, optuna.TrialPruned):
            return _tell(optuna_study, trial, run_dir, tracker.outcome(objectives, str(result.error)), state=optuna.trial.TrialState.PRUNED)
        if result.error is not None:
            if (failure := store_failure(result.error)) is not None:
                raise failure from result.error
            return _tell(optuna_study, trial, run_dir, tracker.outcome(objectives, f"{type(result.error).__name__}: {result.error}"),
                         state=optuna.trial.TrialState.FAIL)
        if result.status != "finished":  # diverged: the run is tagged with the step
            return _tell(optuna_study, trial, run_dir, tracker.outcome(objectives, f"{result.status} at step {result.step}"),
                         state=optuna.trial.TrialState.PRUNED)
        _tell(optuna_study, trial, run_dir, tracker.outcome(objectives), values=[result.metrics[m] for m in objectives])


def _requeue(optuna_study: optuna.Study, members: list[Member]) -> None:
    trials = optuna_study.get_trials(deepcopy=False)
    for member in members:
        queue.requeue(optuna_study, trials[member.trial.number])


def _prune_on(study: Study) -> str | None:
    return study.objectives[0][0] if len(study.objectives) == 1 else None


def _tell(optuna_study: optuna.Study, trial: optuna.Trial, run_dir: Path, outcome: dict, **kwargs) -> None:
    """Finish the trial, with its ``outcome`` for the launcher's line; its checkpoint (weights
    and optimiser states, 159 MB for the reference DCGAN) is no longer needed once the
    generator is in MLflow."""
    try:
        trial.set_user_attr("outcome", outcome)
        optuna_study.tell(trial, **kwargs)
    except (ValueError, optuna.exceptions.UpdateFinishedTrialError):  # swept as stale meanwhile; its retry counts
        print(f"trial {trial.number} of {optuna_study.study_name} was already swept as stale", file=sys.stderr)
        return
    discard_checkpoint(run_dir)


def main(argv: list[str]) -> int:
    # what is imported by now lives as long as the worker: frozen, the collector no longer rescans
    # it in every full collection and at exit (seconds per worker with torch and MLflow loaded)
    gc.freeze()
    options = Options(**json.loads(argv[0]))
    if options.threads:
        torch.set_num_threads(options.threads)
    interrupts = Interrupts().install()  # Ctrl-C or SIGTERM: checkpoint, KILLED run, requeued slot; later ones wait
    try:
        Worker(options, interrupts).run()
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a store it cannot write: one line naming the file; the launcher names the disk
        failure = e if isinstance(e, BenchError) else store_failure(e)
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr)
        return STORE_EXIT if store_failure(e) else failure.exit_code
    return 130 if interrupts.interrupted else 0


def options_json(options: Options) -> str:
    return json.dumps(asdict(options))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
