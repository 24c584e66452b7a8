"""Known-answer ladders: real training images degraded step by step, scored against
the real test reference, so each metric can be seen moving the way it must.

- ``noise``: Gaussian pixel noise of standard deviation σ (pixels in 0..1);
- ``drop``: the k lowest digit classes removed, the sample size kept;
- ``collapse``: m distinct images per class, each repeated to the same count: every
  class still drawn (10/10 modes), but with less and less variety inside it.

``CHECKS`` says what each metric must do on each ladder; ``bench selfcheck --ladders``
prints the full table and the checks, and tests/test_ladders.py runs them on a
smaller one.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import torch
from torch import Tensor
from tqdm import tqdm

from bench import data, evaluator, metrics
from bench.metrics.features import extract
from bench.metrics.reference import reference

LADDERS = ("noise", "drop", "collapse")
NOISE = (0.0, 0.05, 0.1, 0.2, 0.4)
DROPPED = (0, 2, 5, 8, 9)
DISTINCT_PER_CLASS = (1, 10, 100, None)  # None: every image distinct
CLASSES = 10


def noise(images: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    noisy = images.float() / 255 + sigma * torch.randn(images.shape, generator=generator)
    return (noisy.clamp(0, 1) * 255).round().to(torch.uint8)


def drop(images: Tensor, labels: Tensor, k: int, n: int, generator: torch.Generator) -> Tensor:
    kept = torch.nonzero(labels >= k).squeeze(1)
    return images[kept[torch.randperm(len(kept), generator=generator)[:n]]]


def collapse(images: Tensor, labels: Tensor, per_class: int | None, n: int, generator: torch.Generator) -> Tensor:
    """``n // 10`` images of each class, drawn from only ``per_class`` distinct ones."""
    count = n // CLASSES
    chosen = []
    for c in range(CLASSES):
        pool = torch.nonzero(labels == c).squeeze(1)
        distinct = pool[torch.randperm(len(pool), generator=generator)[: per_class or count]]
        chosen.append(distinct.repeat(count // len(distinct) + 1)[:count])
    return images[torch.cat(chosen)]


def rungs(ladder: str, n: int, seed: int = 0) -> list[tuple[str, Tensor]]:
    """(rung, uint8 images) of one ladder, from MNIST's training split, in order of
    decreasing fidelity (noise, drop) or increasing variety (collapse)."""
    train = data.load("mnist", "train")
    generator = torch.Generator().manual_seed(seed)
    if ladder == "noise":
        base = train.images[torch.randperm(len(train), generator=generator)[:n]]
        return [(f"sigma={s}", noise(base, s, generator)) for s in NOISE]
    if ladder == "drop":
        return [(f"k={k}", drop(train.images, train.labels, k, n, generator)) for k in DROPPED]
    return [(f"per_class={m or 'all'}", collapse(train.images, train.labels, m, n, generator)) for m in DISTINCT_PER_CLASS]


def table(ladders: Iterable[str] = LADDERS, n: int = 10_000, device: str = "cpu", names: Iterable[str] = tuple(metrics.COMPUTE),
          seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """One row per rung, one column per scalar metric (of the ``names`` metric modules)."""
    judge = evaluator.load("mnist", device)
    real = reference("mnist", judge)
    todo = [(ladder, rung, images) for ladder in ladders for rung, images in rungs(ladder, n, seed)]
    rows = []
    for ladder, rung, images in tqdm(todo, desc="ladders", unit="rung", disable=not progress):
        scores = metrics.score_features(real, extract(images, judge), names)
        rows.append({"ladder": ladder, "rung": rung, "n": len(images)} | {k: v for k, v in scores.items() if isinstance(v, (int, float))})
    return pd.DataFrame(rows)


def _increasing(column: str, strict: bool = True):
    def check(rows: pd.DataFrame) -> bool:
        diffs = rows[column].diff().iloc[1:]
        return bool((diffs > 0).all() if strict else (diffs >= 0).all())

    return check


def _decreasing(column: str, strict: bool = True):
    def check(rows: pd.DataFrame) -> bool:
        return _increasing(column, strict)(rows.assign(**{column: -rows[column]}))

    return check


def _expected_distinct(rows: pd.DataFrame) -> list[float]:
    """The birthday estimate's exact answer for m images per class, each repeated
    c = n/(10 m) times: C(n, 2) / (10 m · C(c, 2)) = (n - 1) / (c - 1)."""
    n = rows["n"].iloc[0]
    return [(n - 1) / (n / (CLASSES * m) - 1) for m in DISTINCT_PER_CLASS if m]


CHECKS = {  # ladder -> (what must hold, test on its rows in rung order); each fails if its metric is cut off
    "noise": [
        ("FID rises with every step of noise", _increasing("fid")),
        ("precision and density fall, to < 0.05 at sigma=0.4", lambda r: _decreasing("precision", False)(r) and _decreasing("density", False)(r)
         and r["precision"].iloc[-1] < 0.05 and r["density"].iloc[-1] < 0.05),
        ("valid_share from > 0.95 without noise to < 0.05 from sigma=0.2 (noisy digits leave the real manifold)",
         lambda r: r["valid_share"].iloc[0] > 0.95 and (r["valid_share"].iloc[3:] < 0.05).all()),
        ("NDB's JSD rises; NDB/K from < 0.2 without noise to > 0.8 (it saturates) from sigma=0.2",
         lambda r: _increasing("ndb_jsd")(r) and r["ndb_k"].iloc[0] < 0.2 and (r["ndb_k"].iloc[3:] > 0.8).all()),
    ],
    "drop": [
        ("modes = 10 - k", lambda r: list(r["modes"]) == [10 - k for k in DROPPED]),
        ("kl_uniform and NDB's JSD rise", lambda r: _increasing("kl_uniform")(r) and _increasing("ndb_jsd")(r)),
        ("NDB/K < 0.2 with every class, > 0.8 (it saturates) once half are gone",
         lambda r: r["ndb_k"].iloc[0] < 0.2 and (r["ndb_k"].iloc[2:] > 0.8).all()),
        ("recall and coverage fall", lambda r: _decreasing("recall")(r) and _decreasing("coverage")(r)),
        ("min per-class coverage is 0 once a class is gone", lambda r: r["coverage_min"].iloc[0] > 0.2 and (r["coverage_min"].iloc[1:] == 0).all()),
    ],
    "collapse": [
        ("still 10/10 modes and kl_uniform < 0.01", lambda r: (r["modes"] == 10).all() and (r["kl_uniform"] < 0.01).all()),
        ("NDB/K and its JSD fall as variety grows, NDB/K from > 0.9 to < 0.2",
         lambda r: _decreasing("ndb_k")(r) and _decreasing("ndb_jsd")(r) and r["ndb_k"].iloc[0] > 0.9 and r["ndb_k"].iloc[-1] < 0.2),
        ("distinct images within 20 % of 10 m for m = 1, 10, 100 (exactly: (n-1)/(c-1)), and > 10,000 when all differ",
         lambda r: all(abs(got / want - 1) < 0.2 for got, want in zip(r["distinct_images"], _expected_distinct(r)))
         and r["distinct_images"].iloc[-1] > 10_000),
        ("min per-class coverage rises with variety, min per-class recall too (from 0 to > 0.5)",
         lambda r: _increasing("coverage_min")(r) and _increasing("recall_min", False)(r) and r["recall_min"].iloc[0] == 0 and r["recall_min"].iloc[-1] > 0.5),
    ],
}


def failures(results: pd.DataFrame) -> list[str]:
    """The checks that do not hold on a ``table()`` (of any of the ladders)."""
    return [f"{ladder}: {what}" for ladder, checks in CHECKS.items() if ladder in set(results["ladder"])
            for what, holds in checks if not holds(results[results["ladder"] == ladder].reset_index(drop=True))]
