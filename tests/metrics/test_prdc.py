"""Precision/recall and density/coverage against the published definitions, in numpy."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from bench.metrics import prdc


def _reference(real, fake, k):
    """Straight from Naeem et al. 2020 / clovaai's prdc: full distance matrices, numpy."""
    radius = lambda x: np.sort(cdist(x, x), axis=1)[:, k]  # index 0 is the point itself
    r_real, r_fake, d = radius(real), radius(fake), cdist(real, fake)
    return {
        "precision": (d < r_real[:, None]).any(0).mean(),
        "recall": (d < r_fake[None, :]).any(1).mean(),
        "density": (d < r_real[:, None]).sum(0).mean() / k,
        "coverage": (d.min(1) < r_real).mean(),
    }


@pytest.mark.parametrize("shift", [0.0, 0.5, 2.0])
def test_matches_reference_definitions(shift, monkeypatch):
    monkeypatch.setattr(prdc, "CHUNK", 97)  # exercise the chunked path
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(400, 8)), rng.normal(size=(300, 8)) + shift
    ours = prdc.prdc(torch.from_numpy(real), torch.from_numpy(fake), k_pr=3, k_dc=5)
    ref3, ref5 = _reference(real, fake, 3), _reference(real, fake, 5)
    assert ours["precision"] == pytest.approx(ref3["precision"])
    assert ours["recall"] == pytest.approx(ref3["recall"])
    assert ours["density"] == pytest.approx(ref5["density"])
    assert ours["coverage"] == pytest.approx(ref5["coverage"])


def test_far_apart_sets_score_zero():
    real = torch.randn(200, 4, dtype=torch.float64)
    r = prdc.prdc(real, real + 100)
    assert r == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
