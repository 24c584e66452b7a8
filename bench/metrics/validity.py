"""Is a sample a digit at all? The realism score (Kynkäänniemi et al. 2019, sec. 5)
against the real training images' feature manifold.

The evaluator calls almost anything some class with confidence (uniform noise is an
"8" with p ≥ 0.9), so a class histogram alone cannot tell a collapsed generator from
one that draws no digits. A sample's realism is max_i r_i / d(x, real_i): above 1 it
lies inside some real image's k-NN ball (k = 3; the half of the real images with the
largest balls is dropped, as in the paper, so outliers' wide balls do not vouch for
noise). A sample counts as a digit when its realism reaches the threshold that
``REAL_PASS`` (99 %) of the real test images reach. ``modes``, ``kl_uniform`` and the
class histogram count only those samples. Written here because no library has it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bench.metrics import prdc

REAL_PASS = 0.99  # share of real test images judged digits: sets the threshold
K = prdc.K_PRECISION_RECALL
CHUNK = 2048


@dataclass(frozen=True)
class Manifold:
    points: Tensor  # [M, F] real training features (the half with the smallest k-NN radii)
    radii: Tensor  # [M] their k-NN radii
    threshold: float  # realism that REAL_PASS of the real test images reach

    def state_dict(self) -> dict:
        return {"points": self.points.cpu(), "radii": self.radii.cpu(), "threshold": self.threshold}

    @classmethod
    def from_state(cls, state: dict, device) -> Manifold:
        return cls(state["points"].to(device), state["radii"].to(device), float(state["threshold"]))

    def realism(self, x: Tensor) -> Tensor:
        """[N] realism scores of features ``x`` (inf on a real point)."""
        if not len(x):
            return torch.zeros(0, device=x.device)
        return torch.cat([(self.radii[None, :] / torch.cdist(chunk, self.points)).amax(1) for chunk in x.split(CHUNK)])

    def is_digit(self, x: Tensor) -> Tensor:
        return self.realism(x) >= self.threshold


def fit(train: Tensor, test: Tensor) -> Manifold:
    """The manifold of real ``train`` features, its threshold set on real ``test`` features."""
    (radii,) = prdc.knn_radii(train, K)
    keep = radii <= radii.median()
    manifold = Manifold(train[keep], radii[keep], 0.0)
    threshold = torch.quantile(manifold.realism(test).clamp(max=1e6), 1 - REAL_PASS)
    return Manifold(manifold.points, manifold.radii, float(threshold))
