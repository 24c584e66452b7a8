"""The study leaderboard: one row per (data set, entry), built with pandas from the
trials' MLflow runs.

Per row: best and median of the main metrics, the metrics of the trial that is best
on the study's first objective and the step at which it first collapsed (if it did),
how many trials ever collapsed, trial counts by state, and the device time spent.
Pareto-optimal entries (on the study's objectives, per data set) are marked. Where
the chosen setting was retrained with the repeat seeds: per metric the number of
repeats, their mean and 95 % confidence interval, and Welch's t-test of the first
objective against the baseline entry, Holm-corrected across the entries of a data set.

The columns are the same for every study (``COLUMNS``): a column that does not apply
is blank. The full table goes to csv, parquet and json; md, html and latex show the
columns a reader needs (``reader_view``).
"""

from __future__ import annotations

import html
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from scipy import stats

from bench.errors import BenchError
from bench.files import atomic_write
from bench.metrics import METRICS, SIGN, collapse, show
from bench.tracking import check_tracking_uri, default_tracking_uri, store_exists

FORMATS = ("csv", "md", "parquet", "html", "latex", "json")
FULL_TABLE_FORMATS = ("csv", "parquet", "json")  # the others show reader_view's columns
BOOTSTRAP_FROM = 20  # repeats needed before the bootstrap interval replaces Student's t
FEW_REPEATS = 5  # intervals and p-values from fewer repeats than this are flagged

TEXT_COLUMNS = ["dataset", "entry", "variant", "chosen_verdict", "generator", "evaluator_sha256", "device", "compared_on", "baseline"]
COUNT_COLUMNS = (["chosen_trial", "n", "collapsed_at_step", "collapsed_trials", "complete", "pruned", "failed", "baseline_n"]
                 + [f"repeat_{m}_n" for m in METRICS])
COLUMNS = (
    ["dataset", "entry", "variant"]
    + [f"best_{m}" for m in METRICS] + [f"median_{m}" for m in METRICS]
    + ["chosen_trial"] + [f"chosen_{m}" for m in METRICS] + ["chosen_verdict", "collapsed_at_step", "collapsed_trials"]
    + ["n", "generator", "evaluator_sha256"]
    + ["complete", "pruned", "failed", "device", "device_seconds"]
    + [f"repeat_{m}_{part}" for m in METRICS for part in ("n", "mean", "ci_low", "ci_high")]
    + ["compared_on", "baseline", "baseline_n", "p_welch_vs_baseline", "p_holm_vs_baseline", "pareto"]
)


