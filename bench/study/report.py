"""What a study leaves in MLflow once its workers are done: best values on each parent
run, and a ``summary`` run holding the leaderboard (csv, md, html, json), the study as
it ran (``study_resolved.toml``: every entry with its defaults applied) and the
study's plots: Pareto front per data set, FID against steps per entry, Optuna's
parameter importances per entry and the chosen trial's samples per entry, and the
study's report page (``report.html``, see ``bench.study.page``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

from bench import leaderboard, plots
from bench.metrics import SIGN, show
from bench.study import page, queue
from bench.study.spec import Study, VariantPlan, resolved, task_label, task_name
from bench.study.worker import best_trial
from bench.files import toml_text
from bench.tracking import MLflowTracker, source_tags


def search_space(study: Study, plan: VariantPlan) -> dict:
    """What a parent run searches, as its params: ``search.<name>`` per searched parameter
    (its type, range or choices, and the settings it sets), and ``fixed.<setting>``."""
    params = {"variant": plan.variant, "sampler": study.sampler, "objectives": ", ".join(f"{m} ({d})" for m, d in study.objectives)}
    params |= {f"fixed.{key}": value for key, value in plan.fixed.items()}
    for p in plan.search:
        space = f"{p.type} {list(p.choices)}" if p.type == "categorical" else f"{p.type} {p.low:g}..{p.high:g}"
        if p.sets:
            space += " -> " + ", ".join(f"{t} x{f:g}" for t, f in zip(p.targets, p.scale or [1] * len(p.targets)))
        params[f"search.{p.name}"] = space
    return params


def log_best(client: MlflowClient, parent: str, study: Study, trials: list[optuna.trial.FrozenTrial]) -> None:
    """Best values on the parent: the best trial, or the size of the Pareto front. The
    trial best on the first objective (the one repeated and reported as chosen) is
    linked from the parent's description and tagged ``best_trial`` and ``best_run_id``."""
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return
    for i, (metric, direction) in enumerate(study.objectives):
        best = min(complete, key=lambda t: SIGN[direction] * t.values[i])
        client.log_metric(parent, f"best_{metric}", best.values[i])
        if i == 0:
            client.set_tag(parent, "best_trial", best.number)
        if i == 0 and (run_id := best.user_attrs.get("mlflow_run_id")):
            experiment = client.get_run(parent).info.experiment_id
            client.set_tag(parent, "best_run_id", run_id)
            client.set_tag(parent, MLFLOW_RUN_NOTE, f"Best trial on {metric}: [trial {best.number}](#/experiments/{experiment}/runs/{run_id})")
    if len(study.objectives) > 1:
        front = leaderboard.pareto_optimal([t.values for t in complete], [d for _, d in study.objectives])
        client.log_metric(parent, "pareto_trials", int(front.sum()))


def log_chosen(client: MlflowClient, parent: str, study: Study, trials: list[optuna.trial.FrozenTrial]) -> None:
    """The chosen configuration as the parent's params ``chosen.<name>``, once its search is
    complete. MLflow params never change, so a study extended later (--trials) keeps the
    first choice here, with ``chosen.trial`` saying whose it is; the tags follow the best."""
    best = best_trial(study, trials)
    if best is None or "chosen.trial" in client.get_run(parent).data.params:
        return
    chosen = {"chosen.trial": best.number} | {f"chosen.{name}": value for name, value in best.params.items()}
    client.log_batch(parent, params=[Param(k, str(v)) for k, v in chosen.items()])


def best_values(study: Study, trials: list[optuna.trial.FrozenTrial]) -> str:
    """``; best fid 41.2 (trial 3)`` for the summary line, each objective's best on its
    own; empty while no trial has completed."""
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return ""
    bests = []
    for i, (metric, direction) in enumerate(study.objectives):
        best = min(complete, key=lambda t: SIGN[direction] * t.values[i])
        bests.append(f"{metric} {show(metric, best.values[i])} (trial {best.number})")
    return "; best " + ", ".join(bests)


