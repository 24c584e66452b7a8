"""`bench compare` on made-up runs (no training, seconds): shared rows, differences,
Welch's test of the repeats as scipy runs it on the raw values, Holm across the rows,
a saved csv against its study, text and markdown. On a real study's runs:
tests/test_report.py."""

import pandas as pd
import pytest
from scipy import stats
from test_leaderboard import board_runs, repeats, run

from bench import compare, leaderboard

GOOD_IN_A, GOOD_IN_B = [20.0, 21.0, 22.5], [30.0, 31.5, 33.0]
BASE = [26.4, 29.7, 32.4]


def other_runs():
    """study B: 'good' repeated worse, 'same' missing, 'new' only here."""
    runs = board_runs()
    runs = runs[~((runs["tags.entry"] == "good") & (runs["tags.kind"] == "repeat")) & (runs["tags.entry"] != "same")]
    return pd.concat([runs, pd.DataFrame(repeats("good", GOOD_IN_B, start=1300) + [run("new", "trial", 0, 5.0, start=2000)])], ignore_index=True)


@pytest.fixture
def two_studies(monkeypatch):
    """'smoke' holds board_runs(), 'seeds' other_runs(): two studies in one store."""
    by_study = {"smoke": board_runs(), "seeds": other_runs()}
    monkeypatch.setattr(leaderboard, "trial_runs", lambda experiment, tracking_uri=None: by_study[experiment])


def test_two_studies_side_by_side_on_their_shared_entries(two_studies):
    table = compare.compare("smoke", "seeds").set_index(["dataset", "entry_a"])
    assert sorted(table.index) == [("fashion-mnist", "base"), ("mnist", "base"), ("mnist", "good")]  # not 'same', not 'new'
    good = table.loc[("mnist", "good")]
    assert good["difference"] == pytest.approx(sum(GOOD_IN_B) / 3 - sum(GOOD_IN_A) / 3) and good["difference_of"] == "repeats"
    assert good["p_welch"] == pytest.approx(stats.ttest_ind(GOOD_IN_A, GOOD_IN_B, equal_var=False).pvalue)
    assert table.loc[("mnist", "base"), "p_welch"] == pytest.approx(1.0)  # the same repeats on both sides
    assert good["p_holm"] == pytest.approx(min(1, 2 * good["p_welch"]))  # two tests: fashion-mnist has no repeats
    fashion = table.loc[("fashion-mnist", "base")]
    assert fashion["difference"] == 0 and fashion["difference_of"] == "chosen" and pd.isna(fashion["p_welch"])


def test_two_entries_of_one_study_are_compared_on_each_data_set_they_share(two_studies):
    table = compare.compare("smoke:good", "smoke:base")
    assert table[["dataset", "entry_a", "entry_b"]].values.tolist() == [["mnist", "good", "base"]]
    board = leaderboard.build("smoke", [("fid", "minimize")], "base", runs=board_runs()).set_index("entry")
    assert table.loc[0, "p_welch"] == pytest.approx(board.loc["good", "p_welch_vs_baseline"])  # the leaderboard's own test
    assert table.loc[0, "p_welch"] == pytest.approx(stats.ttest_ind(GOOD_IN_A, BASE, equal_var=False).pvalue)


def test_a_saved_csv_is_tested_exactly_as_its_study(two_studies, tmp_path, bench):
    board = leaderboard.build("seeds", [("fid", "minimize")], "base", runs=other_runs())
    leaderboard.export(board, "csv", tmp_path / "seeds.csv")
    from_csv = compare.compare("smoke", str(tmp_path / "seeds.csv"))
    from_study = compare.compare("smoke", "seeds")
    columns = ["difference", "p_welch", "p_holm", "b_mean", "b_ci_high"]
    pd.testing.assert_frame_equal(from_csv[columns], from_study[columns])
    code, out, err = bench("compare", "smoke", tmp_path / "seeds.csv:good", "--format", "md")
    assert code == 0 and out.startswith("| dataset") and "| mnist     | good" in out and "Holm" in out


def test_text_and_markdown_show_values_intervals_difference_and_p(two_studies, bench):
    code, out, err = bench("compare", "smoke", "seeds")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["dataset", "entry"] and set(lines[1]) <= {"-", " "}
    good = next(line for line in lines if " good " in line)
    assert "21.17 [18.04, 24.29] (3)*" in good and "31.5 [27.77, 35.23] (3)*" in good and "10.33" in good
    assert "A = smoke, B = seeds; fid: lower is better" in out and "nan" not in out.lower()
    markdown = compare.export(compare.compare("smoke", "seeds"), "md")
    assert markdown.splitlines()[1].startswith("|:--") and "| fashion-mnist | base" in markdown and "0 (chosen)" in markdown


def test_the_metric_is_any_leaderboard_metric_the_runs_computed(two_studies):
    with pytest.raises(Exception, match="smoke: no kid scores"):
        compare.compare("smoke", "seeds", metric="kid")
