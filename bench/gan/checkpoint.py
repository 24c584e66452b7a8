"""A GAN's training state as a checkpoint holds it: weights, optimiser moments, running
averages, the data order and the random stream, so that a resumed run trains on exactly
as the uninterrupted one (alone, or as a member of a population)."""

from __future__ import annotations

import torch
from torch import Tensor

from bench.data.batches import Batches
from bench.gan.model import GAN


def checkpoint_state(gan: GAN, batches: Batches, step: int, seed: int, dataset: str, history: list, sums: dict,
                     stream: Tensor | None = None) -> dict:
    """A run's state at ``step``; ``stream``: the state of the random stream it draws from, when
    not torch's global one for its device (a population member's generator)."""
    cuda = gan.device.type == "cuda"
    return {
        "step": step,
        "seed": seed,
        "dataset": dataset,
        "config": gan.config.to_dict(),
        "gan": gan.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in _optimizers(gan).items()},
        "history_average": {k: h.state() for k, h in (("g", gan.history_g), ("d", gan.history_d)) if h is not None},
        "batches": batches.state_dict(),
        "rng": stream if stream is not None and not cuda else torch.get_rng_state(),
        "cuda_rng": (stream if stream is not None else torch.cuda.get_rng_state(gan.device)) if cuda else None,
        "history": history,
        "sums": sums,
    }


def _optimizers(gan: GAN) -> dict:
    return {k: o for k, o in (("g", gan.opt_g), ("d", gan.opt_d), ("d_fake", gan.opt_d_fake)) if o is not None}


def restore(gan: GAN, batches: Batches, state: dict) -> None:
    gan.load_state_dict(state["gan"])
    for key, optimizer in _optimizers(gan).items():
        optimizer.load_state_dict(state["optimizers"][key])
    for key, history in (("g", gan.history_g), ("d", gan.history_d)):
        if history is not None:
            history.load_state(state["history_average"][key])
    batches.load_state_dict(state["batches"])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] is not None and gan.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], gan.device)
