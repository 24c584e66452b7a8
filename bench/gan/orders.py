"""Update orders: which D and G updates one train step makes, in what order and on
which data, as the reports' loops had them. The objectives and what follows each
optimiser step are the GAN's (``model.py``), so every option applies in every order.

Every order makes ``n_critic`` D updates per G update, and D pre-training
(``d_pretrain``, in ``GAN.train_step``) precedes the first step in each of them.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor


def alternating(gan, next_batch: Callable, step: int) -> dict[str, Tensor]:
    """D ``n_critic`` times on fresh batches, then G on fresh fakes. Also 001's loop
    (``update=separate-d``), whose D update uses two optimisers."""
    for _ in range(gan.config.n_critic):
        real, labels = next_batch(gan.batch)
        stats = gan.d_update(real, labels, step)
    return stats | gan.g_update(real, labels, step)


def g_first(gan, next_batch: Callable, step: int) -> dict[str, Tensor]:
    """002 (PyTorch-GAN): G, then D on the same fakes (conditioned on the real batch's
    labels); with ``n_critic`` > 1 the further D updates use fresh batches."""
    real, labels = next_batch(gan.batch)
    fake = gan.g(gan.noise(len(real)), labels)
    stats = gan.g_update(real, labels, step, fake, labels)
    stats |= gan.d_update(real, labels, step, fake)
    for _ in range(gan.config.n_critic - 1):
        stats |= gan.d_update(*next_batch(gan.batch), step)
    return stats


def simultaneous(gan, next_batch: Callable, step: int) -> dict[str, Tensor]:
    """000: D and G from one forward pass; with ``n_critic`` > 1 the further D updates
    come first."""
    for _ in range(gan.config.n_critic - 1):
        gan.d_update(*next_batch(gan.batch), step)
    return gan.simultaneous_update(*next_batch(gan.batch), step)


ORDERS = {"alternating": alternating, "g-first": g_first, "simultaneous": simultaneous, "separate-d": alternating}
