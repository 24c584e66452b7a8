"""The leaderboard from made-up runs (no training, seconds): its statistics, its fixed
schema, device seconds and the exports. The real thing, from a study's runs:
tests/study/test_runner.py."""

import ast
import csv
import io
import json
import os
import shutil
import stat
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench import leaderboard
from bench.metrics import METRICS

T0 = pd.Timestamp("2026-01-01", tz="UTC")
FID = [("fid", "minimize")]


def run(entry, kind, slot, fid, start=0, seconds=100, state="finished", device="cpu", host="a", dataset="mnist", **metrics):
    """One row as mlflow.search_runs gives it."""
    return {"run_id": f"{dataset}-{entry}-{kind}-{slot}", "start_time": T0 + pd.Timedelta(seconds=start),
            "end_time": T0 + pd.Timedelta(seconds=start + seconds), "tags.kind": kind, "tags.dataset": dataset, "tags.entry": entry,
            "tags.variant": entry, "tags.state": state, "tags.trial": str(slot), "tags.slot": str(slot),
            "tags.optuna_study": f"s/{dataset}/{entry}" + ("/repeats" if kind == "repeat" else ""), "tags.device": device,
            "tags.host": host, "metrics.fid": fid} | {f"metrics.{k}": v for k, v in metrics.items()}


def repeats(entry, scores, dataset="mnist", start=1000):
    return [run(entry, "repeat", i, score, start=start + 100 * i, dataset=dataset) for i, score in enumerate(scores)]


def test_three_repeats_give_a_student_t_interval_not_their_min_and_max():
    low, high = leaderboard.confidence_interval(np.array([26.4, 29.7, 32.4]))
    assert low == pytest.approx(22.0, abs=0.05) and high == pytest.approx(37.0, abs=0.05)


def test_many_repeats_give_a_bootstrap_interval_close_to_t():
    values = np.random.default_rng(0).normal(30, 3, size=leaderboard.BOOTSTRAP_FROM)
    low, high = leaderboard.confidence_interval(values)
    t_low, t_high = stats.t.interval(0.95, len(values) - 1, values.mean(), stats.sem(values))
    assert (low, high) != (t_low, t_high)  # not the t-interval any more
    assert low == pytest.approx(t_low, abs=0.5) and high == pytest.approx(t_high, abs=0.5)


def test_holm_multiplies_the_ith_smallest_by_m_minus_i_and_keeps_the_order():
    p = pd.Series([0.01, np.nan, 0.04, 0.03])
    assert leaderboard.holm(p).tolist() == pytest.approx([0.03, np.nan, 0.06, 0.06], nan_ok=True)


def test_pareto_optimal_points_are_those_no_other_dominates():
    points = [[1, 5], [2, 2], [3, 3], [np.nan, 0], [5, 1]]
    assert leaderboard.pareto_optimal(points, ["minimize", "minimize"]).tolist() == [True, True, False, False, True]
    assert leaderboard.pareto_optimal(points, ["minimize", "maximize"]).tolist() == [True, False, False, False, False]


def board_runs():
    """Two data sets; on mnist a baseline and two entries with three repeats each."""
    return pd.DataFrame(
        [run("base", "trial", 0, 30.0), run("base", "trial", 1, 28.0, start=100, collapsed_at_step=200),
         run("good", "trial", 0, 20.0, start=200), run("good", "trial", 1, 99.0, start=300, state="pruned"),
         run("same", "trial", 0, 27.0, start=400)]
        + repeats("base", [26.4, 29.7, 32.4]) + repeats("good", [20.0, 21.0, 22.5], start=1300)
        + repeats("same", [29.0, 30.0, 31.0], start=1600)
        + [run("base", "trial", 0, 10.0, dataset="fashion-mnist", start=5000)])


