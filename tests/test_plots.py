"""The pictures runs log."""

from bench import plots


def test_metric_curves_never_join_scores_of_different_sample_counts():
    history = [{"step": 10, "fid": 90.0, "modes": 8, "n": 2000}, {"step": 10, "loss_d": 1.0},
               {"step": 20, "fid": 60.0, "modes": 9, "n": 2000}, {"step": 30, "fid": 40.0, "modes": 10, "n": 10_000}]
    fid_axis = plots.metric_curves(history).axes[0]
    assert [list(line.get_xdata()) for line in fid_axis.lines] == [[10, 20], [30]]
    assert [line.get_label() for line in fid_axis.lines] == ["FID, n = 2,000", "FID, n = 10,000"]
