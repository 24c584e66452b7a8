"""``bench report``: a study on one self-contained HTML page, to read or to send.

Everything is inline, the CSS and every image (PNG as base64 data URIs), so the file
opens offline in any browser, attached to a mail or from the MLflow UI, where it is
also the study's summary artifact ``report.html``. The page shows what the study cost
(devices, wall time, device and GPU seconds) and which evaluator scored it; the
leaderboard with its intervals and tests; optionally a comparison with another study or
leaderboard (``bench compare``); per data set the Pareto front, and per entry its chosen
trial's FID, modes and NDB/K curves, last sample grid and mode histogram; and the study
file.
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from tqdm import tqdm

from bench import compare, leaderboard, plots
from bench.errors import BenchError
from bench.files import atomic_write
from bench.study.spec import Study
from bench.tracking import default_tracking_uri

CURVES = ("fid", "modes", "ndb_k", "n")  # what plots.metric_curves draws, n to keep sample counts apart
PAGE_CSS = ("h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:2px solid #333}h3{margin:1.2em 0 .3em}"
            ".wide{overflow-x:auto}.facts th{text-align:left;background:none;position:static}.facts td{text-align:left;white-space:normal}"
            ".entry{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}.entry figure{margin:0}"
            "figcaption{font-size:12px;color:#555}img{max-width:100%}.entry img{max-height:260px}"
            ".entry img.pixels{image-rendering:pixelated;height:260px}"
            "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:13px}.missing{color:#999;font-style:italic}")


def write(study: Study, out: Path | None = None, tracking_uri: str | None = None, compare_with: str | None = None,
          metric: str = "fid", progress: bool = True) -> Path:
    """``out/<study>-report.html`` (``out`` defaults to the current folder), written atomically."""
    folder = Path(".") if out is None else out
    if not folder.is_dir():
        raise BenchError(f"--out {folder}: no such folder; create it first or leave --out out for the current folder")
    page = build(study, tracking_uri, compare_with, metric, progress)
    path = folder / f"{study.name}-report.html"
    atomic_write(path, lambda f: f.write(page.encode()))
    return path


def build(study: Study, tracking_uri: str | None = None, compare_with: str | None = None, metric: str = "fid",
          progress: bool = False, runs: pd.DataFrame | None = None, table: pd.DataFrame | None = None) -> str:
    """The page as text. ``runs`` and ``table`` (the study's trial runs and leaderboard)
    are read from MLflow unless given; ``compare_with`` adds a comparison on ``metric``."""
    uri = tracking_uri or default_tracking_uri()
    if compare_with is not None:
        compare.check_options(metric)
    runs = leaderboard.trial_runs(study.name, uri) if runs is None else runs
    table = leaderboard.build(study.name, study.objectives, study.baseline, uri, runs) if table is None else table
    comparison = None
    if compare_with is not None:  # its bad input is found before the minutes of drawing
        other = compare.load_side(compare_with, metric, uri)
        comparison = compare.compare_sides(compare.Side(study.name, table), other, metric)
    objectives = [m for m, _ in study.objectives]
    sections = [_costs(study, runs, table), _leaderboard(table, objectives)]
    if comparison is not None:
        sections.append(f"<h2>Compared with {html.escape(compare_with)} on {html.escape(metric)}</h2>\n"
                        f"<div class=\"wide\">{compare.html(comparison)}</div>")
    client = MlflowClient(uri)
    entries = tqdm(total=len(table), desc="report", unit="entry", disable=not progress, leave=False)
    for dataset, rows in table.groupby("dataset", sort=False):
        sections.append(f"<h2>{html.escape(dataset)}</h2>")
        if len(objectives) > 1:
            sections.append(_figure(plots.pareto_front(rows, *objectives[:2]), f"Pareto front of {dataset}",
                                    f"Each entry's chosen trial on {objectives[0]} and {objectives[1]}; stars: the Pareto front."))
        for _, row in rows.iterrows():
            sections.append(_entry(client, runs, row, objectives))
            entries.update()
    entries.close()
    sections.append(_study_file(study))
    return _page(f"{study.name}: bench report", sections)


def _page(title: str, sections: list[str]) -> str:
    body = "\n".join(sections)
    return (f"<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{html.escape(title)}</title>\n"
            f"<style>{leaderboard.CSS}{PAGE_CSS}</style>\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n")


def _costs(study: Study, runs: pd.DataFrame, table: pd.DataFrame) -> str:
    """What the study is and what it cost: one small table of facts."""
    seconds = leaderboard.device_shares(runs)
    gpu = runs.get("tags.device", pd.Series("", index=runs.index)).fillna("").str.startswith("cuda")
    started, ended = runs["start_time"].min(), runs["end_time"].max()
    states = runs["tags.state"].fillna("running").value_counts()
    facts = {
        "study": f"{study.name}: {study.description}" if study.description else study.name,
        "written": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "objectives": ", ".join(f"{m} ({d})" for m, d in study.objectives),
        "entries": (f"{table['entry'].nunique()} on {table['dataset'].nunique()} data set(s), {len(table)} leaderboard rows; "
                    f"baseline {study.baseline}"),
        "runs": f"{len(runs)} trials and repeats: " + ", ".join(f"{n} {state}" for state, n in states.items()),
        "steps per trial": _distinct(runs.get("params.steps")),
        "devices": f"{_distinct(runs.get('tags.device'))} on {runs.get('tags.host', pd.Series(dtype=str)).nunique()} host(s)",
        "wall time": f"{_duration((ended - started).total_seconds())} (first run's start to last run's end)" if pd.notna(ended) else "",
        "device time": f"{_duration(seconds.sum())} ({seconds.sum():,.0f} device-seconds, {seconds[gpu].sum():,.0f} of them GPU-seconds)",
        "samples scored (n)": _distinct(table["n"]),
        "evaluator sha256": _distinct(runs.get("tags.evaluator_sha256")),
        "bench commit": _distinct(runs.get("tags.mlflow.source.git.commit")),
    }
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>\n" for k, v in facts.items() if v)
    return f"<table class=\"facts\">\n{rows}</table>"


def _distinct(values: pd.Series | None) -> str:
    values = pd.Series(dtype=object) if values is None else values.dropna()
    return ", ".join(str(v) for v in sorted(values.astype(str).unique()))


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


def _leaderboard(table: pd.DataFrame, objectives: list[str]) -> str:
    view = leaderboard.reader_view(table, objectives)
    return (f"<h2>Leaderboard</h2>\n<div class=\"wide\">{leaderboard.html_table(view)}</div>\n"
            f"<p class=\"legend\">{html.escape(leaderboard.legend(table))}</p>")


def _entry(client: MlflowClient, runs: pd.DataFrame, row: pd.Series, objectives: list[str]) -> str:
    """One entry: its chosen trial's scores, curves, last sample grid and mode histogram."""
    name = f"{row['dataset']}/{row['entry']}"
    heading = f"<h3>{html.escape(row['entry'])} <small>({html.escape(str(row['variant']))})</small></h3>"
    run_id = leaderboard.chosen_run_id(runs, row)
    if run_id is None:
        return f"{heading}\n<p class=\"missing\">no finished trial</p>"
    scores = ", ".join(f"{m} {row[f'chosen_{m}']:.4g}" for m in objectives if pd.notna(row[f"chosen_{m}"]))
    verdict = f"; verdict: {row['chosen_verdict']}" if isinstance(row["chosen_verdict"], str) and row["chosen_verdict"] else ""
    summary = f"<p>chosen trial {row['chosen_trial']}: {html.escape(scores)}{html.escape(verdict)} (run {run_id})</p>"
    pictures = [_figure(plots.metric_curves(_history(client, run_id)), f"curves of {name}", "FID, modes and NDB/K at each evaluation"),
                _artifact(client, run_id, "samples", f"samples of {name}", "samples at the last evaluation", pixels=True),
                _artifact(client, run_id, "modes", f"mode histogram of {name}", "classes of those samples")]
    return f"{heading}\n{summary}\n<div class=\"entry\">\n" + "\n".join(pictures) + "\n</div>"


def _history(client: MlflowClient, run_id: str) -> list[dict]:
    """The run's evaluations as the trainer's history has them: one dict per step."""
    steps: dict[int, dict] = {}
    for metric in CURVES:
        for point in client.get_metric_history(run_id, metric):
            steps.setdefault(point.step, {"step": point.step})[metric] = int(point.value) if metric == "n" else point.value
    return [steps[s] for s in sorted(steps) if "fid" in steps[s]]


def _artifact(client: MlflowClient, run_id: str, folder: str, alt: str, caption: str, pixels: bool = False) -> str:
    """The last image the run logged under ``folder`` (one per evaluation, named by step)."""
    images = sorted(a.path for a in client.list_artifacts(run_id, folder) if a.path.endswith(".png"))
    if not images:
        return f"<p class=\"missing\">no {html.escape(folder)} logged</p>"
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file: no bar
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(client.download_artifacts(run_id, images[-1], tmp)).read_bytes()
    return _image(png, alt, caption, pixels)


def _figure(figure, alt: str, caption: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return _image(buffer.getvalue(), alt, caption)


def _image(png: bytes, alt: str, caption: str, pixels: bool = False) -> str:
    """``pixels``: a sample grid, enlarged without blurring its 28x28 digits."""
    data = base64.b64encode(png).decode("ascii")
    kind = ' class="pixels"' if pixels else ""
    return (f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{html.escape(alt)}\"{kind}>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _study_file(study: Study) -> str:
    try:
        text = study.path.read_text(encoding="utf-8")
    except OSError as e:  # moved since the study ran
        text = f"(cannot be read: {e.strerror})"
    return f"<h2>Study file</h2>\n<p>{html.escape(str(study.path))}</p>\n<pre>{html.escape(text)}</pre>"
