"""Known-answer ladders: every check holds, and each fails when its metric is cut off."""

import pytest

from bench import ladders

# the smallest sample each ladder's checks hold on, and only the metric modules they read
SETUPS = {
    "noise": (1000, ["fid", "prdc", "ndb", "modes"]),
    "drop": (1000, ["modes", "prdc", "per_class", "ndb"]),
    "collapse": (2000, ["modes", "per_class", "ndb", "distinct_images"]),
}
RUNGS = {"noise": ladders.NOISE, "drop": ladders.DROPPED, "collapse": ladders.DISTINCT_PER_CLASS}
JUDGED = {  # the columns each ladder's checks judge (not collapse's modes: they must stay blind to it)
    "noise": ["fid", "precision", "density", "ndb_k", "ndb_jsd", "valid_share"],
    "drop": ["modes", "kl_uniform", "ndb_k", "ndb_jsd", "recall", "coverage", "coverage_min"],
    "collapse": ["ndb_k", "ndb_jsd", "distinct_images", "coverage_min", "recall_min"],
}


@pytest.fixture(scope="module")
def tables():
    return {name: ladders.table([name], n=n, names=names, progress=False) for name, (n, names) in SETUPS.items()}


@pytest.mark.parametrize("name", SETUPS)
def test_every_check_holds(tables, name):
    assert len(tables[name]) == len(RUNGS[name])
    assert ladders.failures(tables[name]) == []


@pytest.mark.parametrize("name", SETUPS)
def test_a_metric_stuck_at_one_value_fails_its_check(tables, name):
    for column in JUDGED[name]:
        stuck = tables[name].assign(**{column: tables[name][column].iloc[0]})
        assert ladders.failures(stuck), f"{name}: a constant {column} passed every check"


def test_collapse_within_classes_is_invisible_to_class_counts_only(tables):
    results = tables["collapse"]
    assert (results["modes"] == 10).all()
    one_each = results.iloc[0]  # ten images, each repeated n/10 times
    assert one_each["distinct_images"] == pytest.approx(10, rel=0.05)
    assert one_each["ndb_k"] > 0.9 and one_each["coverage_min"] < 0.05
