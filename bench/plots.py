"""Pictures of a run: sample grids, loss and metric curves, mode histograms."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from bench.metrics.modes import MIN_SHARE, covered  # noqa: E402


def sample_grid(images: torch.Tensor, labels: torch.Tensor | None = None, per_row: int = 10) -> np.ndarray:
    """HxWxC uint8 grid; with labels, one row per class (as report 003 shows its CGAN)."""
    if labels is not None:
        images = images[torch.argsort(labels, stable=True)]
        per_row = len(images) // int(labels.max() + 1)
    grid = make_grid(images.cpu(), nrow=per_row, padding=2, pad_value=128)
    return grid.permute(1, 2, 0).numpy()


def loss_curves(history: list[dict]):
    """G and D losses, and D's mean output on real and generated images, against steps."""
    rows = [h for h in history if "loss_d" in h]
    fig, (losses, outputs) = plt.subplots(1, 2, figsize=(10, 3.5))
    steps = [h["step"] for h in rows]
    for key, label in (("loss_d", "D loss"), ("loss_g", "G loss")):
        losses.plot(steps, [h.get(key, np.nan) for h in rows], label=label)
    for key, label in (("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        outputs.plot(steps, [h.get(key, np.nan) for h in rows], label=label)
    for ax, title in ((losses, "losses"), (outputs, "discriminator output")):
        ax.set(xlabel="step", title=title)
        ax.legend()
    fig.tight_layout()
    return fig


def metric_curves(history: list[dict]):
    """FID and covered modes at each evaluation, one series per sample count: FID
    falls as n grows, so in-training (small n) and final (large n) scores are never
    joined by one line."""
    rows = [h for h in history if "fid" in h]
    fig, fid = plt.subplots(figsize=(5, 3.5))
    modes = fid.twinx()
    for i, n in enumerate(sorted({h.get("n") for h in rows}, key=lambda n: n or 0)):
        series = [h for h in rows if h.get("n") == n]
        steps = [h["step"] for h in series]
        label = f"n = {n:,}" if n else "n unknown"
        fid.plot(steps, [h["fid"] for h in series], "o-", color=f"C{i}", label=f"FID, {label}")  # one colour per n
        modes.plot(steps, [h["modes"] for h in series], "s--", color=f"C{i}", alpha=0.6, label=f"modes, {label}")
    fid.set(xlabel="step", ylabel="FID", title="FID and modes")
    modes.set_ylabel("modes (dashed)")
    handles = [h for ax in (fid, modes) for h in ax.get_legend_handles_labels()[0]]
    fid.legend(handles=handles, fontsize=7)
    fig.tight_layout()
    return fig


def mode_histogram(counts: np.ndarray, valid_share: float | None = None):
    """Share of samples per predicted class (10 digits, or the 1000 triples sorted);
    ``counts`` are of the samples that are digits, ``valid_share`` of all samples."""
    share = counts / max(counts.sum(), 1)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if len(counts) <= 10:
        ax.bar(range(len(counts)), share)
        ax.set_xticks(range(len(counts)))
        ax.set_xlabel("predicted digit")
    else:
        ax.plot(np.sort(share)[::-1])
        ax.set_xlabel("triples, most frequent first")
    ax.axhline(1 / len(counts), color="grey", linestyle="--", label="uniform")
    if len(counts) == 10:  # the share a class needs to count as a mode
        ax.axhline(MIN_SHARE / len(counts), color="C3", linestyle=":", label=f"mode: {MIN_SHARE:.0%} of uniform")
    title = f"{covered(counts)} of {len(counts)} modes covered"
    if valid_share is not None:
        title += f" (digits: {valid_share:.0%} of samples)" if counts.sum() else " (no digits)"
    ax.set(ylabel="share of digit samples", title=title)
    ax.legend()
    fig.tight_layout()
    return fig


def pareto_front(rows, x: str, y: str):
    """Each entry's chosen trial on two objectives; the Pareto-optimal ones marked."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for _, row in rows.iterrows():
        front = bool(row.get("pareto"))
        ax.scatter(row[f"chosen_{x}"], row[f"chosen_{y}"], color="C3" if front else "C0", marker="*" if front else "o", s=80 if front else 30)
        ax.annotate(row["entry"], (row[f"chosen_{x}"], row[f"chosen_{y}"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel=x, ylabel=y, title=f"{rows['dataset'].iloc[0]}: Pareto front (stars)")
    for set_scale, name in ((ax.set_xscale, x), (ax.set_yscale, y)):  # collapsed runs score 100x the good ones
        values = rows[f"chosen_{name}"].dropna()
        if len(values) and values.min() > 0 and values.max() > 20 * values.min():
            set_scale("log")
    fig.tight_layout()
    return fig


def fid_by_step(curves: dict[str, list[tuple[int, float]]]):
    """FID against training steps, one line per entry (its chosen trial)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for entry, points in sorted(curves.items()):
        if points:
            steps, values = zip(*sorted(points))
            ax.plot(steps, values, "o-", label=entry, markersize=3)
    ax.set(xlabel="step", ylabel="FID", yscale="log", title="FID by step (each entry's chosen trial)")
    if curves:
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def importances(values: dict[str, float], title: str):
    """Optuna parameter importances as horizontal bars."""
    fig, ax = plt.subplots(figsize=(5, 1.5 + 0.4 * len(values)))
    names = list(values)[::-1]
    ax.barh(names, [values[n] for n in names])
    ax.set(xlabel="importance (fANOVA)", title=title)
    fig.tight_layout()
    return fig
