"""What a study will cost on this machine, measured before any trial starts (on a CPU).

A CPU study can take days, so ``bench run`` says so up front: each distinct setup of the
study's entries trains a few steps on random images of its data set's shape, and one
evaluation per data set is timed; the remaining trials are then priced as the live ETA
prices them (``progress.seconds_left``). Measured at the thread count each worker gets,
as trials trained alone; a few seconds per entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from bench import trainer
from bench.data.batches import Batches
from bench.gan import variants
from bench.gan.model import GAN
from bench.study import queue
from bench.study.progress import TaskWork, duration, seconds_left, trial_steps
from bench.study.spec import Study, task_name

STEP_BUDGET_S = 1.0  # timed steps per setup stop after this long (at least two are timed)
EVAL_SAMPLES = 400  # evaluations are timed at this size and scaled linearly


@dataclass
class Estimate:
    seconds: float  # wall time of the trials left, with the study's workers
    trials: int  # trials and repeats left
    measured_s: float  # how long measuring took

    def line(self, threads: int) -> str:
        return (f"expected on this machine: about {duration(self.seconds)} for the {self.trials} trial{'s' * (self.trials != 1)} left "
                f"(measured in {self.measured_s:.0f}s at {threads} thread{'s' * (threads != 1)} per worker, trials trained alone)")


def estimate(study: Study, tier: str, storage, workers: int, threads: int) -> Estimate | None:
    """None when nothing is left to train."""
    started, previous_threads = time.monotonic(), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        work, step_seconds, eval_seconds = [], {}, {}
        for dataset, plan in study.tasks():
            left = _slots_left(study, storage, dataset, plan)
            if not left:
                continue
            config = variants.get(plan.variant).config(plan.fixed)
            channels = 3 if dataset == "stacked-mnist" else 1
            key = (repr(config.to_dict()), channels)
            if key not in step_seconds:
                step_seconds[key] = _seconds_per_step(config, channels)
            if dataset not in eval_seconds:
                eval_seconds[dataset] = _seconds_per_sample(dataset, config, channels)
            steps = trial_steps(study, plan, tier)
            evaluation = study.evaluation_for(dataset)
            every = evaluation.get("every", 0)
            evaluations = (steps - 1) // every if every else 0  # before the final one
            samples = evaluations * evaluation.get("samples", 2000) + evaluation.get("final_samples", 10_000)
            trial = steps * step_seconds[key] + samples * eval_seconds[dataset]
            work.append(TaskWork(steps, evaluations + 1, left, timed=[(trial, steps)]))
    finally:
        torch.set_num_threads(previous_threads)
    if not work:
        return None
    return Estimate(seconds_left(work, workers), sum(t.slots for t in work), time.monotonic() - started)


def _slots_left(study: Study, storage, dataset: str, plan) -> int:
    """Search slots and repeats not finished yet (a trial left running counts as left)."""
    finished = 0
    for name in (task_name(study, dataset, plan), task_name(study, dataset, plan) + "/repeats"):
        if (existing := queue.load_existing(storage, name)) is not None:
            finished += len(queue.counted(existing.get_trials(deepcopy=False)))
    return max(study.trials + len(study.repeats) - finished, 0)


def _random_batches(config, channels: int) -> Batches:
    size = config.image_size
    images = torch.randint(0, 256, (4 * config.batch_size, channels, size, size), dtype=torch.uint8)
    return Batches(images, torch.randint(0, 10, (len(images),)), config.image_range)


def _seconds_per_step(config, channels: int) -> float:
    with torch.random.fork_rng(devices=[]):  # the caller's random stream stays as it was
        gan = GAN(config, channels)
        batches = _random_batches(config, channels)
        # warm-up (allocations, first-call paths) at step 1: step 0's D pre-training
        # (300 updates for seed001-dcgan) would outlast the whole measurement
        gan.train_step(batches, 1)
        timed, started = 0, time.perf_counter()
        while timed < 2 or (time.perf_counter() - started < STEP_BUDGET_S and timed < 20):
            gan.train_step(batches, timed + 2)
            timed += 1
    return (time.perf_counter() - started) / timed


def _seconds_per_sample(dataset: str, config, channels: int) -> float:
    """One evaluation's time per sample: generating and scoring (after a small warm-up one,
    which also builds the data set's reference statistics when they are not cached)."""
    with torch.random.fork_rng(devices=[]):
        gan = GAN(config, channels).eval()
        trainer.evaluate(gan, dataset, 100, seed=0)
        started = time.perf_counter()
        trainer.evaluate(gan, dataset, EVAL_SAMPLES, seed=1)
    return (time.perf_counter() - started) / EVAL_SAMPLES
