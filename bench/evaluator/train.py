"""Deterministic training of the evaluator classifier (``bench evaluator train``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench import data
from bench.evaluator.model import Classifier


# Per data set: digits tolerate small rotations and zooms; garments are upright and
# aligned, but left-right mirror images of them are still garments.
AUGMENTATION = {
    "mnist": {"degrees": 10, "zoom": 0.1, "shift": 2.5, "flip": False},
    "fashion-mnist": {"degrees": 0, "zoom": 0.0, "shift": 2.0, "flip": True},
}


def augment(images: torch.Tensor, generator: torch.Generator, degrees: float, zoom: float, shift: float, flip: bool) -> torch.Tensor:
    """Random rotation, zoom, shift (pixels) and mirroring of a float batch, via affine grids."""
    n = len(images)
    u = torch.rand(n, 4 + flip, generator=generator) * 2 - 1
    angle, scale = u[:, 0] * math.radians(degrees), 1 + u[:, 1] * zoom
    offset = u[:, 2:4] * (shift * 2 / 28)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    mirror = torch.where(u[:, 4] < 0, -1.0, 1.0) if flip else 1.0
    theta = torch.stack([torch.stack([cos * mirror, -sin, offset[:, 0]], 1), torch.stack([sin * mirror, cos, offset[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


@torch.no_grad()
def accuracy(model: Classifier, dataset: data.Dataset, batch_size: int = 1000) -> float:
    model.eval()
    correct = sum(
        (model(dataset.images[i : i + batch_size]).argmax(1) == dataset.labels[i : i + batch_size]).sum().item()
        for i in range(0, len(dataset), batch_size)
    )
    return correct / len(dataset)


def train(
    train_set: data.Dataset,
    epochs: int = 8,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 3e-3,
    progress: bool = True,
) -> Classifier:
    """Train a fresh classifier on ``train_set``; the same seed gives the same weights."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = Classifier()
    steps_per_epoch = len(train_set) // batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * steps_per_epoch)
    images = train_set.images.float() / 255
    bar = tqdm(total=epochs * steps_per_epoch, desc=f"evaluator {train_set.name}", disable=not progress)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(train_set), generator=generator)
        for step in range(steps_per_epoch):
            batch = order[step * batch_size : (step + 1) * batch_size]
            inputs = augment(images[batch], generator, **AUGMENTATION[train_set.name])
            loss = F.cross_entropy(model(inputs), train_set.labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update()
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()
