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
