"""The metric suite: ``score(images)`` -> one flat dict of numbers.

Each metric module exposes ``compute(real: Reference, fake: Features) -> dict``;
``METRICS`` is the registry, ``DIRECTIONS`` says which way each number is better,
and ``score`` runs all of them on features that are extracted once (generated
images) or read from the cache (the real test set and its calibration).
"""

from __future__ import annotations

import torch
from torch import Tensor

from bench import data, evaluator
from bench.errors import BenchError
from bench.metrics import conditional, fid, inception_score, kid, modes, ndb, per_class, prdc, support
from bench.metrics.features import Features, extract
from bench.metrics.reference import Reference, reference

METRICS = {
    "fid": fid.compute,
    "kid": kid.compute,
    "is": inception_score.compute,
    "modes": modes.compute,
    "prdc": prdc.compute,
    "per_class": per_class.compute,
    "ndb": ndb.compute,
    "distinct_images": support.compute,
    "conditional": conditional.compute,
}
DIRECTIONS = {  # every scalar a study can optimise or the leaderboard ranks -> which way is better
    "fid": "minimize", "kid": "minimize", "kl_uniform": "minimize", "ndb_k": "minimize", "ndb_jsd": "minimize",
    "is": "maximize", "modes": "maximize", "precision": "maximize", "recall": "maximize", "density": "maximize",
    "coverage": "maximize", "recall_min": "maximize", "coverage_min": "maximize", "distinct_images": "maximize",
    "confident": "maximize", "label_accuracy": "maximize", "valid_share": "maximize",
}
BACKBONES = ("evaluator", "inception")
MIN_SAMPLES = 10


def load_backbone(name: str, device: str):
    """``None`` means the evaluator's own embedding."""
    if name not in BACKBONES:
        raise BenchError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    if name == "inception":
        from bench.metrics.inception import InceptionFeatures

        return InceptionFeatures(device)
    return None


def check_images(images: Tensor, labels: Tensor | None, dataset: str) -> Tensor:
    """Images as uint8 [N, C, 28, 28] with C matching ``dataset``; one-line errors otherwise."""
    channels = 3 if dataset == "stacked-mnist" else 1
    if images.dtype != torch.uint8:
        raise BenchError(f"images must be uint8 (0..255), got {images.dtype}; quantise them with (x*255).round().to(uint8)")
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.ndim != 4 or tuple(images.shape[1:]) != (channels, 28, 28):
        raise BenchError(f"images have shape {list(images.shape)}; {dataset} needs [N,{channels},28,28]" + (" or [N,28,28]" if channels == 1 else ""))
    if len(images) < MIN_SAMPLES:
        raise BenchError(f"{len(images)} images given; the metrics need at least {MIN_SAMPLES}")
    if labels is not None:
        classes = 10**channels
        if labels.shape != (len(images),):
            raise BenchError(f"labels have shape {list(labels.shape)}; expected [{len(images)}], one per image")
        if labels.dtype.is_floating_point or labels.min() < 0 or labels.max() >= classes:
            raise BenchError(f"labels must be integers in 0..{classes - 1} for {dataset}")
    return images


def score(
    images: Tensor,
    labels: Tensor | None = None,
    dataset: str = "mnist",
    backbone: str = "evaluator",
    device: str = "cpu",
    data_root=None,
    ndb_bins: int = ndb.BINS,
) -> dict:
    """Every metric for uint8 ``images`` (and requested ``labels`` of a conditional generator);
    ``ndb_bins`` is NDB's K."""
    data.check_name(dataset)
    images = check_images(images, labels, dataset)
    if not 2 <= ndb_bins <= ndb.FIT_SAMPLES // 20:
        raise BenchError(f"ndb_bins={ndb_bins}; NDB needs 2..{ndb.FIT_SAMPLES // 20} bins (at least 20 fitting images each)")
    judge = evaluator.load(dataset, device)
    net = load_backbone(backbone, device)
    real = reference(dataset, judge, backbone, net, data_root, ndb_bins)
    fake = extract(images, judge, None if labels is None else labels.long(), net)
    return score_features(real, fake) | {
        "n": len(images),
        "dataset": dataset,
        "backbone": backbone,
        "evaluator_sha256": judge.sha256,
    }


def score_features(real: Reference, fake: Features, names=METRICS) -> dict:
    """The ``names`` metrics (default: all) of ``fake`` against ``real``."""
    results = {}
    for name in names:
        results |= METRICS[name](real, fake)
    return results


def format_table(result: dict) -> str:
    """Aligned ``name  value`` lines for terminals."""
    lines = []
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list) and len(value) > 10:
            value = f"[{len(value)} values]"
        elif isinstance(value, list):
            value = " ".join("-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v) for v in value)
        lines.append(f"{key:<18} {value}")
    return "\n".join(lines)
