"""The thin trainer: feeds a GAN batches, logs, evaluates, checkpoints and resumes.

Data stays on the device as uint8 (``bench.data.batches``). Losses stay on the device
and are read every ``log_every`` steps, the loop's only host sync.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from bench import data, metrics
from bench.data.batches import Batches
from bench.files import atomic_torch_save
from bench.gan import graphed
from bench.gan.checkpoint import checkpoint_state, restore
from bench.gan.config import Config
from bench.gan.model import GAN, NUM_CLASSES
from bench.metrics import collapse
from bench.signals import held

if TYPE_CHECKING:
    from bench.gan.population import Population

CHECKPOINT = "checkpoint.pt"
# members of a population sampled in one stacked forward: 8 x 1,000 samples at a time keeps
# its memory near a solo evaluation's, whatever K
EVALUATED_TOGETHER = 8


class Tracker:
    """Where results go; the default keeps nothing. ``bench.tracking`` logs to MLflow."""

    def log_metrics(self, values: dict[str, float], step: int) -> None: ...

    def log_evaluation(self, result: dict, grid: Tensor, grid_labels: Tensor | None, step: int) -> None: ...

    def set_tags(self, tags: dict) -> None: ...

    def report_progress(self, step: int, phase: str) -> None:
        """After every step (phase ``training``) and as each evaluation starts (``evaluating``)."""


@dataclass
class Result:
    status: str  # finished | diverged; in a population also: failed (``error``) | interrupted
    step: int
    metrics: dict = field(default_factory=dict)  # the last evaluation
    history: list[dict] = field(default_factory=list)  # logged losses and evaluations, by step
    checkpoint: Path | None = None
    error: Exception | None = None  # what stopped a failed member (its tracker's pruner, say)


class PopulationInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM in ``train_population``, after every member still training has
    saved its checkpoint; ``results`` says how each member stood (``interrupted`` for those)."""

    def __init__(self, results: list[Result]):
        super().__init__()
        self.results = results


def to_uint8(images: Tensor, image_range: str) -> Tensor:
    """Generated images back to 28x28 uint8, read in the range real images were scaled to."""
    x = (images + 1) / 2 if image_range == "-1,1" else images
    if x.shape[-1] != 28:
        x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False, antialias=True)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def use_fast_math(device: torch.device) -> None:
    """On GPU: TF32 matrix units, and cuDNN autotuning (a trial's shapes never change)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def load_training_data(dataset: str, size: int, device: torch.device, data_root=None) -> tuple[Tensor, Tensor]:
    train = data.load(dataset, "train", data_root)
    images = train.images.to(device)
    if size != 28:  # resized once, kept as uint8
        resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False)
        images = resized.round().clamp(0, 255).to(torch.uint8)
    return images, train.labels.to(device)


def sample(gan: GAN, n: int, seed: int, labels: Tensor | None = None, batch_size: int = 1000) -> tuple[Tensor, Tensor | None]:
    """``n`` uint8 samples from noise fixed by ``seed``; conditional models draw ``labels``
    (default: 0..9 in turn)."""
    if gan.config.conditional and labels is None:
        labels = torch.arange(n) % NUM_CLASSES
    chunks = []
    for start, z in _sample_noise(gan.config, n, seed, batch_size):
        y = None if labels is None else labels[start : start + len(z)].to(gan.device)
        chunks.append(to_uint8(gan.generate(z.to(gan.device), y), gan.config.image_range))
    return torch.cat(chunks), labels


def _sample_noise(config: Config, n: int, seed: int, batch_size: int):
    """``sample``'s noise, chunk by chunk, as (start, z)."""
    generator = torch.Generator().manual_seed(seed)  # its own stream: sampling never shifts training's
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        if config.noise == "uniform":
            yield start, torch.rand(count, config.z_dim, generator=generator) * 2 - 1
        else:
            yield start, torch.randn(count, config.z_dim, generator=generator)


