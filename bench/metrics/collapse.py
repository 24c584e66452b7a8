"""What went wrong with a generator, in three distinct verdicts, and when it started.

- "no digits": fewer than ``NO_DIGITS`` of the samples are digits at all
  (``valid_share``): noise, grey blobs or an EMA generator still near its start.
- "collapsed": digits, but fewer classes than the data has (``modes`` < 10; 10-class
  data sets only: stacked MNIST's 1000 triples are not all drawn by a few thousand
  samples even from real data).
- "within-class collapse": every class, but more than ``NDB_COLLAPSED`` of NDB's bins
  differ significantly from real data (``ndb_k``): few shapes per class.

A run has collapsed at an evaluation with either of the last two verdicts.
"""

from __future__ import annotations

NO_DIGITS = 0.5
NDB_COLLAPSED = 0.5
VERDICTS = ("no digits", "collapsed", "within-class collapse", "")


def verdict(result: dict) -> str:
    """One of ``VERDICTS``; "" for none of them."""
    if result.get("valid_share", 1.0) < NO_DIGITS:
        return "no digits"
    if result.get("modes_total") == 10 and result["modes"] < 10:
        return "collapsed"
    if result.get("ndb_k", 0.0) > NDB_COLLAPSED:
        return "within-class collapse"
    return ""


def collapsed(result: dict) -> bool:
    return verdict(result) in ("collapsed", "within-class collapse")


def collapsed_at(history: list[dict]) -> int | None:
    """Step of the first collapsed evaluation in a trainer's history (None if never)."""
    return next((h["step"] for h in history if "modes" in h and collapsed(h)), None)
