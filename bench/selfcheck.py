"""``bench selfcheck``: score real data whose answers are known, and say whether they hold.

Real MNIST test images against their own reference must look perfect, and 10,000
training images must look close; if not, the evaluator or the metrics are broken.
``--ladders`` adds the known-answer ladders of ``bench.ladders``; ``--sample-sizes``
shows how the metrics of real data move with the number of samples scored.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import torch

from bench import data, evaluator, ladders, metrics
from bench.errors import BenchError

CHECKS = {  # (split, description, test on the result)
    "test": [
        ("Inception-style score >= 9.7", lambda r: r["is"] >= 9.7),
        ("all 10 modes covered", lambda r: r["modes"] == 10),
        ("kl_uniform < 0.01", lambda r: r["kl_uniform"] < 0.01),
        ("FID against itself ~ 0", lambda r: abs(r["fid"]) < 1e-3),
        ("precision = recall = 1", lambda r: r["precision"] == r["recall"] == 1.0),
    ],
    "train": [
        ("FID of 10,000 training images < 2", lambda r: r["fid"] < 2),
        ("precision and recall > 0.7", lambda r: min(r["precision"], r["recall"]) > 0.7),
    ],
}


def run(device: str = "cpu") -> Iterator[str]:
    judge = evaluator.load("mnist", device)
    yield f"evaluator mnist: sha256 {judge.sha256}, test accuracy {judge.test_accuracy:.2%}"
    failed = []
    for split, checks in CHECKS.items():
        result = metrics.score(data.load("mnist", split).images[:10_000], device=device)
        yield f"\nreal MNIST {split} images (10,000) against the test reference"
        yield metrics.format_table(result)
        for description, check in checks:
            ok = check(result)
            failed += [] if ok else [description]
            yield f"{'PASS' if ok else 'FAIL'}  {description}"
    if failed:
        raise BenchError(f"self-check failed: {'; '.join(failed)}")
    yield "\nself-check passed"


def run_ladders(n: int = 10_000, device: str = "cpu") -> Iterator[str]:
    """Every metric on every rung of the ladders, as a Markdown table, then their checks."""
    results = ladders.table(n=n, device=device)
    yield results.drop(columns="n").to_markdown(index=False, floatfmt=".3g")
    failed = ladders.failures(results)
    for ladder, checks in ladders.CHECKS.items():
        for what, _ in checks:
            yield f"{'FAIL' if f'{ladder}: {what}' in failed else 'PASS'}  {ladder}: {what}"
    if failed:
        raise BenchError(f"ladder checks failed: {'; '.join(failed)}")
    yield f"\nladder checks passed ({n:,} images per rung)"


SAMPLE_SIZES = (500, 2000, 10_000)
SIZE_COLUMNS = ["fid", "kid", "kl_uniform", "precision", "recall", "coverage", "ndb_k", "valid_share"]


def sample_size_table(sizes=SAMPLE_SIZES, device: str = "cpu") -> pd.DataFrame:
    """Real training images (the first N of one seeded shuffle) against the test reference:
    what each metric reads for perfect samples at each N. Numbers scored on different N
    are not comparable; this table says by how much."""
    train = data.load("mnist", "train").images
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    rows = [{"n": n} | {k: v for k, v in metrics.score(train[order[:n]], device=device).items() if k in SIZE_COLUMNS} for n in sizes]
    return pd.DataFrame(rows)[["n", *SIZE_COLUMNS]]


def run_sample_sizes(sizes=SAMPLE_SIZES, device: str = "cpu") -> Iterator[str]:
    yield f"real MNIST training images against the test reference, by sample count (device {device})"
    table = sample_size_table(sizes, device)
    yield table.assign(n=table["n"].map("{:,}".format)).to_markdown(index=False, floatfmt=".3g")