def evaluate(gan: GAN, dataset: str, n: int, seed: int, data_root=None) -> dict:
    images, labels = sample(gan, n, seed)
    return metrics.score(images, labels, dataset, device=str(gan.device), data_root=data_root)


def sample_members(population: Population, only: list[int], n: int, seeds: list[int], batch_size: int = 1000) -> tuple[Tensor, Tensor | None]:
    """``sample`` for members ``only`` of a population, each from its own seed's noise, drawn
    by one stacked forward per chunk: images [len(only), n, C, 28, 28], and the labels."""
    config, device = population.config, population.template.device
    labels = torch.arange(n) % NUM_CLASSES if config.conditional else None
    chunks = []
    for noise in zip(*(_sample_noise(config, n, seed, batch_size) for seed in seeds)):
        start, count = noise[0][0], len(noise[0][1])
        z = torch.stack([z for _, z in noise]).to(device)
        y = None if labels is None else labels[start : start + count].to(device).expand(len(only), count)
        images = population.sample(only, z, y)
        chunks.append(to_uint8(images.flatten(0, 1), config.image_range).unflatten(0, (len(only), count)))
    return torch.cat(chunks, 1), labels


def evaluate_members(population: Population, only: list[int], n: int, seeds: list[int], dataset: str,
                     data_root=None) -> list[tuple[dict, Tensor, Tensor | None]]:
    """What ``evaluate`` gives each of members ``only``, with its picture grid (the first 100
    of the same noise): the stacked generator draws their samples, the networks score them
    together, and each member's numbers are its own samples'. ``EVALUATED_TOGETHER`` at a time."""
    evaluations = []
    for start in range(0, len(only), EVALUATED_TOGETHER):
        group, group_seeds = only[start : start + EVALUATED_TOGETHER], seeds[start : start + EVALUATED_TOGETHER]
        images, labels = sample_members(population, group, n, group_seeds)
        results = metrics.score_each(list(images), None if labels is None else [labels] * len(group), dataset,
                                     device=str(population.template.device), data_root=data_root)
        grids, grid_labels = sample_members(population, group, 100, group_seeds)
        evaluations += [(result, grid, grid_labels) for result, grid in zip(results, grids)]
    return evaluations


