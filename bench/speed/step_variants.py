"""GPU time of the graphed reference-DCGAN step under other settings, side by side.

``python -m bench.speed.step_variants`` (CUDA only) prints, for each setting, the bare
replay time per step (best of 3 x 300 replays, CUDA events) and the set-up time
(warm-up, capture and, for torch.compile, compilation). BENCHMARKS.md records why the
trainer uses TF32 + cuDNN autotuning and not the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import torch

from bench import trainer
from bench.data.batches import Batches
from bench.gan import graphed, variants
from bench.gan.model import GAN

PLAIN = ["update=alternating", "loss=ns", "d_pretrain=0", "n_critic=1", "remedies="]  # as bench speed


def _replay_us(gan: GAN, images, labels) -> tuple[float, float]:
    start = time.perf_counter()
    step = graphed.GraphedStep(gan, Batches(images, labels, gan.config.image_range))
    for i in range(graphed.EAGER_STEPS + 7):
        step(i)
    torch.cuda.synchronize()
    setup = time.perf_counter() - start
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best = float("inf")
    for _ in range(3):
        begin.record()
        for _ in range(300):
            step.graph.replay()
        end.record()
        torch.cuda.synchronize()
        best = min(best, begin.elapsed_time(end) / 300 * 1000)
    return best, setup


def _channels_last(gan: GAN) -> None:
    gan.to(memory_format=torch.channels_last)


def _compiled(gan: GAN) -> None:
    gan.g.body, gan.d.body = torch.compile(gan.g.body), torch.compile(gan.d.body)


# label -> (extra settings, cuDNN autotuning, cuDNN TF32, change to the built GAN)
SETTINGS: dict[str, tuple[list[str], bool, bool, Callable[[GAN], None] | None]] = {
    "TF32 + cuDNN autotuning (the trainer's)": ([], True, True, None),
    "no cuDNN autotuning": ([], False, True, None),
    "channels_last": ([], True, True, _channels_last),
    "cuDNN without TF32": ([], True, False, None),
    "bf16 autocast": (["precision=bf16"], True, True, None),
    "torch.compile of the G and D bodies": ([], True, True, _compiled),
}


def run() -> Iterator[str]:
    if not torch.cuda.is_available():
        raise SystemExit("error: this benchmark needs a CUDA GPU")
    device = torch.device("cuda")
    images, labels = trainer.load_training_data("mnist", 28, device)
    yield f"reference DCGAN (variant dcgan), batch 64, graphed step, {torch.cuda.get_device_name()}"
    for label, (extra, autotune, cudnn_tf32, change) in SETTINGS.items():
        trainer.use_fast_math(device)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = autotune, cudnn_tf32
        torch.manual_seed(0)
        gan = GAN(variants.get("dcgan").config(PLAIN + extra), 1, device)
        if change is not None:
            change(gan)
        replay, setup = _replay_us(gan, images, labels)
        yield f"{label:<42} replay {replay:7.1f} us/step   set-up {setup:5.1f} s"
    trainer.use_fast_math(device)


if __name__ == "__main__":
    for line in run():
        print(line, flush=True)
