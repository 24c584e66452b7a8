"""Pictures say what the metrics say."""

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from bench import plots
from bench.metrics import modes

RESULTS = Path(__file__).resolve().parents[1] / "studies" / "results"


def test_mode_histogram_title_counts_modes_as_the_modes_metric_does():
    counts = np.array([1000, 1000, 1000, 5, 5, 5, 5, 5, 5, 5])  # every digit seen, three above 10 % of uniform
    title = plots.mode_histogram(counts).axes[0].get_title()
    assert modes.covered(counts) == 3 and title.startswith("3 of 10 modes")
    triples = np.zeros(1000, dtype=int)
    triples[:7] = 1  # stacked MNIST: a triple counts once it is seen
    assert plots.mode_histogram(triples).axes[0].get_title().startswith("7 of 1000 modes")
    assert plots.mode_histogram(counts, 0.87).axes[0].get_title().endswith("(digits: 87% of samples)")
    assert plots.mode_histogram(np.zeros(10, dtype=int), 0.0).axes[0].get_title() == "0 of 10 modes covered (no digits)"


def test_metric_curves_never_join_scores_of_different_sample_counts():
    history = [{"step": 10, "fid": 90.0, "modes": 8, "n": 2000}, {"step": 10, "loss_d": 1.0},
               {"step": 20, "fid": 60.0, "modes": 9, "n": 2000}, {"step": 30, "fid": 40.0, "modes": 10, "n": 10_000}]
    fid_axis = plots.metric_curves(history).axes[0]
    assert [list(line.get_xdata()) for line in fid_axis.lines] == [[10, 20], [30]]
    assert [line.get_label() for line in fid_axis.lines] == ["FID, n = 2,000", "FID, n = 10,000"]


def test_metric_curves_draw_ndb_beside_fid_and_modes():
    history = [{"step": 10, "fid": 90.0, "modes": 8, "ndb_k": 0.7, "n": 2000}, {"step": 20, "fid": 60.0, "modes": 9, "ndb_k": 0.4, "n": 2000}]
    ndb_axis = plots.metric_curves(history).axes[1]
    assert ndb_axis.get_ylabel() == "NDB/K" and list(ndb_axis.lines[0].get_ydata()) == [0.7, 0.4]


def test_pareto_labels_of_the_mode_collapse_entries_never_overlap_and_stay_inside_the_axes():
    """The mode-collapse run's leaderboard: 32 entries on MNIST, most crowded near FID 30,
    several at one point (the collapsed ones). Labels written at their points overlap there."""
    table = pd.read_csv(RESULTS / "mode-collapse" / "leaderboard.csv")
    for dataset, rows in table.groupby("dataset"):
        figure = plots.pareto_front(rows, "fid", "kl_uniform")
        axes = figure.axes[0]
        renderer = figure.canvas.get_renderer()
        boxes = [text.get_window_extent(renderer) for text in axes.texts]
        assert sorted(text.get_text() for text in axes.texts) == sorted(rows["entry"])
        overlapping = [(a.get_text(), b.get_text()) for (a, box_a), (b, box_b) in
                       itertools.combinations(zip(axes.texts, boxes), 2) if box_a.overlaps(box_b)]
        assert overlapping == [], dataset
        area = axes.get_window_extent(renderer)
        assert all(area.x0 <= b.x0 and b.x1 <= area.x1 and area.y0 <= b.y0 and b.y1 <= area.y1 for b in boxes), dataset