def load_checkpoint(path: Path, device: torch.device, tracker: Tracker) -> dict | None:
    """The checkpoint to resume from. A damaged one (cut short, garbled) is set aside, renamed
    and never deleted, and training restarts from step 0; said on stderr and in the run."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (torch.cuda.OutOfMemoryError, MemoryError):  # the machine's trouble, not the file's
        raise
    except Exception as e:  # torch raises RuntimeError, EOFError, IndexError, ... for a damaged file
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        path.rename(aside)
        note = f"damaged checkpoint ({type(e).__name__}) set aside as {aside}; training restarts from step 0"
        print(f"warning: {path}: {note}", file=sys.stderr)
        tracker.set_tags({"checkpoint": note})
        return None


def resumable(path: Path | None, config: Config, seed: int, device: torch.device, tracker: Tracker) -> dict | None:
    """The checkpoint at ``path`` when there is one of this config and seed (another setup's
    is ignored: the run starts afresh)."""
    state = load_checkpoint(path, device, tracker) if path is not None and path.exists() else None
    return state if state is not None and state["config"] == config.to_dict() and state["seed"] == seed else None


def resume_step(run_dir: Path, config: Config, seed: int) -> int:
    """The step training in ``run_dir`` would resume from (0: the start); reads only the
    checkpoint's header (memory-mapped), so grouping a population's members by it is cheap."""
    try:
        state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # none yet, or damaged: training sets it aside and starts afresh
        return 0
    return state["step"] if state["config"] == config.to_dict() and state["seed"] == seed else 0


def discard_checkpoint(run_dir: Path) -> None:
    """A finished run's checkpoint and any temp file a killed save left; a damaged checkpoint
    set aside stays for inspection, and the folder goes once it is empty."""
    for leftover in [run_dir / CHECKPOINT, *run_dir.glob(f".{CHECKPOINT}.*")]:
        leftover.unlink(missing_ok=True)
    try:
        run_dir.rmdir()
    except OSError:  # not empty (a set-aside checkpoint), or already gone
        pass


def all_finite(gan: GAN) -> bool:
    return bool(torch.stack([p.detach().abs().sum() for p in gan.parameters()]).isfinite().all())


class TrialLoop:
    """One trial's side of the training loop, whoever steps it (``train`` alone, or
    ``train_population`` with others): sums the step's losses, logs their means every
    ``log_every`` steps and stops at the first non-finite one, evaluates every
    ``eval_every`` steps and at the end, and checkpoints every ``checkpoint_every``."""

    def __init__(self, config: Config, seed: int, tracker: Tracker, path: Path | None, state: dict | None, dataset: str, data_root=None):
        self.config, self.dataset, self.seed, self.tracker, self.path, self.data_root = config, dataset, seed, tracker, path, data_root
        self.start, self.history, self.sums = (state["step"], state["history"], state["sums"]) if state else (0, [], {})
        self.done, self.status, self.result = self.start, "training", {}
        self.error: Exception | None = None
        self.eval_seed = seed + 1_000_003  # fixed sample noise, distinct from training's

    def count(self, stats: dict[str, Tensor]) -> None:
        """A step done: its losses summed (on the device)."""
        for key, value in stats.items():
            self.sums[key] = self.sums.get(key, 0) + value
        self.done += 1

    def log(self, weights_finite: Callable[[], bool]) -> dict | None:
        """After ``count``: the losses' means, every ``log_every`` steps and at the last, where
        a non-finite one (or weight) ends the trial diverged; returns them when it logged."""
        c, done = self.config, self.done
        self.tracker.report_progress(done, "training")
        if done % c.log_every and done != c.steps:
            return None
        count = c.log_every if done % c.log_every == 0 else done % c.log_every
        means = {k: float(v) / count for k, v in self.sums.items()}  # the one host sync
        self.sums = {}
        if not all(map(math.isfinite, means.values())) or not weights_finite():
            self.status = "diverged"
            self.history.append({"step": done, "diverged": True, **means})
            self.tracker.log_metrics({"diverged_at_step": done}, done)
            return means
        self.history.append({"step": done, **means})
        self.tracker.log_metrics(means, done)
        return means

    def evaluation_due(self) -> bool:
        """An evaluation during training (every ``eval_every`` steps; the last is ``finish``'s)."""
        c = self.config
        return self.status == "training" and bool(c.eval_every) and self.done % c.eval_every == 0 and self.done != c.steps

    def log_and_evaluate(self, weights_finite: Callable[[], bool], gan: Callable[[], GAN]) -> dict | None:
        """What is due after ``count``; returns the logged means when it logged. ``gan()``
        gives the trial's GAN as it is now (a population builds it only when needed)."""
        means = self.log(weights_finite)
        if self.evaluation_due():
            self.evaluate(gan(), self.config.eval_samples)
        return means

    def log_pending(self, weights_finite: Callable[[], bool], gan: Callable[[], GAN]) -> None:
        """On resuming: the log (and evaluation) due at the checkpoint's step, when a Ctrl-C
        came between that step and its log."""
        if self.sums and self.done % self.config.log_every == 0:
            self.log_and_evaluate(weights_finite, gan)

    def evaluate(self, gan: GAN, n: int) -> None:
        """``n`` samples scored, and the first 100 of the same noise as the picture."""
        self.tracker.report_progress(self.done, "evaluating")
        gan.eval()
        result = evaluate(gan, self.dataset, n, self.eval_seed, self.data_root)
        grid, grid_labels = sample(gan, 100, self.eval_seed)
        gan.train()
        self.record(result, grid, grid_labels)

    def record(self, result: dict, grid: Tensor, grid_labels: Tensor | None) -> None:
        """An evaluation of this step logged, and kept in the history (a first collapse too)."""
        step = self.done
        self.result = result
        self.tracker.log_evaluation(result, grid, grid_labels, step)
        first_collapse = collapse.collapsed_at(self.history) is None and collapse.collapsed(result)
        self.history.append({"step": step, **{k: v for k, v in result.items() if isinstance(v, (int, float))}})  # once logged
        if first_collapse:
            self.tracker.log_metrics({"collapsed_at_step": step}, step)
        if self.status == "training":
            self.tracker.report_progress(step, "training")

    def finish(self, gan: GAN | None = None) -> None:
        """After the last step: the final evaluation, of ``gan`` (a population's members are
        evaluated together by the caller). The checkpoint is the caller's."""
        if self.status == "training":
            self.status = "finished"
            if gan is not None:
                self.evaluate(gan, self.config.final_samples)

    def checkpoint_due(self) -> bool:
        return self.path is not None and self.done % self.config.checkpoint_every == 0

    def save(self, gan: GAN, batches: Batches, stream: Tensor | None = None) -> None:
        if self.path is not None:
            atomic_torch_save(checkpoint_state(gan, batches, self.done, self.seed, self.dataset, self.history, self.sums, stream), self.path)

    def to_result(self) -> Result:
        return Result(self.status, self.done, self.result, self.history, self.path, self.error)


def train(
    config: Config,
    dataset: str = "mnist",
    seed: int = 0,
    device: str = "cpu",
    run_dir: Path | None = None,
    tracker: Tracker | None = None,
    progress: bool = True,
    data_root=None,
) -> Result:
    """Train ``config`` on ``dataset``; resumes from ``run_dir/checkpoint.pt`` when it exists."""
    tracker = tracker or Tracker()
    device = torch.device(device)
    use_fast_math(device)
    torch.manual_seed(seed)
    images, labels = load_training_data(dataset, config.image_size, device, data_root)
    gan = GAN(config, images.shape[1], device)
    batches = Batches(images, labels, config.image_range)
    path = run_dir / CHECKPOINT if run_dir else None
    state = resumable(path, config, seed, device, tracker)
    if state is not None:
        restore(gan, batches, state)
    trial = TrialLoop(config, seed, tracker, path, state, dataset, data_root)
    gan.train()
    train_step = graphed.step_function(gan, batches)  # after restore: a graph holds the tensors it saw
    trial.log_pending(lambda: all_finite(gan), lambda: gan)
    bar = tqdm(range(trial.start, config.steps), initial=trial.start, total=config.steps, desc=config.architecture,
               disable=not progress, dynamic_ncols=True)
    try:
        for step in bar:
            with held():  # a Ctrl-C waits for the whole step
                trial.count(train_step(step))
            means = trial.log_and_evaluate(lambda: all_finite(gan), lambda: gan)
            if trial.status == "diverged":
                break
            if means:
                bar.set_postfix({k: f"{v:.3f}" for k, v in means.items()})
            if trial.checkpoint_due():
                trial.save(gan, batches)
        bar.close()
        if trial.status == "training":
            trial.finish(gan)
            trial.save(gan, batches)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, in training or in the final evaluation: keep what was trained
        trial.save(gan, batches)
        raise
    return trial.to_result()


def train_population(
    configs: list[Config],
    seeds: list[int],
    dataset: str = "mnist",
    device: str = "cpu",
    run_dirs: list[Path | None] | None = None,
    trackers: list[Tracker] | None = None,
    progress: bool = True,
    data_root=None,
) -> list[Result]:
    """Train K trials as one population (``bench.gan.population``): each logs, evaluates,
    checkpoints (a solo run's checkpoint) and resumes as it would alone. A member whose
    losses or weights stop being finite is diverged and left behind; the others go on.
    A member whose tracker raises (a pruner) is failed with that ``error`` and left behind
    too. Members resume together or not at all: when each has its own checkpoint, all at one
    step (a trial that ended has left the population); otherwise all start afresh
    (``resume_step`` lets a caller group them). Ctrl-C: ``PopulationInterrupted``."""
    from bench.gan.population import Population

    size = len(configs)
    trackers = trackers or [Tracker() for _ in configs]
    device = torch.device(device)
    use_fast_math(device)
    images, labels = load_training_data(dataset, configs[0].image_size, device, data_root)
    paths = [run_dir / CHECKPOINT if run_dir else None for run_dir in run_dirs or [None] * size]
    states = [resumable(path, config, seed, device, tracker) for path, config, seed, tracker in zip(paths, configs, seeds, trackers)]
    if any(state is None for state in states) or len({state["step"] for state in states}) > 1:
        states = [None] * size
    population = Population(configs, seeds, images, labels, str(device), states)
    train_step = graphed.population_step_function(population)  # after the restores: a graph holds the tensors it saw
    trials = [TrialLoop(*member, dataset=dataset, data_root=data_root) for member in zip(configs, seeds, trackers, paths, states)]
    for k, trial in enumerate(trials):
        trial.log_pending(lambda k=k: population.member_finite(k), lambda k=k: population.member(k))
    live = [k for k, trial in enumerate(trials) if trial.status == "training"]

    def save(k: int) -> None:
        trials[k].save(population.member(k), population.batches[k], population.generators[k].get_state())

    def leave(k: int, error: Exception) -> None:  # e.g. its pruner stopped it: the others go on
        trials[k].status, trials[k].error = "failed", error
        live.remove(k)

    def evaluate(due: list[int], final: bool = False) -> None:
        """The evaluations due now, members of one sample count together (``evaluate_members``)."""
        by_count: dict[int, list[int]] = {}
        for k in due:
            by_count.setdefault(configs[k].final_samples if final else configs[k].eval_samples, []).append(k)
        for n, group in by_count.items():
            for k in group:
                trackers[k].report_progress(trials[k].done, "evaluating")
            try:
                evaluations = evaluate_members(population, group, n, [trials[k].eval_seed for k in group], dataset, data_root)
            except Exception as e:  # as alone: the trials whose evaluation failed end, the others go on
                for k in group:
                    leave(k, e)
                continue
            for k, evaluation in zip(group, evaluations):
                try:
                    trials[k].record(*evaluation)
                except Exception as e:  # its pruner, say
                    leave(k, e)

    bar = tqdm(range(trials[0].start, configs[0].steps), initial=trials[0].start, total=configs[0].steps,
               desc=f"{configs[0].architecture} x{size}", disable=not progress, dynamic_ncols=True)
    try:
        for step in bar:
            with held():  # a Ctrl-C waits for the whole step, and every member's count of it
                stats = train_step(step)
                for k in live:
                    trials[k].count({key: value[k] for key, value in stats.items()})
            for k in list(live):
                try:
                    trials[k].log(lambda k=k: population.member_finite(k))
                except Exception as e:
                    leave(k, e)
                    continue
                if trials[k].status == "diverged":
                    live.remove(k)
            evaluate([k for k in live if trials[k].evaluation_due()])
            for k in live:
                if trials[k].checkpoint_due():
                    save(k)
            if not live:
                break
        bar.close()
        for k in live:
            trials[k].finish()
        evaluate(list(live), final=True)
        for k in live:
            save(k)
    except KeyboardInterrupt:  # as alone: every member still training keeps what it trained
        for k in live:
            save(k)
            trials[k].status = "interrupted"
        raise PopulationInterrupted([trial.to_result() for trial in trials]) from None
    return [trial.to_result() for trial in trials]
