"""Pictures of a run: sample grids, loss and metric curves, mode histograms."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from bench.metrics.collapse import NDB_COLLAPSED  # noqa: E402
from bench.metrics.modes import MIN_SHARE, covered  # noqa: E402


def sample_grid(images: torch.Tensor, labels: torch.Tensor | None = None, per_row: int = 10) -> np.ndarray:
    """HxWxC uint8 grid; with labels, one row per class (as report 003 shows its CGAN)."""
    from torchvision.utils import make_grid  # torchvision takes seconds to import; most users of this module never draw a grid

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
    """FID and covered modes (left) and NDB/K (right) at each evaluation, one series per
    sample count: FID falls as n grows, so in-training (small n) and final (large n)
    scores are never joined by one line."""
    rows = [h for h in history if "fid" in h]
    fig, (fid, ndb) = plt.subplots(1, 2, figsize=(9, 3.5))
    modes = fid.twinx()
    for i, n in enumerate(sorted({h.get("n") for h in rows}, key=lambda n: n or 0)):
        series = [h for h in rows if h.get("n") == n]
        steps = [h["step"] for h in series]
        label = f"n = {n:,}" if n else "n unknown"
        fid.plot(steps, [h["fid"] for h in series], "o-", color=f"C{i}", label=f"FID, {label}")  # one colour per n
        modes.plot(steps, [h.get("modes", np.nan) for h in series], "s--", color=f"C{i}", alpha=0.6, label=f"modes, {label}")
        ndb.plot(steps, [h.get("ndb_k", np.nan) for h in series], "^-", color=f"C{i}", label=f"NDB/K, {label}")
    fid.set(xlabel="step", ylabel="FID", title="FID and modes")
    modes.set_ylabel("modes (dashed)")
    handles = [h for ax in (fid, modes) for h in ax.get_legend_handles_labels()[0]]
    fid.legend(handles=handles, fontsize=7)
    ndb.axhline(NDB_COLLAPSED, color="C3", linestyle=":", label="within-class collapse above")
    ndb.set(xlabel="step", ylabel="NDB/K", ylim=(-0.03, 1.03), title="NDB/K: share of bins unlike real data")
    ndb.legend(fontsize=7)
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
    """Each entry's chosen trial on two objectives, labelled with its name (no two labels
    overlap); the Pareto-optimal ones marked."""
    rows = rows.dropna(subset=[f"chosen_{x}", f"chosen_{y}"])
    rows = rows.sort_values(["pareto", f"chosen_{x}"], ascending=[False, True])  # the front is labelled first, next to its points
    fig, ax = plt.subplots(figsize=(7, max(4.5, 2 + 0.15 * len(rows))))  # room for one label per entry
    front = rows["pareto"].astype(bool).to_numpy()
    xs, ys = rows[f"chosen_{x}"].to_numpy(dtype=float), rows[f"chosen_{y}"].to_numpy(dtype=float)
    ax.scatter(xs[~front], ys[~front], color="C0", marker="o", s=30)
    ax.scatter(xs[front], ys[front], color="C3", marker="*", s=80)
    ax.set(xlabel=x, ylabel=y, title=f"{rows['dataset'].iloc[0] if len(rows) else ''}: Pareto front (stars)")
    for set_scale, values in ((ax.set_xscale, xs), (ax.set_yscale, ys)):  # collapsed runs score 100x the good ones
        if len(values) and values.min() > 0 and values.max() > 20 * values.min():
            set_scale("log")
    ax.margins(0.15)  # room for labels beside the outermost points
    fig.tight_layout()
    place_labels(ax, xs, ys, rows["entry"].tolist())
    return fig


LABEL_SIDES = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1))  # right of the point first


def place_labels(ax, xs, ys, names, fontsize: float = 7, rings: int = 60) -> list:
    """Label each point with its name where the label overlaps no other label and no
    marker, and stays inside the axes: the first free place, trying each side of the
    point at growing distances; a label away from its point gets a line to it.
    Greedy, so it cannot fail the way a force-directed layout (adjustText) does when
    labels crowd: on the mode-collapse fronts that still left overlaps.
    Call it last: the figure's layout and the axes limits must be final."""
    ax.set_autoscale_on(False)  # the leader lines must not move the limits the places were found in
    renderer = ax.figure.canvas.get_renderer()
    area = ax.get_window_extent(renderer)
    points = ax.transData.transform(np.column_stack([xs, ys])) if len(xs) else np.empty((0, 2))
    gap, step = 5.0, fontsize * ax.figure.dpi / 72  # pixels: from the point, and one line height further each ring
    taken = [Bbox.from_bounds(px - gap + 1, py - gap + 1, 2 * gap - 2, 2 * gap - 2) for px, py in points]  # the markers
    to_data = ax.transData.inverted()
    texts = []
    for (px, py), name in zip(points, names):
        text = ax.text(0, 0, name, fontsize=fontsize, ha="left", va="bottom")
        size = text.get_window_extent(renderer)
        box = _free_place(px, py, size.width, size.height, area, taken, gap, step, rings)
        taken.append(box)
        text.set_position(to_data.transform((box.x0, box.y0)))
        nearest = np.clip(px, box.x0, box.x1), np.clip(py, box.y0, box.y1)
        if np.hypot(nearest[0] - px, nearest[1] - py) > 2 * gap:  # not right beside its point
            line = to_data.transform([nearest, (px, py)])
            ax.plot(line[:, 0], line[:, 1], color="grey", lw=0.5)
        texts.append(text)
    return texts


def _free_place(px, py, width, height, area, taken, gap, step, rings) -> Bbox:
    """The first box of ``width`` x ``height`` beside (px, py) that is inside ``area``
    and overlaps nothing ``taken``; at the point itself if the axes are full."""
    for ring in range(rings):
        distance = gap + ring * step
        for dx, dy in LABEL_SIDES:
            x0 = px + distance if dx > 0 else px - distance - width if dx < 0 else px - width / 2
            y0 = py + distance if dy > 0 else py - distance - height if dy < 0 else py - height / 2
            box = Bbox.from_bounds(x0, y0, width, height)
            inside = area.x0 <= box.x0 and box.x1 <= area.x1 and area.y0 <= box.y0 and box.y1 <= area.y1
            if inside and not any(box.overlaps(other) for other in taken):
                return box
    return Bbox.from_bounds(px + gap, py + gap, width, height)


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