def trial_runs(experiment: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """The study's trial and repeat runs; of a slot run more than once (a dead worker's
    run, then its retry) only the last counts."""
    uri = tracking_uri or default_tracking_uri()
    check_tracking_uri(uri)
    mlflow.set_tracking_uri(uri)
    if not store_exists(uri) or mlflow.get_experiment_by_name(experiment) is None:  # an absent store is not created
        raise BenchError(f"study {experiment!r} has no runs yet; run it with 'bench run --study {experiment}'")
    runs = mlflow.search_runs(experiment_names=[experiment], output_format="pandas")
    runs = runs[runs.get("tags.kind", pd.Series(dtype=str)).isin(["trial", "repeat"])] if len(runs) else runs
    if runs.empty:
        raise BenchError(f"study {experiment!r} has no trials yet; run it with 'bench run --study {experiment}'")
    return runs.sort_values("start_time").drop_duplicates(["tags.optuna_study", "tags.slot"], keep="last")


def build(experiment: str, objectives, baseline: str, tracking_uri: str | None = None, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The leaderboard of the study whose MLflow experiment is ``experiment``.
    ``objectives``: (metric, "minimize" | "maximize") pairs, the first one choosing each
    entry's trial; ``baseline``: the entry the others are tested against."""
    runs = trial_runs(experiment, tracking_uri) if runs is None else runs
    runs = runs.assign(device_share=device_shares(runs))
    primary, direction = objectives[0]
    repeats = runs[runs["tags.kind"] == "repeat"]
    trials = runs[runs["tags.kind"] == "trial"]
    rows = [_entry_row(dataset, entry, group, _of_entry(repeats, dataset, entry), primary, direction)
            for (dataset, entry), group in trials.groupby(["tags.dataset", "tags.entry"])]
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    table = _compare_with_baseline(table, repeats, primary, baseline)
    table["pareto"] = False
    for _, rows_of_dataset in table.groupby("dataset"):
        points = rows_of_dataset[[f"chosen_{m}" for m, _ in objectives]].to_numpy(dtype=float)
        table.loc[rows_of_dataset.index, "pareto"] = pareto_optimal(points, [d for _, d in objectives])
    table = _with_dtypes(table)
    table.attrs["not_comparable"] = not_comparable_note(trials)
    return table.sort_values(["dataset", f"chosen_{primary}"], ascending=[True, direction == "minimize"], na_position="last").reset_index(drop=True)


def _of_entry(runs: pd.DataFrame, dataset: str, entry: str) -> pd.DataFrame:
    return runs[(runs["tags.dataset"] == dataset) & (runs["tags.entry"] == entry)]


def _finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["tags.state"] == "finished"]


def _values(runs: pd.DataFrame, metric: str) -> pd.Series:
    return runs.get(f"metrics.{metric}", pd.Series(dtype=float)).dropna()


def chosen_run(trials: pd.DataFrame, metric: str, direction: str) -> pd.Series | None:
    """The entry's chosen trial: its finished trial run best on ``metric`` (the study's first
    objective); None while none has finished with a score."""
    done = _finished(trials)
    scores = _values(done, metric)
    if not len(scores):
        return None
    return done.loc[scores.idxmin() if direction == "minimize" else scores.idxmax()]


def _entry_row(dataset: str, entry: str, group: pd.DataFrame, repeats: pd.DataFrame, primary: str, direction: str) -> dict:
    done = _finished(group)
    row = {"dataset": dataset, "entry": entry, "variant": group["tags.variant"].iloc[0]}
    for metric in METRICS:
        values = _values(done, metric)
        if len(values):
            row[f"best_{metric}"] = values.min() if METRICS[metric].direction == "minimize" else values.max()
            row[f"median_{metric}"] = values.median()
    chosen = chosen_run(group, primary, direction)
    if chosen is not None:
        row |= {f"chosen_{m}": chosen.get(f"metrics.{m}") for m in METRICS}
        row["chosen_trial"] = int(chosen["tags.trial"])
        row["chosen_verdict"] = collapse.verdict({m: chosen.get(f"metrics.{m}") for m in ("valid_share", "modes", "modes_total", "ndb_k")
                                                  if pd.notna(chosen.get(f"metrics.{m}"))})
        row["collapsed_at_step"] = chosen.get("metrics.collapsed_at_step")  # blank: never collapsed
        row["generator"] = "ema" if float(chosen.get("params.ema") or 0) > 0 else "live"  # which G the scores are of
    ns, hashes = _values(done, "n"), done.get("tags.evaluator_sha256", pd.Series(dtype=str)).dropna()
    row["n"] = ns.min() if len(ns) else None  # one value unless not_comparable_note says otherwise
    row["evaluator_sha256"] = hashes.iloc[0] if hashes.nunique() == 1 else None
    row["collapsed_trials"] = _values(done, "collapsed_at_step").size
    states = group["tags.state"].value_counts()
    row["complete"] = states.get("finished", 0)
    row["pruned"] = states.get("pruned", 0) + states.get("diverged", 0)
    row["failed"] = states.get("failed", 0) + states.get("killed", 0)
    spent = pd.concat([group, repeats])
    row["device"] = "+".join(sorted(spent.get("tags.device", pd.Series(dtype=str)).dropna().unique()))
    row["device_seconds"] = round(spent["device_share"].sum(), 1)
    for metric in METRICS:
        values = _values(_finished(repeats), metric)
        row[f"repeat_{metric}_n"] = len(values)
        if len(values):
            row[f"repeat_{metric}_mean"] = values.mean()
            row[f"repeat_{metric}_ci_low"], row[f"repeat_{metric}_ci_high"] = confidence_interval(values.to_numpy())
    return row


def chosen_run_id(runs: pd.DataFrame, row: pd.Series) -> str | None:
    """The MLflow run id of a leaderboard row's chosen trial (None: the entry has none)."""
    if pd.isna(row.get("chosen_trial")):
        return None
    match = _of_entry(runs, row["dataset"], row["entry"])
    match = match[(match["tags.kind"] == "trial") & (match["tags.trial"] == str(int(row["chosen_trial"])))]
    return match["run_id"].iloc[0] if len(match) else None


def confidence_interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % confidence interval of the mean of ``values``. Under ``BOOTSTRAP_FROM`` values:
    Student's t-interval (a bootstrap of 2-3 values is just their [min, max], far too
    narrow); from then on the percentile bootstrap, which does not assume normal scores."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float("nan"), float("nan")
    if np.ptp(values) == 0:  # every repeat scored the same: no spread to widen it by
        return float(values[0]), float(values[0])
    if len(values) < BOOTSTRAP_FROM:
        low, high = stats.t.interval(0.95, df=len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        return float(low), float(high)
    result = stats.bootstrap((values,), np.mean, confidence_level=0.95, method="percentile", n_resamples=9999, rng=seed)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _summary(values: pd.Series) -> tuple[float, float, int]:
    return values.mean(), values.std(ddof=1), len(values)


def spread(mean: float, high: float, n: int) -> float:
    """The repeats' standard deviation, read back from their interval's upper end: exact
    for the t-interval ``confidence_interval`` gives under ``BOOTSTRAP_FROM`` repeats, and
    close for its bootstrap interval from then on (about the t-interval, tested). So a
    saved table, which holds the intervals but not the repeats, can still be tested."""
    if pd.isna(n) or n < 2 or pd.isna(high):
        return float("nan")
    return float((high - mean) * np.sqrt(n) / stats.t.ppf(0.975, n - 1))


def welch(a: tuple[float, float, int], b: tuple[float, float, int]) -> float:
    """Welch's t-test p-value of two groups given as (mean, standard deviation, n): the
    leaderboard's test against the baseline, and ``bench compare``'s. Blank under 2 per group."""
    if min(a[2], b[2]) < 2 or np.isnan([a[1], b[1]]).any():
        return float("nan")
    return float(stats.ttest_ind_from_stats(*a, *b, equal_var=False).pvalue)


def _compare_with_baseline(table: pd.DataFrame, repeats: pd.DataFrame, metric: str, baseline: str) -> pd.DataFrame:
    """p_welch_vs_baseline: Welch's t-test of ``metric`` over each entry's repeats against
    the baseline entry's (same data set); p_holm_vs_baseline: the same, Holm-corrected
    for testing every entry of the data set."""
    table["compared_on"], table["baseline"] = metric, baseline
    for i, row in table.iterrows():
        mine = _values(_finished(_of_entry(repeats, row["dataset"], row["entry"])), metric)
        theirs = _values(_finished(_of_entry(repeats, row["dataset"], baseline)), metric)
        table.loc[i, "baseline_n"] = len(theirs)
        if row["entry"] != baseline:
            table.loc[i, "p_welch_vs_baseline"] = welch(_summary(mine), _summary(theirs))
    table["p_holm_vs_baseline"] = table.groupby("dataset")["p_welch_vs_baseline"].transform(holm)
    return table


def holm(p_values: pd.Series) -> pd.Series:
    """Holm's step-down correction of one family of p-values (blanks are not tests).
    Written out because scipy has no Holm and statsmodels is not a dependency: the
    i-th smallest of m p-values is multiplied by m - i + 1, then kept non-decreasing."""
    ordered = pd.to_numeric(p_values, errors="coerce").dropna().sort_values()
    factors = len(ordered) - np.arange(len(ordered))
    return (ordered * factors).cummax().clip(upper=1).reindex(p_values.index)


def pareto_optimal(points, directions) -> np.ndarray:
    """Which rows of ``points`` (one column per objective, ``directions`` saying which
    way is better) no other row dominates, i.e. is at least as good on every objective
    and better on one. A row with a missing value is never optimal and dominates none."""
    signed = np.asarray(points, dtype=float).reshape(len(points), len(directions))
    signed = signed * [SIGN[d] for d in directions]  # smaller is better everywhere
    complete = ~np.isnan(signed).any(axis=1)
    others = signed[complete]
    return np.array([bool(complete[i]) and not ((others <= p).all(axis=1) & (others < p).any(axis=1)).any()
                     for i, p in enumerate(signed)], dtype=bool)


def device_shares(runs: pd.DataFrame) -> pd.Series:
    """Seconds of device time charged to each run. Runs on the same device of the same
    host at the same time share it: while k of them run, each is charged 1/k of the
    wall time, so the charges add up to the time the device was busy and workers
    sharing one GPU are not counted twice. A run with no end yet is charged nothing."""
    timed = pd.DataFrame({"start": runs["start_time"], "end": runs["end_time"],
                          "host": runs.get("tags.host", pd.Series("", index=runs.index)).fillna(""),
                          "device": runs.get("tags.device", pd.Series("", index=runs.index)).fillna("")}).dropna(subset=["start", "end"])
    shares = pd.Series(0.0, index=runs.index)
    for _, on_device in timed.groupby(["host", "device"]):
        start, end = on_device["start"].to_numpy(), on_device["end"].to_numpy()
        edges = np.unique(np.concatenate([start, end]))
        for a, b in zip(edges[:-1], edges[1:]):  # between two edges the same runs are running throughout
            running = on_device.index[(start <= a) & (end >= b)]
            if len(running):
                shares[running] += (b - a) / np.timedelta64(1, "s") / len(running)
    return shares


def _with_dtypes(table: pd.DataFrame) -> pd.DataFrame:
    """The same dtypes for every study: counts Int64 (blank where none), text string,
    pareto bool, every other column float."""
    numbers = [c for c in COLUMNS if c not in TEXT_COLUMNS + COUNT_COLUMNS + ["pareto"]]
    return table.astype({**{c: "string" for c in TEXT_COLUMNS}, **{c: "Int64" for c in COUNT_COLUMNS},
                         **{c: float for c in numbers}, "pareto": bool})


def not_comparable_note(trials: pd.DataFrame) -> str | None:
    """A warning when the finished trials of one data set were scored on different sample
    counts or by different evaluators: their numbers would be ranked side by side."""
    problems = []
    for dataset, runs in _finished(trials).groupby("tags.dataset"):
        ns = sorted(int(n) for n in _values(runs, "n").unique())
        hashes = runs.get("tags.evaluator_sha256", pd.Series(dtype=str)).dropna().unique()
        if len(ns) > 1:
            problems.append(f"{dataset} trials were scored on different sample counts (n = {', '.join(f'{n:,}' for n in ns)})")
        if len(hashes) > 1:
            problems.append(f"{dataset} trials were scored by {len(hashes)} different evaluators (evaluator_sha256)")
    return "; ".join(problems) + ": their numbers are not comparable side by side" if problems else None


def few_repeats_note(table: pd.DataFrame) -> str | None:
    """A warning when some entry's interval or p-value rests on fewer than ``FEW_REPEATS`` repeats."""
    counts = [row[f"repeat_{row['compared_on']}_n"] for _, row in table.iterrows()]
    few = sum(0 < n < FEW_REPEATS for n in counts)
    if not few:
        return None
    return (f"{few} of {len(table)} rows rest on fewer than {FEW_REPEATS} repeats (marked *): their intervals are wide "
            "and their p-values weak evidence; add repeat seeds to the study for firmer ones")


def reader_view(table: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """The columns a reader needs, as text: best score and repeats' mean [95 % CI] (n)
    per metric in ``metrics`` (default: the compared one), the tests against the
    baseline, Pareto and device time. Blank where a value is missing."""
    metrics = list(metrics) if metrics else [table["compared_on"].iloc[0]]
    view = pd.DataFrame({"dataset": table["dataset"], "entry": table["entry"]})
    for m in metrics:
        view[f"best_{m}"] = table[f"best_{m}"].map(lambda v, m=m: _number(v, m))
    for m in metrics:
        view[f"repeat_{m}_mean [95% CI] (n)"] = [_interval(row, m) for _, row in table.iterrows()]
    view["baseline_n"] = table["baseline_n"].map(_number)
    view["p_welch_vs_baseline"] = table["p_welch_vs_baseline"].map(_number)
    view["p_holm_vs_baseline"] = table["p_holm_vs_baseline"].map(_number)
    view["verdict"] = table["chosen_verdict"].fillna("")
    view["pareto"] = table["pareto"].map({True: "yes", False: ""})
    view["device"] = table["device"].fillna("")
    view["device_seconds"] = table["device_seconds"].map(lambda s: "" if pd.isna(s) else f"{s:.0f}")
    return view


def _number(value, metric: str = "") -> str:
    """Blank when missing; a metric's value in its declared format, other numbers to 4 figures."""
    return "" if pd.isna(value) else show(metric, value)


def _interval(row: pd.Series, metric: str) -> str:
    n, mean = row[f"repeat_{metric}_n"], row[f"repeat_{metric}_mean"]
    if pd.isna(mean):
        return ""
    low, high = row[f"repeat_{metric}_ci_low"], row[f"repeat_{metric}_ci_high"]
    interval = "" if pd.isna(low) else f" [{_number(low, metric)}, {_number(high, metric)}]"
    return f"{_number(mean, metric)}{interval} ({n}){'*' if n < FEW_REPEATS else ''}"


def legend(table: pd.DataFrame, metrics=None) -> str:
    """What the reader view's metrics (default: the compared one) and statistics are, under the table."""
    metric, baseline = table["compared_on"].iloc[0], table["baseline"].iloc[0]
    shown = [METRICS[m] for m in (list(metrics) if metrics else [metric])]
    text = "; ".join(f"{m.name}: {m.description} ({'lower' if m.direction == 'minimize' else 'higher'} is better)" for m in shown)
    text += (f". Intervals: 95 % Student t-interval of the repeats' mean (percentile bootstrap from {BOOTSTRAP_FROM} repeats), "
             f"n in parentheses. p: Welch's t-test of {metric} against {baseline} over the repeats, and the same Holm-corrected "
             "across the entries of a data set. Every column: csv, parquet or json.")
    note = few_repeats_note(table)
    text += f" *: {note}." if note else ""
    return text + (f" Warning: {table.attrs['not_comparable']}." if table.attrs.get("not_comparable") else "")


def check_format(fmt: str, out: Path | None) -> None:
    """Before anything is read: a format bench cannot write, or binary output with nowhere to go."""
    if fmt not in FORMATS:
        raise BenchError(f"--format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "parquet" and out is None:
        raise BenchError("--format parquet is binary: give --out FILE.parquet")


def export(table: pd.DataFrame, fmt: str, out: Path | None = None, metrics=None) -> str | None:
    """The table as text (csv, md, html, latex, json), or written to ``out`` (parquet
    needs one). md, html and latex show ``reader_view(table, metrics)``."""
    check_format(fmt, out)
    if fmt == "parquet":
        atomic_write(out, lambda f: table.to_parquet(f, index=False))
        return None
    text = {
        "csv": lambda: table.to_csv(index=False),
        "json": lambda: table.to_json(orient="records", indent=2),
        "md": lambda: _markdown(reader_view(table, metrics)) + f"\n\n{legend(table, metrics)}\n",
        "html": lambda: _html(reader_view(table, metrics), legend(table, metrics)),
        "latex": lambda: _latex(reader_view(table, metrics), legend(table, metrics)),
    }[fmt]()
    if out is not None:
        atomic_write(out, lambda f: f.write(text.encode()))
    return text


def _markdown(view: pd.DataFrame) -> str:
    """Text as it is (the numbers are formatted already), right-aligned after the entry."""
    return view.to_markdown(index=False, disable_numparse=True, colalign=["left"] * 2 + ["right"] * (len(view.columns) - 2))


CSS = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;font-size:14px}"
       "th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right;white-space:nowrap}"
       "th{background:#f3f3f3;position:sticky;top:0}td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}"
       "tr:hover td{background:#fafafa}p{max-width:60em;color:#444}")


def html_table(view: pd.DataFrame) -> str:
    """A ``<table>`` of text columns, escaped, styled by ``CSS`` (also in the study's report page)."""
    return view.style.hide(axis="index").format(escape="html").format_index(escape="html", axis=1).to_html(exclude_styles=True)


def _html(view: pd.DataFrame, note: str) -> str:
    """A complete page: opens in any browser, and in the MLflow UI's artifact view."""
    return (f"<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>leaderboard</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n{html_table(view)}\n<p>{html.escape(note)}</p>\n</body>\n</html>\n")


LATEX_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {"~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def _latex(view: pd.DataFrame, note: str) -> str:
    """A complete document (``pdflatex FILE.tex``): landscape, small type, a longtable
    that breaks across pages; the longtable inside can go into a paper as it is."""
    table = (view.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
             .to_latex(environment="longtable", hrules=True, column_format="ll" + "r" * (len(view.columns) - 2)))
    note = "".join(LATEX_SPECIAL.get(c, c) for c in note)
    return ("\\documentclass{article}\n\\usepackage[landscape,margin=1.5cm]{geometry}\n\\usepackage{booktabs,longtable}\n"
            "\\begin{document}\n\\scriptsize\n\\setlength{\\tabcolsep}{4pt}\n" + table + f"\n{note}\n\\end{{document}}\n")