def publish(study: Study, tracking_uri: str, storage) -> str:
    """Leaderboard and plots as artifacts of the study's summary run; returns a report line."""
    runs = leaderboard.trial_runs(study.name, tracking_uri)
    table = leaderboard.build(study.name, study.objectives, study.baseline, tracking_uri, runs)
    objectives = [m for m, _ in study.objectives]
    client = MlflowClient(tracking_uri)
    summary = _summary_run(client, study, tracking_uri)
    comment = f"Study {study.name} ({study.path}) as it runs, [defaults] applied to every entry; a study file that runs the same plans."
    client.log_text(summary.run_id, toml_text(resolved(study), comment), "study_resolved.toml")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("csv", "md", "html", "json"):
            leaderboard.export(table, fmt, Path(tmp) / f"leaderboard.{fmt}", objectives)
        client.log_artifacts(summary.run_id, tmp, "leaderboard")
    for dataset, rows in table.groupby("dataset"):
        if len(study.objectives) > 1:
            summary.log_figure(plots.pareto_front(rows, *(m for m, _ in study.objectives[:2])), f"pareto/{dataset}.png")
        summary.log_figure(plots.fid_by_step(_fid_histories(client, runs[runs["tags.dataset"] == dataset], rows)), f"fid_by_step/{dataset}.png")
        for _, row in rows.iterrows():
            _log_samples(client, summary, runs, row)
    for dataset, plan in study.tasks():
        _log_importances(summary, storage, task_name(study, dataset, plan), f"importance/{task_label(dataset, plan)}.png")
    parents = {(r["tags.dataset"], r["tags.entry"]): r["run_id"] for _, r in _parents(client, study).iterrows()}
    for _, row in table.iterrows():
        parent = parents.get((row["dataset"], row["entry"]))
        if parent:
            values = _jsonable(row)
            client.log_dict(parent, values, "leaderboard_row.json")
            # every number of the row (pareto as 1 or 0) as a metric of its column's name: sortable and comparable
            # across entries in the MLflow UI; the text (verdict, baseline, generator) is in the json
            now = int(time.time() * 1000)
            numbers = [Metric(k, float(v), now, 0) for k, v in values.items() if isinstance(v, (int, float))]
            client.log_batch(parent, metrics=numbers)
    client.log_text(summary.run_id, page.build(study, tracking_uri, runs=runs, table=table), "report.html")  # the page to send
    summary.end("FINISHED")
    return f"leaderboard ({len(table)} rows), plots and report.html logged to MLflow run {summary.run_id}; see 'bench ui' or 'bench leaderboard --study {study.name}'"


def _summary_run(client: MlflowClient, study: Study, tracking_uri: str) -> MLflowTracker:
    """One summary run per study, rewritten each time the study ends."""
    old = _runs(client, study, "summary")
    for run_id in old["run_id"] if len(old) else []:
        client.delete_run(run_id)
    tags = {"study": study.name, "kind": "summary"} | source_tags(f"bench run --study {study.name}")
    return MLflowTracker(study.name, f"{study.name} summary", tags, tracking_uri)


def _runs(client: MlflowClient, study: Study, kind: str) -> pd.DataFrame:
    import mlflow

    mlflow.set_tracking_uri(client.tracking_uri)
    return mlflow.search_runs(experiment_names=[study.name], filter_string=f"tags.kind = '{kind}'", output_format="pandas")


def _parents(client: MlflowClient, study: Study) -> pd.DataFrame:
    return _runs(client, study, "parent").sort_values("start_time").drop_duplicates(["tags.dataset", "tags.entry"])


def _fid_histories(client: MlflowClient, runs: pd.DataFrame, rows: pd.DataFrame) -> dict[str, list[tuple[int, float]]]:
    """FID by step of each entry's chosen trial."""
    curves = {}
    for _, row in rows.iterrows():
        chosen = leaderboard.chosen_run_id(runs, row)
        if chosen is not None:
            curves[row["entry"]] = [(m.step, m.value) for m in client.get_metric_history(chosen, "fid")]
    return curves


def _log_samples(client: MlflowClient, summary: MLflowTracker, runs: pd.DataFrame, row) -> None:
    """The chosen trial's last sample grid, copied under samples/<dataset>/<entry>.png."""
    chosen = leaderboard.chosen_run_id(runs, row)
    if chosen is None:
        return
    grids = sorted(a.path for a in client.list_artifacts(chosen, "samples"))
    if grids:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file: no bar
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(client.download_artifacts(chosen, grids[-1], tmp))
            target = local.with_name(f"{row['entry']}.png")
            local.rename(target)
            summary.log_artifact(target, f"samples/{row['dataset']}")


def _log_importances(summary: MLflowTracker, storage, name: str, path: str) -> None:
    """Optuna's fANOVA importances of the searched parameters (needs two finished trials
    and at least one parameter that varied)."""
    search = queue.load_existing(storage, name)
    if search is None:
        return
    complete = [t for t in queue.counted(search.get_trials(deepcopy=False)) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2 or not complete[0].params:
        return
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # direction-free, reproducible
    try:
        importances = optuna.importance.get_param_importances(search, evaluator=evaluator, target=lambda t: t.values[0])
    except (RuntimeError, ValueError):  # e.g. every trial had the same parameters
        return
    summary.log_figure(plots.importances(importances, name), path)


def _jsonable(row: pd.Series) -> dict:
    return {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}

