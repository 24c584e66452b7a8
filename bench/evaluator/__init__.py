"""The committed evaluator classifiers, loaded with their SHA-256.

Metrics from different machines are comparable only when ``evaluator_sha256``
matches, so every result carries it.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.errors import BenchError
from bench.evaluator.model import Classifier
from bench.files import atomic_write

WEIGHTS = Path(__file__).parent / "weights"
# Stacked MNIST is scored channel by channel with the MNIST classifier.
CLASSIFIER_FOR = {"mnist": "mnist", "stacked-mnist": "mnist", "fashion-mnist": "fashion-mnist"}
TARGET_ACCURACY = {"mnist": 0.994, "fashion-mnist": 0.92}


@dataclass(frozen=True)
class Evaluator:
    name: str  # the data set it was trained on
    model: Classifier
    sha256: str
    test_accuracy: float


@functools.lru_cache(maxsize=8)
def load(dataset: str, device: str = "cpu", directory: Path = WEIGHTS) -> Evaluator:
    """The evaluator for ``dataset``, its weights checked against the recorded SHA-256."""
    name = CLASSIFIER_FOR[dataset]
    weights, info_file = directory / f"{name}.pt", directory / f"{name}.json"
    if not weights.exists() or not info_file.exists():
        raise BenchError(f"{weights}: evaluator missing; train it with 'bench evaluator train --dataset {name}'")
    raw = weights.read_bytes()
    info = json.loads(info_file.read_text())
    if hashlib.sha256(raw).hexdigest() != info["sha256"]:
        raise BenchError(f"{weights}: SHA-256 differs from {info_file.name}; restore the file or retrain with 'bench evaluator train --dataset {name}'")
    with torch.random.fork_rng(devices=[]):  # its initial weights, overwritten at once, must not shift a caller's training stream
        model = Classifier()
    model.load_state_dict(torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True))
    model.requires_grad_(False)
    return Evaluator(name, model.eval().to(device), info["sha256"], info["test_accuracy"])


def save(model: Classifier, name: str, info: dict, directory: Path = WEIGHTS) -> dict:
    """Write ``name.pt`` and ``name.json`` (with the weights' SHA-256) atomically."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    raw = buffer.getvalue()
    info = {"dataset": name, "sha256": hashlib.sha256(raw).hexdigest(), **info}
    atomic_write(directory / f"{name}.pt", lambda f: f.write(raw))
    atomic_write(directory / f"{name}.json", lambda f: f.write(json.dumps(info, indent=2).encode() + b"\n"))
    return info
