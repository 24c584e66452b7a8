"""The study leaderboard: one row per (data set, entry), built with pandas from the
trials' MLflow runs.

Per row: best and median of the main metrics, the metrics of the trial that is best
on the study's first objective, trial counts by state, and the compute spent.
Pareto-optimal entries (on the study's objectives, per data set) are marked. Where
the best configuration was retrained with the repeat seeds: mean and bootstrap 95 %
confidence interval of each objective, and Welch's t-test against the baseline entry.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from scipy import stats

from bench.errors import BenchError
from bench.files import atomic_write
from bench.study.spec import Study
from bench.tracking import check_tracking_uri, default_tracking_uri

METRICS = ["fid", "is", "modes", "kl_uniform", "precision", "recall", "coverage"]
FORMATS = ("csv", "md", "parquet", "html", "latex", "json")


def trial_runs(study: Study, tracking_uri: str | None = None) -> pd.DataFrame:
    """The study's trial and repeat runs; of a slot run more than once (a dead worker's
    run, then its retry) only the last counts."""
    tracking_uri = tracking_uri or default_tracking_uri()
    check_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(study.name) is None:
        raise BenchError(f"study {study.name!r} has no runs yet; run it with 'bench run --study {study.name}'")
    runs = mlflow.search_runs(experiment_names=[study.name], output_format="pandas")
    runs = runs[runs.get("tags.kind", pd.Series(dtype=str)).isin(["trial", "repeat"])] if len(runs) else runs
    if runs.empty:
        raise BenchError(f"study {study.name!r} has no trials yet; run it with 'bench run --study {study.name}'")
    return runs.sort_values("start_time").drop_duplicates(["tags.optuna_study", "tags.slot"], keep="last")


def build(study: Study, tracking_uri: str | None = None, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    runs = trial_runs(study, tracking_uri) if runs is None else runs
    primary, direction = study.objectives[0]
    repeats = runs[runs["tags.kind"] == "repeat"]
    runs = runs[runs["tags.kind"] == "trial"]
    rows = []
    for (dataset, entry), group in runs.groupby(["tags.dataset", "tags.entry"]):
        done = group[group["tags.state"] == "finished"]
        row = {"dataset": dataset, "entry": entry, "variant": group["tags.variant"].iloc[0]}
        for metric in METRICS:
            values = done.get(f"metrics.{metric}", pd.Series(dtype=float)).dropna()
            better_low = metric in ("fid", "kl_uniform")
            row[f"best_{metric}"] = (values.min() if better_low else values.max()) if len(values) else None
            row[f"median_{metric}"] = values.median() if len(values) else None
        scores = done.get(f"metrics.{primary}", pd.Series(dtype=float)).dropna()
        if len(scores):
            best = done.loc[scores.idxmin() if direction == "minimize" else scores.idxmax()]
            row |= {f"chosen_{m}": best.get(f"metrics.{m}") for m, _ in study.objectives}
            row["chosen_trial"] = int(best["tags.trial"])
        states = group["tags.state"].value_counts()
        row["complete"] = int(states.get("finished", 0))
        row["pruned"] = int(states.get("pruned", 0) + states.get("diverged", 0))
        row["failed"] = int(states.get("failed", 0) + states.get("killed", 0))
        spent = pd.concat([group, repeats[(repeats["tags.dataset"] == dataset) & (repeats["tags.entry"] == entry)]])
        seconds = (spent["end_time"] - spent["start_time"]).dt.total_seconds().sum()
        row["gpu_seconds" if (spent["tags.device"] == "cuda").any() else "cpu_seconds"] = round(float(seconds), 1)
        rows.append(row)
    table = pd.DataFrame(rows)
    table = _with_repeats(table, repeats, study)
    table["pareto"] = _pareto(table, study)
    sort_key = f"chosen_{primary}" if f"chosen_{primary}" in table else "entry"
    return table.sort_values(["dataset", sort_key], ascending=[True, direction == "minimize"], na_position="last").reset_index(drop=True)


def repeat_scores(repeats: pd.DataFrame, dataset: str, entry: str, metric: str) -> np.ndarray:
    mine = repeats[(repeats["tags.dataset"] == dataset) & (repeats["tags.entry"] == entry) & (repeats["tags.state"] == "finished")]
    return mine.get(f"metrics.{metric}", pd.Series(dtype=float)).dropna().to_numpy()


def confidence_interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95 % interval of the mean (percentile method: BCa breaks on the few,
    sometimes equal, values a handful of seeds give)."""
    if len(values) < 2:
        return float("nan"), float("nan")
    result = stats.bootstrap((values,), np.mean, confidence_level=0.95, method="percentile", n_resamples=9999, random_state=seed)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _with_repeats(table: pd.DataFrame, repeats: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Columns repeat_<metric>_mean / _ci_low / _ci_high, and p_vs_baseline (Welch's
    t-test of the first objective against the baseline entry's repeats, same data set)."""
    if repeats.empty:
        return table
    primary = study.objectives[0][0]
    for i, row in table.iterrows():
        scores = {metric: repeat_scores(repeats, row["dataset"], row["entry"], metric) for metric, _ in study.objectives}
        for metric, values in scores.items():
            if len(values):
                low, high = confidence_interval(values)
                table.loc[i, [f"repeat_{metric}_mean", f"repeat_{metric}_ci_low", f"repeat_{metric}_ci_high"]] = [values.mean(), low, high]
        mine = scores[primary]
        baseline = repeat_scores(repeats, row["dataset"], study.baseline, primary)
        table.loc[i, "repeats"] = len(mine)
        if row["entry"] != study.baseline and len(mine) >= 2 and len(baseline) >= 2:
            table.loc[i, "p_vs_baseline"] = float(stats.ttest_ind(mine, baseline, equal_var=False).pvalue)
    return table


def _pareto(table: pd.DataFrame, study: Study) -> pd.Series:
    """True where no other entry of the same data set is at least as good on every
    objective and better on one (scores of each entry's chosen trial)."""
    columns = [(f"chosen_{m}", d) for m, d in study.objectives]
    if any(c not in table for c, _ in columns):
        return pd.Series(False, index=table.index)
    signed = pd.DataFrame({c: table[c] * (1 if d == "minimize" else -1) for c, d in columns})
    flags = []
    for i, row in signed.iterrows():
        same = signed[(table["dataset"] == table.loc[i, "dataset"]) & signed.notna().all(axis=1)]
        dominated = row.isna().any() or ((same <= row).all(axis=1) & (same < row).any(axis=1)).any()
        flags.append(not dominated)
    return pd.Series(flags, index=table.index)


def export(table: pd.DataFrame, fmt: str, out: Path | None = None) -> str | None:
    """The table as text (csv, md, html, latex, json), or written to ``out`` (parquet needs one)."""
    if fmt not in FORMATS:
        raise BenchError(f"--format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "parquet":
        if out is None:
            raise BenchError("--format parquet is binary: give --out FILE.parquet")
        atomic_write(out, lambda f: table.to_parquet(f, index=False))
        return None
    text = {
        "csv": lambda: table.to_csv(index=False),
        "md": lambda: table.to_markdown(index=False, floatfmt=".4g"),
        "html": lambda: table.to_html(index=False, float_format=lambda x: f"{x:.4g}"),
        "latex": lambda: table.style.hide(axis="index").format(precision=4).to_latex(),
        "json": lambda: table.to_json(orient="records", indent=2),
    }[fmt]()
    if out is not None:
        atomic_write(out, lambda f: f.write(text.encode()))
    return text
