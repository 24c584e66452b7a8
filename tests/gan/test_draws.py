"""A step's random draws: alone from torch's stream; under member_streams and vmap, each
member's from its own generator, as that member's solo run would draw them."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import vmap

from bench.gan import draws

SEEDS = (1, 2, 3)


def _step(x):  # the kinds of draw a train step makes, in a fixed order
    return (draws.normal((2, 3), x), draws.uniform((4,), x), draws.normal_like(x), draws.uniform_like(x),
            draws.dropout(torch.ones(5, 4) + x, 0.3), draws.dropout(torch.ones(2, 3, 4, 4) + x.sum(), 0.25, feature=True))


def _alone():
    return (torch.randn(2, 3), torch.rand(4), torch.randn(5, 4), torch.rand(5, 4),
            F.dropout(torch.ones(5, 4), 0.3), F.dropout2d(torch.ones(2, 3, 4, 4), 0.25))


def test_each_member_draws_what_it_would_alone():
    with draws.member_streams([torch.Generator().manual_seed(s) for s in SEEDS]):
        stacked = vmap(_step, randomness="error")(torch.zeros(len(SEEDS), 5, 4))
    for k, seed in enumerate(SEEDS):
        torch.manual_seed(seed)
        for ours, theirs in zip(stacked, _alone()):
            assert torch.equal(ours[k], theirs)


def test_alone_the_draws_are_torchs_own():
    torch.manual_seed(0)
    ours = _step(torch.zeros(5, 4))
    torch.manual_seed(0)
    assert all(torch.equal(a, b) for a, b in zip(ours, _alone()))


def test_a_member_draw_without_the_member_axis_is_refused():
    with draws.member_streams([torch.Generator() for _ in SEEDS]), pytest.raises(RuntimeError, match="shared stream"):
        draws.normal((2,), torch.zeros(3))  # outside vmap: it would draw from the shared stream
