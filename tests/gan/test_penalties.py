import pytest
import torch

from bench.gan import penalties


linear = penalties.Critic(lambda x: 3 * x.flatten(1).sum(1))  # gradient norm 3 * sqrt(numel) everywhere


def test_gradient_penalties_on_a_linear_critic():
    real, fake = torch.rand(4, 1, 2, 2), torch.rand(4, 1, 2, 2)
    norm = 3 * 2.0  # sqrt(4 pixels) = 2
    assert penalties.wgan_gp(linear, real, fake).item() == pytest.approx((norm - 1) ** 2)
    assert penalties.dragan(linear, real, fake).item() == pytest.approx((norm - 1) ** 2)
    assert penalties.r1(linear, real, fake).item() == pytest.approx(0.5 * norm**2)


def test_penalty_reaches_the_discriminator_weights():
    d = torch.nn.Linear(4, 1)
    loss = penalties.wgan_gp(penalties.Critic(lambda x: d(x.flatten(1)).squeeze(1)), torch.rand(8, 4), torch.rand(8, 4))
    loss.backward()
    assert d.weight.grad is not None and d.weight.grad.abs().sum() > 0
