"""Pictures say what the metrics say."""

import numpy as np

from bench import plots
from bench.metrics import modes


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
