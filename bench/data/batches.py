"""Training data as the train step takes it: endless shuffled batches of a data set
resident on the device, kept as uint8 and scaled per batch. A batch is an index into a
permutation on the device, so the hot loop has no DataLoader and no per-sample Python."""

from __future__ import annotations

import torch
from torch import Tensor


class Batches:
    """Endless shuffled batches of a data set resident on the device."""

    def __init__(self, images: Tensor, labels: Tensor, image_range: str):
        self.images, self.labels, self.range = images, labels, image_range
        self.order = torch.randperm(len(images), device=images.device)
        self.cursor = 0

    def __call__(self, n: int) -> tuple[Tensor, Tensor]:
        return self.gather(self.next_index(n))

    def next_index(self, n: int) -> Tensor:
        if self.cursor + n > len(self.order):  # a new epoch
            self.order, self.cursor = torch.randperm(len(self.images), device=self.images.device), 0
        self.cursor += n
        return self.order[self.cursor - n : self.cursor]

    def gather(self, index: Tensor) -> tuple[Tensor, Tensor]:
        return to_range(self.images[index], self.range), self.labels[index]

    def state_dict(self) -> dict:
        return {"order": self.order, "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.cursor = state["order"].to(self.images.device), state["cursor"]


def to_range(images: Tensor, image_range: str) -> Tensor:
    x = images.float() / 255
    return x * 2 - 1 if image_range == "-1,1" else x
