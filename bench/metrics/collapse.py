"""Collapse over training: the first evaluation at which a run had collapsed.

A run has collapsed at an evaluation where the evaluator found fewer digit classes
than the data has (10-class data sets only: stacked MNIST's 1000 triples are not all
drawn by a few thousand samples even from real data), or where more than
``NDB_COLLAPSED`` of NDB's bins differ significantly from real data.
"""

from __future__ import annotations

NDB_COLLAPSED = 0.5


def collapsed(result: dict) -> bool:
    lost_class = result.get("modes_total") == 10 and result["modes"] < 10
    return lost_class or result.get("ndb_k", 0.0) > NDB_COLLAPSED


def collapsed_at(history: list[dict]) -> int | None:
    """Step of the first collapsed evaluation in a trainer's history (None if never)."""
    return next((h["step"] for h in history if "modes" in h and collapsed(h)), None)
