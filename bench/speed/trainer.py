"""``bench speed --variant``: bench's training loop beside a plain PyTorch loop.

The baseline is written the way the reports and PyTorch-GAN train: a Dataset whose
items go through ToTensor and Normalize, a shuffling DataLoader, and ``.item()`` on
both losses every step. Both loops train the same networks with the same batch on
the same device and do the same math (a non-saturating D step then G step); bench
does one extra no-grad G forward, so the comparison favours the baseline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from bench import data, trainer
from bench.data.batches import Batches
from bench.gan import graphed, variants
from bench.gan.model import GAN

if TYPE_CHECKING:
    from bench.gan.population import Population

GOALS = {("seed000-fc", "cpu"): 1.5, ("dcgan", "cuda"): 10.0}


class PlainMNIST(Dataset):
    """A PIL image per item, as torchvision's MNIST hands them out."""

    def __init__(self, images: torch.Tensor, image_range: str):
        self.images = images
        normalize = [transforms.Normalize([0.5], [0.5])] if image_range == "-1,1" else []
        self.transform = transforms.Compose([transforms.ToPILImage(), transforms.ToTensor(), *normalize])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), 0


def plain_loop(gan: GAN, images: torch.Tensor, steps: int) -> float:
    """Steps per second of the baseline loop."""
    c = gan.config
    loader = DataLoader(PlainMNIST(images, c.image_range), batch_size=c.batch_size, shuffle=True, drop_last=True)
    ones = torch.ones(c.batch_size, device=gan.device)
    losses, done, start = [], 0, time.perf_counter()
    while done < steps:
        for real, _ in loader:
            real = real.to(gan.device)
            fake = gan.g(gan.noise(c.batch_size))
            gan.opt_d.zero_grad()
            d_loss = F.binary_cross_entropy_with_logits(gan.d(real), ones) + F.binary_cross_entropy_with_logits(gan.d(fake.detach()), 0 * ones)
            d_loss.backward()
            gan.opt_d.step()
            gan.opt_g.zero_grad()
            g_loss = F.binary_cross_entropy_with_logits(gan.d(fake), ones)
            g_loss.backward()
            gan.opt_g.step()
            losses.append((d_loss.item(), g_loss.item()))  # per-step host sync, as in the reports
            done += 1
            if done == steps:
                break
    _sync(gan.device)
    return steps / (time.perf_counter() - start)


def bench_loop(gan: GAN, images: torch.Tensor, labels: torch.Tensor, steps: int) -> float:
    """Steps per second of bench's loop: what ``trainer.train`` runs between evaluations."""
    train_step = graphed.step_function(gan, Batches(images, labels, gan.config.image_range))
    sums, start = {}, time.perf_counter()
    for step in range(steps):
        for key, value in train_step(step).items():
            sums[key] = sums.get(key, 0) + value
        if (step + 1) % gan.config.log_every == 0:
            _ = {k: float(v) for k, v in sums.items()}
            sums = {}
    _sync(gan.device)
    return steps / (time.perf_counter() - start)


def population_loops(config, images: torch.Tensor, labels: torch.Tensor, size: int, steps: int) -> tuple[float, float, "Population"]:
    """Aggregate member-steps per second of ``size`` solo runs one after the other (bench's
    loop: graphed on CUDA), and of the same members (seeds 0..size-1) as one population,
    which is returned trained."""
    from bench.gan.population import Population

    start = time.perf_counter()
    for seed in range(size):
        torch.manual_seed(seed)
        gan = GAN(config, images.shape[1], images.device)
        bench_loop(gan, images, labels, steps)
    solo = size * steps / (time.perf_counter() - start)
    if images.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(images.device)
    population = Population([config] * size, list(range(size)), images, labels, str(images.device), any_device=True)
    train_step = graphed.population_step_function(population)  # as bench trains it: graphed on CUDA
    start = time.perf_counter()
    for step in range(steps):
        train_step(step)
    _sync(images.device)
    return solo, size * steps / (time.perf_counter() - start), population


def peak_memory_per_member(population: "Population") -> str:
    """The device memory a member took at the peak of training (CUDA only), for sizing K."""
    device = population.template.device
    if device.type != "cuda":
        return "-"
    return f"{torch.cuda.max_memory_allocated(device) / population.size / 2**20:.0f} MiB"


def population_evaluations(population: "Population", n: int, dataset: str = "mnist") -> tuple[float, float]:
    """Seconds per member evaluation (``n`` samples scored, and the picture) of the members
    one after the other, as solo runs evaluate, and of all of them together (``evaluate_members``)."""
    members = list(range(population.size))
    start = time.perf_counter()
    for k in members:
        gan = population.member(k)
        gan.eval()
        trainer.evaluate(gan, dataset, n, seed=k)
        trainer.sample(gan, 100, seed=k)
    in_turn = (time.perf_counter() - start) / len(members)
    start = time.perf_counter()
    trainer.evaluate_members(population, members, n, members, dataset)
    return in_turn, (time.perf_counter() - start) / len(members)


