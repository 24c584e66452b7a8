"""``bench run --study``: each (data set, entry) of a study becomes one Optuna study;
each trial is one tracked training run, a child of the entry's MLflow parent run.

This is the sequential, single-worker runner. Storage: Optuna's journal file under
``mlruns/`` by default (safe for several local processes), or any Optuna storage URL.
"""

from __future__ import annotations

from collections.abc import Iterator

import optuna
import torch
from mlflow import MlflowClient

from bench.errors import BenchError
from bench.files import home
from bench.gan import variants
from bench.runs import tracked_training
from bench.study.spec import Param, Study, VariantPlan
from bench.tracking import MLflowTracker, default_tracking_uri, git_commit

COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def storage_for(url: str | None):
    if url is None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        home().mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(home() / "optuna.journal")))
    return url


def suggest(trial: optuna.Trial, p: Param):
    if p.type == "categorical":
        return trial.suggest_categorical(p.name, list(p.choices))
    if p.type == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high))
    return trial.suggest_float(p.name, p.low, p.high, log=p.type == "log-float")


class _TrialTracker(MLflowTracker):
    """A child run that also reports each evaluation to Optuna, for pruning."""

    def __init__(self, trial: optuna.Trial, prune_on: str | None, **kwargs):
        super().__init__(**kwargs)
        self.trial, self.prune_on = trial, prune_on

    def log_evaluation(self, result, grid, grid_labels, step):
        super().log_evaluation(result, grid, grid_labels, step)
        if self.prune_on is not None:
            self.trial.report(result[self.prune_on], step)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"{self.prune_on} {result[self.prune_on]:.3g} at step {step} is below the median")


def budget_tier(budget: str | None, device: str) -> str:
    if budget is None:
        return "full" if torch.device(device).type == "cuda" else "cpu"
    if budget not in ("cpu", "full"):
        raise BenchError(f"--budget {budget!r}; valid: cpu, full")
    return budget


def run(study: Study, trials: int | None = None, budget: str | None = None, device: str = "cpu",
        storage: str | None = None, tracking_uri: str | None = None, progress: bool = True) -> Iterator[str]:
    """Run every task of ``study``; yields progress lines. Running it again continues."""
    tier = budget_tier(budget, device)
    n_trials = trials or study.trials
    yield f"study {study.name}: {len(study.tasks())} tasks x {n_trials} trials, budget '{tier}' ({study.budget[tier]} steps per trial), device {device}"
    optuna_storage = storage_for(storage)
    tracking_uri = tracking_uri or default_tracking_uri()
    for dataset, plan in study.tasks():
        name = f"{study.name}/{dataset}/{plan.name}"
        directions = [direction for _, direction in study.objectives]
        sampler = (optuna.samplers.TPESampler(seed=study.seed) if study.sampler == "tpe" else optuna.samplers.RandomSampler(seed=study.seed))
        single = len(directions) == 1
        pruner = optuna.pruners.MedianPruner(n_warmup_steps=1) if single and study.pruner == "median" else optuna.pruners.NopPruner()
        optuna_study = optuna.create_study(storage=optuna_storage, study_name=name, sampler=sampler, pruner=pruner, directions=directions, load_if_exists=True)
        done = len(optuna_study.get_trials(deepcopy=False, states=COUNTED))
        if done == 0 and plan.search and not optuna_study.get_trials(deepcopy=False):
            defaults = variants.get(plan.variant).config(plan.fixed)
            optuna_study.enqueue_trial({p.name: getattr(defaults, p.name) for p in plan.search}, skip_if_exists=True)
        parent = _parent_run(study, dataset, plan, tracking_uri)
        client = MlflowClient(tracking_uri)
        remaining = n_trials - done
        if remaining > 0:
            client.update_run(parent, status="RUNNING")
            objective = _objective(study, dataset, plan, tier, device, parent, tracking_uri, name, single, progress)
            try:
                optuna_study.optimize(objective, n_trials=remaining, catch=(Exception,),
                                      callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=COUNTED)])
            except KeyboardInterrupt:
                client.set_terminated(parent, "KILLED")
                raise
        _log_best(client, parent, optuna_study, study)
        client.set_terminated(parent, "FINISHED")
        counts = {s.name.lower(): len(optuna_study.get_trials(deepcopy=False, states=(s,))) for s in COUNTED}
        yield f"{dataset:>13} {plan.name:<32} " + ", ".join(f"{v} {k}" for k, v in counts.items())


def _log_best(client: MlflowClient, parent: str, optuna_study: optuna.Study, study: Study) -> None:
    """Best values on the parent: the best trial, or the size of the Pareto front."""
    complete = optuna_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return
    if len(study.objectives) == 1:
        best = optuna_study.best_trial
        client.log_metric(parent, f"best_{study.objectives[0][0]}", best.value)
        client.set_tag(parent, "best_trial", best.number)
    else:
        front = optuna_study.best_trials
        client.log_metric(parent, "pareto_trials", len(front))
        for (metric, direction), values in zip(study.objectives, zip(*(t.values for t in front))):
            client.log_metric(parent, f"best_{metric}", min(values) if direction == "minimize" else max(values))


def _parent_run(study: Study, dataset: str, plan: VariantPlan, tracking_uri: str) -> str:
    """The (dataset, entry) parent run: found again on a rerun, created otherwise."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(study.name)
    if experiment is not None:
        found = client.search_runs(
            [experiment.experiment_id],
            f"tags.study = '{study.name}' and tags.dataset = '{dataset}' and tags.entry = '{plan.name}' and tags.kind = 'parent'",
            max_results=1,
        )
        if found:
            return found[0].info.run_id
    tags = {"study": study.name, "dataset": dataset, "entry": plan.name, "variant": plan.variant, "kind": "parent", "git_commit": git_commit()}
    return MLflowTracker(study.name, f"{plan.name} on {dataset}", tags, tracking_uri).run_id


def _objective(study, dataset, plan, tier, device, parent, tracking_uri, optuna_name, single, progress):
    evaluation = study.evaluation_for(dataset)

    def objective(trial: optuna.Trial):
        settings = dict(plan.fixed) | {p.name: suggest(trial, p) for p in plan.search}
        steps = study.budget[tier]
        if steps != "variant":
            settings["steps"] = steps
        settings |= {"eval_every": evaluation.get("every", 0), "eval_samples": evaluation.get("samples", 2000),
                     "final_samples": evaluation.get("final_samples", 10_000)}
        config = variants.get(plan.variant).config(settings)
        tags = {"study": study.name, "trial": trial.number, "optuna_study": optuna_name, "variant": plan.variant, "kind": "trial",
                "entry": plan.name, "dataset": dataset, "device": device, "git_commit": git_commit()}
        tracker = _TrialTracker(trial, study.objectives[0][0] if single else None, experiment=study.name,
                                run_name=f"{plan.name}-{dataset}-trial{trial.number}", tags=tags,
                                tracking_uri=tracking_uri, parent_run_id=parent)
        run_dir = home() / "studies" / optuna_name / f"trial-{trial.number}"
        result = tracked_training(tracker, config, dataset, study.seed + trial.number, device, run_dir, progress)
        if result.status != "finished":  # the run is already tagged with why
            raise optuna.TrialPruned(f"{result.status} at step {result.step}")
        values = [result.metrics[metric] for metric, _ in study.objectives]
        return values[0] if single else values

    return objective
