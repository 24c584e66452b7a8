"""``bench speed --metrics``: the metric suite timed beside the plain torchmetrics way.

Baseline: each torchmetrics metric gets the evaluator as its own ``feature``
network, so real and generated images go through the network once per metric and
the real statistics are recomputed every time. The suite extracts features once
and reads the real test set's from the cache. Both score the same images, in one
process, alternating, best of ``repeats``.
"""

from __future__ import annotations

import copy
import platform
import time
import warnings
from collections.abc import Iterator

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from bench import data, evaluator, metrics
from bench.metrics import kid, prdc

GOAL_SECONDS = {"cpu": 30.0, "cuda": 2.0}


class _Output(nn.Module):
    """The evaluator as a torchmetrics feature network: embedding (0) or logits (1)."""

    def __init__(self, model: nn.Module, which: int):
        super().__init__()
        self.model, self.which = model, which

    def forward(self, images):
        return self.model.embed(images)[self.which]


def baseline(real: torch.Tensor, fake: torch.Tensor, device: str) -> dict:
    # built on the CPU, where torchmetrics probes the feature network, then moved: a
    # copy, since the cached evaluator is shared
    model = copy.deepcopy(evaluator.load("mnist", "cpu").model)
    embed, classify = _Output(model, 0), _Output(model, 1)
    fid = FrechetInceptionDistance(feature=embed, input_img_size=(1, 28, 28))
    with warnings.catch_warnings():  # "saves all features in a buffer": intended
        warnings.simplefilter("ignore", UserWarning)
        kid_metric = KernelInceptionDistance(feature=embed, subset_size=min(kid.SUBSET_SIZE, len(fake)))
        inception = InceptionScore(feature=classify)
    fid, kid_metric, inception = (m.to(device) for m in (fid, kid_metric, inception))
    for batch_real, batch_fake in zip(real.split(1000), fake.split(1000)):
        for metric in (fid, kid_metric):
            metric.update(batch_real, real=True)
            metric.update(batch_fake, real=False)
        inception.update(batch_fake)
    result = {"fid": float(fid.compute()), "kid": float(kid_metric.compute()[0]), "is": float(inception.compute()[0])}
    with torch.inference_mode():  # PRDC, which torchmetrics lacks, on one more pass of each set
        result |= prdc.prdc(torch.cat([embed(b) for b in real.split(1000)]), torch.cat([embed(b) for b in fake.split(1000)]))
    return result


def _best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(n: int, device: str, repeats: int) -> Iterator[str]:
    real = data.load("mnist", "test").images.to(device)
    fake = data.load("mnist", "train").images[:n].to(device)  # real digits stand in for samples
    metrics.score(fake[:100], device=device)  # build the reference cache and warm up
    kind = torch.device(device).type
    name = torch.cuda.get_device_name() if kind == "cuda" else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    yield f"device: {kind} ({name}); {n:,} samples vs the 10,000-image MNIST test set; best of {repeats}"
    suite = _best_time(lambda: metrics.score(fake, device=device), repeats)
    plain = _best_time(lambda: baseline(real, fake, device), repeats)
    goal = GOAL_SECONDS.get(kind)
    yield f"bench suite (FID, KID, IS, modes, precision/recall, density/coverage): {suite:7.2f} s"
    yield f"plain torchmetrics, one network pass per metric (FID, KID, IS, P/R, D/C):{plain:7.2f} s"
    yield f"speed-up: {plain / suite:.2f}x"
    if goal:
        yield f"goal for {n:,} samples on {kind}: < {goal:g} s -> {'met' if suite < goal else 'NOT met'} ({suite / goal:.2f} of the budget)"
