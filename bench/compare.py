"""``bench compare A B``: two leaderboards side by side on one metric.

Each side is a study (its leaderboard, built from its MLflow runs), one entry of a study
(``STUDY:ENTRY``), or a leaderboard saved by ``bench leaderboard --format csv``
(``FILE.csv``, or ``FILE.csv:ENTRY``). The rows are the (data set, entry) pairs both
sides have; when both sides name one entry, the data sets both have. Per row: each
side's chosen trial and its repeats' mean with 95 % CI and n, the difference B - A, and
Welch's t-test of the two sets of repeats, Holm-corrected across the rows. The test is
run on each side's mean, interval and n (``leaderboard.spread``), so a saved csv is
tested exactly as the study it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import leaderboard
from bench.errors import BenchError
from bench.metrics import METRICS

FORMATS = ("text", "md")


@dataclass(frozen=True)
class Side:
    source: str  # as the user gave it
    table: pd.DataFrame  # leaderboard rows, only the named entry's when ``entry`` is given
    entry: str | None = None


def check_options(metric: str, fmt: str = "text") -> None:
    """Before any store or file is read."""
    if metric not in METRICS:
        raise BenchError(f"--metric {metric!r}: not a metric; valid: {', '.join(METRICS)}")
    if fmt not in FORMATS:
        raise BenchError(f"--format {fmt!r}; valid: {', '.join(FORMATS)}")


def compare(a: str, b: str, metric: str = "fid", tracking_uri: str | None = None) -> pd.DataFrame:
    """The comparison of sources ``a`` and ``b`` (studies, ``STUDY:ENTRY`` or leaderboard
    csv files, ``FILE.csv[:ENTRY]``) on ``metric``: one row per shared (data set, entry)."""
    check_options(metric)
    return compare_sides(load_side(a, metric, tracking_uri), load_side(b, metric, tracking_uri), metric)


def load_side(source: str, metric: str, tracking_uri: str | None = None) -> Side:
    """One side's leaderboard: a study's (from MLflow) or a saved csv, narrowed to an entry
    when ``source`` ends in ``:ENTRY``."""
    name, _, entry = source.rpartition(":") if ":" in source else (source, "", "")
    if name.endswith(".csv"):
        table = read_csv(Path(name), metric)
    else:
        from bench.study import spec  # only here: a csv needs no study file

        study = spec.load(name)
        table = leaderboard.build(study.name, study.objectives, study.baseline, tracking_uri)
    if entry:
        if entry not in set(table["entry"]):
            raise BenchError(f"{source}: {name} has no entry {entry!r}; its entries: {_listing(table['entry'].unique())}")
        table = table[table["entry"] == entry]
    if table[[f"chosen_{metric}", f"repeat_{metric}_mean"]].isna().all(axis=None):
        raise BenchError(f"{source}: no {metric} scores; compare on a metric its runs computed (--metric)")
    return Side(source, table, entry or None)


def read_csv(path: Path, metric: str) -> pd.DataFrame:
    """A leaderboard written by ``bench leaderboard --format csv``, with the columns ``metric``
    needs; one line naming the file otherwise."""
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise BenchError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise BenchError(f"{path}: not a readable csv table ({str(e).splitlines()[0][:120]})") from None
    needed = ["dataset", "entry", f"chosen_{metric}"] + [f"repeat_{metric}_{part}" for part in ("n", "mean", "ci_low", "ci_high")]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise BenchError(f"{path}: no column {', '.join(missing)}; a leaderboard csv of this bench holds them "
                         "(bench leaderboard --study NAME --format csv --out FILE)")
    table = table.reindex(columns=list(dict.fromkeys(leaderboard.COLUMNS + list(table.columns))))
    try:  # the dtypes leaderboard.build gives
        return table.astype({c: "Int64" for c in leaderboard.COUNT_COLUMNS} | {c: "string" for c in leaderboard.TEXT_COLUMNS})
    except (TypeError, ValueError) as e:
        raise BenchError(f"{path}: a count column holds something else than whole numbers ({str(e).splitlines()[0][:120]})") from None


def compare_sides(a: Side, b: Side, metric: str) -> pd.DataFrame:
    """Rows of ``a`` and ``b`` that share a data set and entry (only the data set, when
    both sides are one entry each), side by side."""
    key = ["dataset"] if a.entry and b.entry else ["dataset", "entry"]
    a_rows, b_rows = a.table.reset_index(drop=True), b.table.reset_index(drop=True)
    pairs = a_rows[key].reset_index().merge(b_rows[key].reset_index(), on=key, suffixes=("_a", "_b"))  # row numbers on each side
    if pairs.empty:
        shared = "data set" if len(key) == 1 else "(data set, entry)"
        raise BenchError(f"{a.source} and {b.source} share no {shared}; A has {_listing(_keys(a_rows, key))}, "
                         f"B has {_listing(_keys(b_rows, key))}")
    rows_a, rows_b = a_rows.loc[pairs["index_a"]].reset_index(drop=True), b_rows.loc[pairs["index_b"]].reset_index(drop=True)
    table = pd.DataFrame({"dataset": rows_a["dataset"], "entry_a": rows_a["entry"], "entry_b": rows_b["entry"]})
    for side, rows in (("a", rows_a), ("b", rows_b)):
        table[f"{side}_chosen"] = rows[f"chosen_{metric}"].astype(float)
        for part in ("n", "mean", "ci_low", "ci_high"):
            table[f"{side}_{part}"] = rows[f"repeat_{metric}_{part}"]
        table[f"{side}_interval"] = leaderboard.reader_view(rows, [metric])[f"repeat_{metric}_mean [95% CI] (n)"]
    of_repeats = table["a_mean"].notna() & table["b_mean"].notna()  # else the chosen trials' scores are compared
    table["difference"] = (table["b_mean"] - table["a_mean"]).where(of_repeats, table["b_chosen"] - table["a_chosen"])
    table["difference_of"] = of_repeats.map({True: "repeats", False: "chosen"})
    table["p_welch"] = [leaderboard.welch(_summary(row, "a"), _summary(row, "b")) for _, row in table.iterrows()]
    table["p_holm"] = leaderboard.holm(table["p_welch"])
    table.attrs.update(a=a.source, b=b.source, metric=metric)
    return table


def _summary(row: pd.Series, side: str) -> tuple[float, float, int]:
    n = 0 if pd.isna(row[f"{side}_n"]) else int(row[f"{side}_n"])
    return row[f"{side}_mean"], leaderboard.spread(row[f"{side}_mean"], row[f"{side}_ci_high"], n), n


def _keys(table: pd.DataFrame, key: list[str]) -> list[str]:
    return ["/".join(str(v) for v in values) for values in table[key].drop_duplicates().itertuples(index=False)]


def _listing(names, most: int = 5) -> str:
    names = list(names)
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "") if names else "nothing"


def view(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison as text columns: what a reader needs, blank where a value is missing."""
    m = table.attrs["metric"]
    same = table["entry_a"] == table["entry_b"]
    shown = pd.DataFrame({"dataset": table["dataset"], "entry": table["entry_a"].where(same, table["entry_a"] + " vs " + table["entry_b"])})
    shown[f"A: chosen {m}"] = table["a_chosen"].map(_number)
    shown[f"B: chosen {m}"] = table["b_chosen"].map(_number)
    shown["A: repeats mean [95% CI] (n)"] = table["a_interval"]
    shown["B: repeats mean [95% CI] (n)"] = table["b_interval"]
    shown["B - A"] = [_number(d) + (" (chosen)" if of == "chosen" and pd.notna(d) else "")
                      for d, of in zip(table["difference"], table["difference_of"])]
    shown["p_welch"] = table["p_welch"].map(_number)
    shown["p_holm"] = table["p_holm"].map(_number)
    return shown


