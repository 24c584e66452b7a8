"""Features of each data set's real test split, and what the within-class metrics
calibrate on real data, computed once and cached on disk.

The cache keys hold the data set, the backbone and the evaluator's SHA-256 (and the
bin count and seed for NDB's bins), so a retrained evaluator never reuses stale
statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from bench import data, files
from bench.evaluator import Evaluator
from bench.files import atomic_torch_save
from bench.metrics import ndb, per_class, prdc, support, validity
from bench.metrics.features import Features, extract


@dataclass(frozen=True)
class Reference(Features):
    """The real test split's features, plus what metrics would otherwise recompute on
    every call: NDB's bins (fitted on training images), the birthday estimate's
    collision radius and the k-NN radii (of the test images)."""

    bins: ndb.Bins | None = None
    duplicate_radius: float | None = None
    radii: tuple[Tensor, Tensor] | None = None  # k-NN radii for precision/recall and density/coverage
    class_radii: tuple[Tensor, Tensor] | None = None  # the same within each image's own class
    digits: validity.Manifold | None = None  # what counts as a digit at all


def cache_path(dataset: str, backbone: str, evaluator: Evaluator, what: str = "reference") -> Path:
    return files.cache_dir() / f"{what}-{dataset}-{backbone}-{evaluator.sha256[:16]}.pt"


def _cached(path: Path, device, build) -> dict:
    """``build()``'s dict of tensors, saved at ``path`` the first time."""
    if path.exists():
        try:
            return torch.load(path, map_location=device, weights_only=True)
        except Exception:  # a damaged cache is rebuilt, never trusted
            path.unlink()
    state = build()
    atomic_torch_save({k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}, path)
    return state


def reference(dataset: str, evaluator: Evaluator, backbone_name: str = "evaluator", backbone=None, data_root=None,
              bins: int = ndb.BINS) -> Reference:
    """Features of ``dataset``'s test split (labels included) with their calibration."""
    device = next(evaluator.model.parameters()).device

    def cached(what: str, build) -> dict:
        return _cached(cache_path(dataset, backbone_name, evaluator, what), device, build)

    test = cached("reference", lambda: _features(dataset, "test", evaluator, backbone, data_root))
    c = cached("calibration", lambda: _calibrate(test))
    train = lambda: cached(f"train-s{ndb.SEED}", lambda: _features(dataset, "train", evaluator, backbone, data_root, ndb.FIT_SAMPLES))  # noqa: E731
    fitted = cached(f"ndb-k{bins}-s{ndb.SEED}", lambda: ndb.fit(train()["embedding"], bins, ndb.SEED).state_dict())
    digits = cached(f"digits-s{ndb.SEED}", lambda: validity.fit(train()["embedding"], test["embedding"]).state_dict())
    return Reference(test["embedding"], test["logits"], test["labels"], ndb.Bins.from_state(fitted, device), float(c["duplicate_radius"]),
                     (c["radii_pr"], c["radii_dc"]), None if c["class_radii_pr"] is None else (c["class_radii_pr"], c["class_radii_dc"]),
                     validity.Manifold.from_state(digits, device))


def _features(dataset: str, split: str, evaluator: Evaluator, backbone, data_root, limit: int | None = None) -> dict:
    """Features of a split, or of ``limit`` of its images drawn with NDB's seed."""
    images = data.load(dataset, split, root=data_root)
    picks = torch.randperm(len(images), generator=torch.Generator().manual_seed(ndb.SEED))[:limit] if limit else slice(None)
    features = extract(images.images[picks], evaluator, images.labels[picks], backbone)
    return {"embedding": features.embedding, "logits": features.logits, "labels": features.labels}


def _calibrate(test: dict) -> dict:
    """What the metrics would otherwise recompute from the real test features on every call."""
    embedding, labels = test["embedding"], test["labels"]
    radii = prdc.knn_radii(embedding, prdc.K_PRECISION_RECALL, prdc.K_DENSITY_COVERAGE)
    class_radii = per_class.class_radii(embedding, labels) if test["logits"].shape[1] == 1 else (None, None)
    return {"duplicate_radius": support.calibrate(embedding), "radii_pr": radii[0], "radii_dc": radii[1],
            "class_radii_pr": class_radii[0], "class_radii_dc": class_radii[1]}
