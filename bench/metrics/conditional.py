"""For conditional generators: does the sample show the class that was asked for?"""

from __future__ import annotations

from torchmetrics.functional.classification import multiclass_accuracy

from bench.metrics import fid
from bench.metrics.features import Features


def compute(real: Features, fake: Features) -> dict:
    if fake.labels is None:
        return {}
    classes = 10**fake.channels
    accuracy = multiclass_accuracy(fake.predicted, fake.labels, num_classes=classes, average="micro")
    result = {"label_accuracy": float(accuracy)}
    if classes == 10:  # 1000 stacked classes leave too few samples per class for an FID
        result["fid_per_class"] = fid.per_class(real, fake)
    return result