def _number(value) -> str:
    return "" if pd.isna(value) else f"{value:.4g}"


def legend(table: pd.DataFrame) -> str:
    """What the columns are, under the table."""
    m, tests = table.attrs["metric"], int(table["p_welch"].notna().sum())
    better = "lower" if METRICS[m].direction == "minimize" else "higher"
    return (f"A = {table.attrs['a']}, B = {table.attrs['b']}; {m}: {better} is better. Chosen: the trial best on the study's first "
            f"objective. Intervals: 95 % CI of the repeats' mean, n in parentheses (* under {leaderboard.FEW_REPEATS} repeats). "
            f"B - A: difference of the repeats' means (of the chosen trials' scores where a side has no repeats). "
            f"p_welch: Welch's t-test of the two sides' repeats; p_holm: the same, Holm-corrected across the {tests} "
            f"test{'' if tests == 1 else 's'} here (a test needs 2 repeats on each side).")


def export(table: pd.DataFrame, fmt: str = "text") -> str:
    """The comparison as plain text (aligned columns) or markdown, with its legend."""
    check_options(table.attrs["metric"], fmt)
    shown = view(table)
    align = ["left"] * 2 + ["right"] * (len(shown.columns) - 2)
    text = shown.to_markdown(index=False, disable_numparse=True, colalign=align, tablefmt="pipe" if fmt == "md" else "simple")
    return f"{text}\n\n{legend(table)}\n"


def html(table: pd.DataFrame) -> str:
    """The comparison for the study's report page: a table and its legend."""
    import html as markup

    return f"{leaderboard.html_table(view(table))}\n<p class=\"legend\">{markup.escape(legend(table))}</p>"
