"""The train step as one CUDA graph: a replay instead of hundreds of kernel launches.

At batch 64 the reference DCGAN's step is a few hundred small kernels, and launched
one by one from Python the GPU mostly waits for the host. ``torch.cuda.graphs``
records the step once and replays it. (``torch.compile`` would also fuse kernels,
but costs a long compilation per trial; a capture takes milliseconds.)

The host still draws each batch's indices from ``Batches`` (so epochs, order and
checkpoints are the same as eager training); the graph gathers the images itself.

A population's step (``bench.gan.population``) is captured the same way, whole: its
batches are ``[K, n]`` indices, each member's drawn from its own stream; its members'
generators are registered with the graph, so each replay advances them as an eager step
would; and its Adam keeps its step count and per-member scalars on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from bench.gan.model import GAN

if TYPE_CHECKING:
    from bench.gan.population import Population

EAGER_STEPS = 3  # warm-up before capture: Adam's state, cuDNN's plans, autograd's streams


def step_function(gan: GAN, batches) -> Callable[[int], dict[str, Tensor]]:
    """``step -> stats``: graphed on CUDA when the step allows it, else ``gan.train_step``."""
    if capturable(gan):
        return GraphedStep(lambda feed, step: gan.train_step(feed, step), batches, gan.device)
    return lambda step: gan.train_step(batches, step)


def population_step_function(population: Population) -> Callable[[int], dict[str, Tensor]]:
    """``step -> [K] stats`` for a population: graphed on CUDA under the same rules as a solo
    step (the members draw from their own generators, which the graph then advances)."""
    if capturable(population.template):
        return GraphedStep(lambda feed, step: population.train_step(step, feed), population.stacked_batches,
                           population.template.device, population.generators)
    return population.train_step


def capturable(gan: GAN) -> bool:
    """A graph replays the same kernels with the same scalars, so the step must not
    change with the step number in Python (annealed instance noise, historical
    averaging's 1/count, D pre-training repeated every k steps) and must run on
    CUDA. Plug-in remedies stay eager too: a graph would freeze whatever Python-side
    state they keep."""
    c = gan.config
    repeated_pretraining = c.d_pretrain and c.d_pretrain_every
    return gan.device.type == "cuda" and not (c.instance_noise or c.historical_averaging or repeated_pretraining or len(gan.plugins))


class _Feed:
    """What ``train_step`` calls for real data. Eager, it forwards to ``Batches`` and
    notes the sizes asked for (and the indices' shapes); while capturing, it gathers
    through index buffers that the host refills before every replay."""

    def __init__(self, batches):
        self.batches, self.sizes, self.shapes, self.buffers, self.capturing = batches, [], [], [], False

    def __call__(self, n: int):
        if not self.capturing:
            index = self.batches.next_index(n)
            self.sizes.append(n)
            self.shapes.append(index.shape)
            return self.batches.gather(index)
        index = self.buffers[len(self.sizes)]
        self.sizes.append(n)
        return self.batches.gather(index)

    def refill(self) -> None:
        for buffer, n in zip(self.buffers, self.sizes):
            buffer.copy_(self.batches.next_index(n), non_blocking=True)


class GraphedStep:
    """``run(feed, step)`` eager for its first steps, then captured once and replayed; ``batches``
    (``Batches``, or a population's ``StackedBatches``) is what ``feed`` stands for, and
    ``generators`` the non-default ones the step draws from."""

    def __init__(self, run: Callable, batches, device: torch.device, generators: list[torch.Generator] = ()):
        self.run, self.device, self.generators, self.feed = run, device, list(generators), _Feed(batches)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.stats: dict[str, Tensor] = {}
        self.eager_steps = 0

    def __call__(self, step: int) -> dict[str, Tensor]:
        if self.graph is None and (step == 0 or self.eager_steps < EAGER_STEPS):
            return self._eager(step)  # step 0 may pre-train D: never part of the graph
        if self.graph is None:
            self._capture(step)
        self.feed.refill()
        self.graph.replay()
        return dict(self.stats)

    def _eager(self, step: int) -> dict[str, Tensor]:
        # Warm-up on a side stream, as torch.cuda.graphs asks, so that autograd's
        # per-stream state is not created on the stream being captured.
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        self.feed.sizes, self.feed.shapes = [], []
        with torch.cuda.stream(stream):
            stats = self.run(self.feed, step)
        torch.cuda.current_stream().wait_stream(stream)
        self.eager_steps += 1
        return stats

    def _capture(self, step: int) -> None:
        # the last eager step's batches are the shape of every step from now on
        self.feed.buffers = [torch.empty(shape, dtype=torch.long, device=self.device) for shape in self.feed.shapes]
        self.feed.sizes, self.feed.shapes, self.feed.capturing = [], [], True
        self.graph = torch.cuda.CUDAGraph()
        for generator in self.generators:  # replays advance them as the eager steps would have
            self.graph.register_generator_state(generator)
        with torch.cuda.graph(self.graph):
            self.stats = self.run(self.feed, step)
        self.feed.capturing = False