def test_repeats_give_n_interval_and_welch_against_the_baseline_holm_corrected_per_data_set():
    table = leaderboard.build("s", FID, "base", runs=board_runs()).set_index(["dataset", "entry"])
    base, good, same = (table.loc[("mnist", e)] for e in ("base", "good", "same"))
    assert base["repeat_fid_n"] == 3 and base["repeat_fid_mean"] == pytest.approx(29.5)
    assert (base["repeat_fid_ci_low"], base["repeat_fid_ci_high"]) == pytest.approx((22.035, 36.965), abs=1e-3)
    welch = [stats.ttest_ind(values, [26.4, 29.7, 32.4], equal_var=False).pvalue for values in ([20.0, 21.0, 22.5], [29.0, 30.0, 31.0])]
    assert [good["p_welch_vs_baseline"], same["p_welch_vs_baseline"]] == pytest.approx(welch)
    assert [good["p_holm_vs_baseline"], same["p_holm_vs_baseline"]] == pytest.approx([min(welch) * 2, max(max(welch), min(welch) * 2)])
    assert pd.isna(base["p_welch_vs_baseline"]) and base["baseline_n"] == 3 and (table["compared_on"] == "fid").all()
    fashion = table.loc[("fashion-mnist", "base")]  # no repeats there: blank, not left out
    assert fashion["repeat_fid_n"] == 0 and pd.isna(fashion["repeat_fid_ci_low"]) and pd.isna(fashion["p_holm_vs_baseline"])
    assert (good["complete"], good["pruned"], good["chosen_trial"], base["collapsed_trials"]) == (1, 1, 0, 1)
    assert "3 of 4 rows rest on fewer than 5 repeats" in leaderboard.few_repeats_note(table.reset_index())


def test_the_columns_are_the_same_for_every_study():
    one = leaderboard.build("s", FID, "base", runs=board_runs())
    alone = pd.DataFrame([run("x", "trial", 0, 5.0, device="cuda", kl_uniform=0.1)])  # one entry, no repeats, two objectives, a GPU
    other = leaderboard.build("t", [("fid", "minimize"), ("kl_uniform", "minimize")], "x", runs=alone)
    assert list(one.columns) == list(other.columns) == leaderboard.COLUMNS
    assert dict(one.dtypes) == dict(other.dtypes)
    assert list(leaderboard.METRICS) == [  # every metric of the registry has its columns, in the order they always had
        "fid", "kid", "is", "modes", "kl_uniform", "valid_share", "precision", "recall", "density", "coverage", "recall_min",
        "coverage_min", "ndb_k", "ndb_jsd", "distinct_images", "confident", "label_accuracy"]
    assert str(one["complete"].dtype) == "Int64" and str(one["chosen_trial"].dtype) == "Int64"
    assert other.loc[0, "device"] == "cuda" and bool(other.loc[0, "pareto"])


def test_runs_sharing_a_device_split_its_seconds_instead_of_counting_them_twice():
    runs = pd.DataFrame([run("a", "trial", 0, 1.0, start=0, seconds=100, device="cuda", host="gpu1"),
                         run("b", "trial", 0, 1.0, start=50, seconds=100, device="cuda", host="gpu1"),  # shares 50 s with a
                         run("c", "trial", 0, 1.0, start=0, seconds=100, device="cuda", host="gpu2")])  # another machine's GPU
    table = leaderboard.build("s", FID, "a", runs=runs).set_index("entry")
    assert table.loc[["a", "b", "c"], "device_seconds"].tolist() == [75.0, 75.0, 100.0]
    assert table.loc[["a", "b"], "device_seconds"].sum() == 150.0  # gpu1 was busy from 0 s to 150 s


def test_leaderboard_imports_nothing_from_the_study_package():
    tree = ast.parse(open(leaderboard.__file__).read())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + \
               [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("bench.study")]


@pytest.fixture(scope="module")
def table():
    runs = board_runs()
    runs.loc[runs["tags.entry"] == "good", "tags.entry"] = "good_&_100%"  # LaTeX's special characters in a name
    return leaderboard.build("s", FID, "base", runs=runs)


def test_markdown_shows_the_readers_columns_with_intervals_n_and_the_legend(table):
    text = leaderboard.export(table, "md")
    header = text.splitlines()[0]
    assert "repeat_fid_mean [95% CI] (n)" in header and "p_welch_vs_baseline" in header and "median_is" not in header
    assert "29.5 [22.04, 36.96] (3)*" in text and "Holm" in text and "Student t" in text
    assert f"fid: {METRICS['fid'].description} (lower is better)." in text  # the legend says what the metric is, from the registry
    assert max(len(line) for line in text.splitlines()[:6]) < 250 and "nan" not in text.lower()


def test_html_is_a_complete_page_with_nan_blank(table):
    text = leaderboard.export(table, "html")
    assert text.startswith("<!doctype html>") and "<style>" in text and text.rstrip().endswith("</html>")
    assert "good_&amp;_100%" in text and "nan" not in text.lower() and "<NA>" not in text


