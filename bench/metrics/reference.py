"""Features of each data set's real test split, computed once and cached on disk.

The cache key holds the data set, the backbone and the evaluator's SHA-256, so a
retrained evaluator never reuses stale statistics.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bench import data
from bench.evaluator import Evaluator
from bench.files import atomic_torch_save, cache_dir
from bench.metrics.features import Features, extract


def cache_path(dataset: str, backbone: str, evaluator: Evaluator) -> Path:
    return cache_dir() / f"reference-{dataset}-{backbone}-{evaluator.sha256[:16]}.pt"


def reference(dataset: str, evaluator: Evaluator, backbone_name: str = "evaluator", backbone=None, data_root=None) -> Features:
    """Features of ``dataset``'s test split (labels included)."""
    path = cache_path(dataset, backbone_name, evaluator)
    device = next(evaluator.model.parameters()).device
    if path.exists():
        try:
            saved = torch.load(path, map_location=device, weights_only=True)
            return Features(saved["embedding"], saved["logits"], saved["labels"])
        except Exception:  # a damaged cache is rebuilt, never trusted
            path.unlink()
    test = data.load(dataset, "test", root=data_root)
    features = extract(test.images, evaluator, test.labels, backbone)
    atomic_torch_save({k: getattr(features, k).cpu() for k in ("embedding", "logits", "labels")}, path)
    return features
