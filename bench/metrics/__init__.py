"""The metric suite: ``score(images)`` -> one flat dict of numbers.

Each metric module exposes ``compute(real: Reference, fake: Features) -> dict``;
``COMPUTE`` lists them, and ``score`` runs all of them on features that are extracted
once (generated images) or read from the cache (the real test set and its calibration).

``METRICS`` is the one registry of the scalars a study can optimise and the leaderboard
ranks: each one's name, which way is better, how a value is shown and what it measures.
The study spec, leaderboard, progress display, study summary and CLI all read it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from bench import data, evaluator
from bench.errors import BenchError
from bench.metrics import ndb

if TYPE_CHECKING:
    from bench.metrics.features import Features
    from bench.metrics.reference import Reference

# metric -> the module whose compute() gives it; each returns one or more of METRICS and more.
# Imported when first scored: torchmetrics (with torchvision and scipy) takes seconds to import,
# which processes that never score (the launcher of a finished study, `bench ui`) need not pay.
COMPUTE = {"fid": "fid", "kid": "kid", "is": "inception_score", "modes": "modes", "prdc": "prdc", "per_class": "per_class", "ndb": "ndb",
           "distinct_images": "support", "conditional": "conditional"}


@dataclass(frozen=True)
class Metric:
    name: str
    direction: str  # "minimize" or "maximize": which way is better
    format: str  # format spec of one value wherever it is shown (tables, trial lines, summaries)
    description: str  # one line, for legends

    def show(self, value) -> str:
        return format(value, self.format)


# in the leaderboard's column order
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("fid", "minimize", ".4g", "Fréchet distance to the real test set on the evaluator's features"),
    Metric("kid", "minimize", ".4g", "kernel distance (unbiased squared MMD) to the real test set on the evaluator's features"),
    Metric("is", "maximize", ".4g", "Inception-style score from the evaluator's class probabilities"),
    Metric("modes", "maximize", ".0f", "classes the samples that are digits cover"),
    Metric("kl_uniform", "minimize", ".4g", "KL divergence of the digits' class histogram from uniform"),
    Metric("valid_share", "maximize", ".4g", "share of samples that are digits at all (realism score)"),
    Metric("precision", "maximize", ".4g", "share of samples inside the real images' k-NN balls (k = 3)"),
    Metric("recall", "maximize", ".4g", "share of real images inside the samples' k-NN balls (k = 3)"),
    Metric("density", "maximize", ".4g", "how many real k-NN balls hold each sample, on average (k = 5)"),
    Metric("coverage", "maximize", ".4g", "share of real images whose k-NN ball holds a sample (k = 5)"),
    Metric("recall_min", "maximize", ".4g", "recall of the worst class"),
    Metric("coverage_min", "maximize", ".4g", "coverage of the worst class"),
    Metric("ndb_k", "minimize", ".4g", "share of k-means bins whose sample share differs from real data's (NDB/K)"),
    Metric("ndb_jsd", "minimize", ".4g", "JS divergence of the samples' and real data's k-means bin histograms"),
    Metric("distinct_images", "maximize", ".0f", "equally likely distinct images the samples behave like (birthday paradox)"),
    Metric("confident", "maximize", ".4g", "share of samples the evaluator classifies with probability at least 0.9"),
    Metric("label_accuracy", "maximize", ".4g", "how often a conditional generator draws the class it was asked for"),
)}
SIGN = {"minimize": 1, "maximize": -1}  # times a value: smaller is better for either direction


def show(name: str, value) -> str:
    """``value`` of metric ``name`` as text: in its declared format, other numbers to 4 figures."""
    return METRICS[name].show(value) if name in METRICS else format(value, ".4g")


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
    return score_each([images], [labels], dataset, backbone, device, data_root, ndb_bins)[0]


def score_each(
    image_sets: list[Tensor],
    label_sets: list[Tensor | None] | None = None,
    dataset: str = "mnist",
    backbone: str = "evaluator",
    device: str = "cpu",
    data_root=None,
    ndb_bins: int = ndb.BINS,
) -> list[dict]:
    """``score`` for each image set (e.g. each member of a population), with the networks
    run once over all of them: each set's numbers are those ``score`` gives it alone."""
    data.check_name(dataset)
    label_sets = label_sets or [None] * len(image_sets)
    image_sets = [check_images(images, labels, dataset) for images, labels in zip(image_sets, label_sets)]
    if not 2 <= ndb_bins <= ndb.FIT_SAMPLES // 20:
        raise BenchError(f"ndb_bins={ndb_bins}; NDB needs 2..{ndb.FIT_SAMPLES // 20} bins (at least 20 fitting images each)")
    from bench.metrics.features import extract
    from bench.metrics.reference import reference

    judge = evaluator.load(dataset, device)
    net = load_backbone(backbone, device)
    real = reference(dataset, judge, backbone, net, data_root, ndb_bins)
    labelled = [labels is not None for labels in label_sets]
    if any(labelled) and not all(labelled):
        raise ValueError("score_each: give labels for every image set or for none")
    fake = extract(torch.cat(image_sets), judge, torch.cat(label_sets).long() if all(labelled) else None, net)
    ends = torch.tensor([len(images) for images in image_sets]).cumsum(0).tolist()
    about = {"dataset": dataset, "backbone": backbone, "evaluator_sha256": judge.sha256}
    return [score_features(real, fake.slice(end - len(images), end)) | {"n": len(images)} | about
            for images, end in zip(image_sets, ends)]


def score_features(real: Reference, fake: Features, names=COMPUTE) -> dict:
    """The ``names`` metric modules' results (default: all) for ``fake`` against ``real``."""
    results = {}
    for name in names:
        results |= importlib.import_module(f"bench.metrics.{COMPUTE[name]}").compute(real, fake)
    return results


def format_table(result: dict) -> str:
    """Aligned ``name  value`` lines for terminals."""
    lines = []
    for key, value in result.items():
        if key in METRICS and isinstance(value, (int, float)):
            value = show(key, value)
        elif isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list) and len(value) > 10:
            value = f"[{len(value)} values]"
        elif isinstance(value, list):
            value = " ".join("-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v) for v in value)
        lines.append(f"{key:<18} {value}")
    return "\n".join(lines)