def test_latex_escapes_names_writes_integers_as_integers_and_is_a_document(table):
    text = leaderboard.export(table, "latex")
    assert r"good\_\&\_100\%" in text and r"p\_welch\_vs\_baseline" in text and r"95\% CI" in text
    assert "(3)*" in text and "3.0000" not in text and "nan" not in text.lower()
    assert text.startswith(r"\documentclass") and text.rstrip().endswith(r"\end{document}")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (apt-get install texlive-latex-recommended)")
def test_latex_compiles_with_pdflatex(table, tmp_path):
    leaderboard.export(table, "latex", tmp_path / "board.tex")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "board.tex"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "board.pdf").exists()


def test_csv_json_and_parquet_hold_every_column_with_integers_as_integers(table, tmp_path):
    rows = list(csv.DictReader(io.StringIO(leaderboard.export(table, "csv"))))
    assert list(rows[0]) == leaderboard.COLUMNS
    assert all(r["complete"].isdigit() and r["repeat_fid_n"].isdigit() for r in rows)  # "2", not "2.0"
    records = json.loads(leaderboard.export(table, "json"))
    assert all(isinstance(r["complete"], int) for r in records) and records[0].keys() == set(leaderboard.COLUMNS)
    leaderboard.export(table, "parquet", tmp_path / "board.parquet")
    back = pd.read_parquet(tmp_path / "board.parquet")
    assert list(back.columns) == leaderboard.COLUMNS and str(back["complete"].dtype) == "Int64"
    assert stat.S_IMODE((tmp_path / "board.parquet").stat().st_mode) == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_the_command_warns_on_stderr_when_intervals_rest_on_few_repeats(bench, monkeypatch):
    monkeypatch.setattr(leaderboard, "trial_runs", lambda experiment, tracking_uri=None: board_runs())
    code, out, err = bench("leaderboard", "--study", "smoke", "--format", "md")
    assert code == 0 and "| dataset" in out and "(3)*" in out
    assert err.startswith("warning: ") and "fewer than 5 repeats" in err and err.count("\n") == 1


def test_verdict_generator_and_n_of_the_chosen_trial():
    runs = pd.DataFrame([
        run("noise", "trial", 0, 3300.0, valid_share=0.01, modes=0, modes_total=10, ndb_k=1.0, n=10_000),
        run("onedigit", "trial", 0, 600.0, valid_share=0.9, modes=1, modes_total=10, ndb_k=0.9, n=10_000),
        run("fine", "trial", 0, 30.0, valid_share=0.95, modes=10, modes_total=10, ndb_k=0.1, n=10_000) | {"params.ema": "0.999"},
    ])
    table = leaderboard.build("s", FID, "fine", runs=runs).set_index("entry")
    assert table.loc["noise", "chosen_verdict"] == "no digits" and table.loc["onedigit", "chosen_verdict"] == "collapsed"
    assert table.loc["fine", "chosen_verdict"] == "" and table.loc["fine", "generator"] == "ema"
    assert table.loc["noise", "generator"] == "live" and (table["n"] == 10_000).all()
    assert table.attrs["not_comparable"] is None


def test_scores_of_different_sample_counts_or_evaluators_are_flagged():
    runs = pd.DataFrame([run("a", "trial", 0, 30.0, n=2000) | {"tags.evaluator_sha256": "x"},
                         run("b", "trial", 0, 20.0, n=10_000) | {"tags.evaluator_sha256": "y"}])
    table = leaderboard.build("s", FID, "a", runs=runs)
    note = table.attrs["not_comparable"]
    assert "different sample counts (n = 2,000, 10,000)" in note and "2 different evaluators" in note
    assert note in leaderboard.export(table, "md")


def test_the_spread_read_back_from_an_interval_is_the_repeats_standard_deviation():
    values = np.array([26.4, 29.7, 32.4])
    low, high = leaderboard.confidence_interval(values)
    assert leaderboard.spread(values.mean(), high, 3) == pytest.approx(values.std(ddof=1))
    many = np.random.default_rng(1).normal(30, 3, size=leaderboard.BOOTSTRAP_FROM)  # a bootstrap interval: close, not exact
    assert leaderboard.spread(many.mean(), leaderboard.confidence_interval(many)[1], len(many)) == pytest.approx(many.std(ddof=1), rel=0.15)
    assert np.isnan(leaderboard.spread(30.0, np.nan, 1))