def step_flops(config, images: torch.Tensor, labels: torch.Tensor) -> int:
    """FLOPs of one solo train step, counted by torch.utils.flop_counter (matrix products
    and convolutions, forward and backward; what a member's step costs in a population too)."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    gan = GAN(config, images.shape[1], images.device)
    batches = Batches(images, labels, config.image_range)
    gan.train_step(batches, 0)  # outside the count: Adam's first step allocates its state
    with FlopCounterMode(display=False) as counter:
        gan.train_step(batches, 1)
    return counter.get_total_flops()


# dense TF32 tensor-core peaks (FLOP/s), matched against torch.cuda.get_device_name()
TF32_PEAKS = {"H200": 494.7e12, "H100": 494.7e12, "A100": 156e12, "L40S": 183e12, "L4": 60e12}


def tf32_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in TF32_PEAKS.items() if key in name), None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(variant: str, steps: int, device: str, dataset: str = "mnist", population: list[int] | None = None,
        eval_samples: int | None = None) -> Iterator[str]:
    # Same math in both loops: alternating non-saturating updates, no remedies.
    config = variants.get(variant).config(["update=alternating", "loss=ns", "d_pretrain=0", "n_critic=1", "remedies="])
    device = torch.device(device)
    trainer.use_fast_math(device)  # as in training, for both loops
    images, labels = trainer.load_training_data(dataset, config.image_size, device)
    cpu_images = data.load(dataset, "train").images
    if config.image_size != 28:
        cpu_images = images.cpu()
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    yield f"variant {variant} on {dataset}, batch {config.batch_size}, {steps} steps each, device {device.type} ({name})"
    if population:
        yield from _population_lines(config, images, labels, population, steps, cpu_images, eval_samples or config.eval_samples)
        return
    torch.manual_seed(0)
    warm = GAN(config, images.shape[1], device)
    bench_loop(warm, images, labels, min(steps, 20))
    plain_loop(warm, cpu_images, min(steps, 20))
    torch.manual_seed(0)
    ours = bench_loop(GAN(config, images.shape[1], device), images, labels, steps)
    torch.manual_seed(0)
    theirs = plain_loop(GAN(config, images.shape[1], device), cpu_images, steps)
    yield f"bench trainer:           {ours:9.1f} steps/s"
    yield f"plain DataLoader loop:   {theirs:9.1f} steps/s"
    yield f"speed-up: {ours / theirs:.2f}x"
    epoch = len(images) / config.batch_size / ours
    yield f"one {len(images):,}-image epoch with bench: {epoch:.2f} s"
    goal = GOALS.get((variant, device.type))
    if goal:
        yield f"goal for {variant} on {device.type}: >= {goal:g}x -> {'met' if ours / theirs >= goal else 'NOT met'}"


def _population_lines(config, images, labels, sizes: list[int], steps: int, cpu_images, eval_samples: int) -> Iterator[str]:
    from bench.gan.population import why_solo

    size = max(sizes)
    reason = why_solo([config] * size, images.device, any_device=True)  # a measurement: any device
    if reason:
        yield f"cannot train as a population: {reason}"
        return
    unverified = why_solo([config] * size, images.device)
    if unverified:
        yield f"measured although {unverified} (bench run trains these trials alone here)"
    flops = step_flops(config, images, labels)
    peak = tf32_peak(images.device)
    torch.manual_seed(0)
    plain = plain_loop(GAN(config, images.shape[1], images.device), cpu_images, min(steps, 50))
    *_, warm = population_loops(config, images, labels, 2, min(steps, 5))  # warm-up: allocator, vmap's first calls
    population_evaluations(warm, 100)  # and the evaluator, its reference statistics
    yield f"one member step: {flops / 1e9:.2f} GFLOP (torch.utils.flop_counter); plain PyTorch loop: {plain:.1f} steps/s"
    yield (f"{'K':>4} {'population':>12} {'K solo in turn':>15} {'speed-up':>9} {'vs plain':>9} {'TFLOP/s':>8} "
           f"{'MFU (TF32)' if peak else 'MFU':>10} {'eval together':>14} {'eval in turn':>13} {'memory/member':>14}")
    for k in sizes:
        solo, stacked, population = population_loops(config, images, labels, k, steps)
        achieved = stacked * flops
        mfu = f"{achieved / peak:.1%}" if peak else "no peak"
        memory = peak_memory_per_member(population)
        in_turn, together = population_evaluations(population, eval_samples)
        yield (f"{k:>4} {stacked:>12.1f} {solo:>15.1f} {stacked / solo:>8.2f}x {stacked / plain:>8.2f}x "
               f"{achieved / 1e12:>8.3f} {mfu:>10} {together:>13.2f}s {in_turn:>12.2f}s {memory:>14}")
    yield "population and solo columns: member-steps/s, aggregate; goal >= 2x speed-up (CPU, seed000-fc, K=8)"
    yield (f"eval columns: seconds per member for one evaluation ({eval_samples:,} samples scored, and the picture), "
           "the members together (evaluate_members) or one after the other; memory/member: peak allocated while "
           "training, over K (CUDA)")
