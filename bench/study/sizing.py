"""How many trials each worker trains at once: ``bench run``'s default ``--population``.

On a CPU a population is hardly faster than its trials one after another (BENCHMARKS.md,
"Population training"), so they train alone. On a GPU each worker claims as many of an
entry's trials as its share of the free memory holds. A member's memory is measured, not
guessed: each distinct setup of the study trains a population of two for two steps and
draws one final evaluation's samples, and the largest peak, halved, prices every member.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from bench import trainer
from bench.gan import population, variants
from bench.study.spec import Study

MEMORY_SHARE = 0.8  # of the free memory: the rest holds the workers' CUDA contexts, their data and the allocator's slack
LARGEST = 64  # the largest population `bench speed --population` measures by default


@dataclass(frozen=True)
class Sizing:
    population: int
    why: str  # for the start line

    def line(self) -> str:
        return f"populations of up to {self.population} trials per worker: {self.why}" if self.population > 1 else f"trials train alone: {self.why}"


def default_population(study: Study, device: str, workers: int) -> Sizing:
    if torch.device(device).type != "cuda":
        return Sizing(1, "on a CPU a population is hardly faster (pick one with --population K)")
    if unverified := population.unverified_on(device):
        return Sizing(1, unverified)
    started = time.monotonic()
    setups = {}
    for dataset, plan in study.tasks():
        config = variants.get(plan.variant).config(plan.fixed)
        channels = 3 if dataset == "stacked-mnist" else 1
        samples = study.evaluation_for(dataset).get("final_samples", config.final_samples)
        if not population.why_solo([config, config], device):  # entries that train alone need no room for others
            setups[repr(config.to_dict()), channels, samples] = (config, channels, samples)
    if not setups:
        return Sizing(1, "no entry of this study can train as a population")
    per_member = max(member_bytes(*setup, device) for setup in setups.values())
    free, _ = torch.cuda.mem_get_info(device)
    return size_from(free, per_member, workers, time.monotonic() - started)


def size_from(free: int, per_member: int, workers: int, measured_s: float) -> Sizing:
    fit = int(free * MEMORY_SHARE) // (workers * per_member)
    k = max(1, min(fit, LARGEST))
    return Sizing(k, f"{per_member / 2**20:,.0f} MiB per member, {free / 2**30:,.1f} GiB free for {workers} worker{'s' * (workers > 1)} "
                     f"(measured in {measured_s:.0f}s; --population K overrides)")


def member_bytes(config, channels: int, samples: int, device: str) -> int:
    """Peak device memory per member of a population of two: training, then one evaluation's samples."""
    size = config.image_size
    with torch.random.fork_rng(devices=[device]):  # the caller's streams stay as they were
        images = torch.randint(0, 256, (4 * config.batch_size, channels, size, size), dtype=torch.uint8, device=device)
        labels = torch.randint(0, 10, (len(images),), device=device)
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        pair = population.Population([config, config], [0, 1], images, labels, device)
        for step in (1, 2):  # step 0's D pre-training would only add time
            pair.train_step(step)
        trainer.sample_members(pair, [0, 1], samples, [0, 1])
        peak = torch.cuda.max_memory_allocated(device) - before
        del pair
        torch.cuda.empty_cache()
    return max(peak // 2, 1)
