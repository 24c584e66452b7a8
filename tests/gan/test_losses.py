"""Each loss against its formula, on tiny inputs computed by hand."""

import math

import pytest
import torch

from bench.gan import losses

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_minimax():
    d, g = losses.mm(REAL, FAKE)
    expected_d = -(math.log(sig(2)) + math.log(sig(-1))) / 2 - (math.log(1 - sig(0.5)) + math.log(1 - sig(-3))) / 2
    assert d.item() == pytest.approx(expected_d, rel=1e-6)
    assert g.item() == pytest.approx((math.log(1 - sig(0.5)) + math.log(1 - sig(-3))) / 2, rel=1e-6)


def test_non_saturating_and_label_smoothing():
    d, g = losses.ns(REAL, FAKE, real_target=0.9)
    real_term = -sum(0.9 * math.log(sig(x)) + 0.1 * math.log(1 - sig(x)) for x in (2, -1)) / 2
    fake_term = -sum(math.log(1 - sig(x)) for x in (0.5, -3)) / 2
    assert d.item() == pytest.approx(real_term + fake_term, rel=1e-6)
    assert g.item() == pytest.approx(-(math.log(sig(0.5)) + math.log(sig(-3))) / 2, rel=1e-6)


def test_least_squares():
    d, g = losses.lsgan(REAL, FAKE)
    assert d.item() == pytest.approx(0.5 * ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + 0.5 * (0.5**2 + 3**2) / 2)
    assert g.item() == pytest.approx(0.5 * ((0.5 - 1) ** 2 + (-3 - 1) ** 2) / 2)


def test_wasserstein():
    d, g = losses.wgan(REAL, FAKE)
    assert d.item() == pytest.approx((0.5 - 3) / 2 - (2 - 1) / 2)
    assert g.item() == pytest.approx(-(0.5 - 3) / 2)


def test_hinge():
    d, g = losses.hinge(REAL, FAKE)
    assert d.item() == pytest.approx((max(0, 1 - 2) + max(0, 1 + 1)) / 2 + (max(0, 1 + 0.5) + max(0, 1 - 3)) / 2)
    assert g.item() == pytest.approx(-(0.5 - 3) / 2)


def test_stable_where_sigmoid_saturates():
    d, g = losses.ns(torch.tensor([200.0]), torch.tensor([-200.0]))
    assert torch.isfinite(d) and torch.isfinite(g) and g.item() == pytest.approx(200.0)


def test_every_loss_has_one_signature():
    for name, loss in losses.LOSSES.items():
        d, g = loss.fn(REAL, FAKE, 1.0)
        assert d.ndim == g.ndim == 0, name
