"""One tracked training run: variant -> trainer -> evaluator -> MLflow; and its generator back.

``train_run`` is what ``bench train`` does and what a study trial will call.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import optuna
import torch

from bench import data, evaluator, plots, trainer
from bench.errors import BenchError
from bench.files import atomic_torch_save, check_writable, home, store_failure
from bench.gan import variants
from bench.gan.config import Config
from bench.gan.model import GAN
from bench.tracking import MLflowTracker, check_tracking_uri, dataset_input, default_tracking_uri, run_name, source_tags, store_exists

GENERATOR = "generator.pt"


def default_device() -> str:
    """The GPU when there is one: what 'bench train' and 'bench run' use without --device."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str) -> None:
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise BenchError(f"unknown device {device!r}; use cpu or cuda") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda: no CUDA GPU is visible; use --device cpu")


def train_run(
    variant: str,
    dataset: str = "mnist",
    steps: int | None = None,
    seed: int = 0,
    settings: list[str] = (),
    device: str = "cpu",
    tracking_uri: str | None = None,
    experiment: str = "bench",
    progress: bool = True,
    data_root=None,
    saved: dict | None = None,
) -> tuple[str, trainer.Result]:
    """Train a variant and log everything to MLflow; returns (run id, result). ``saved``: the
    settings of a configuration file (``bench best``), which ``steps`` and ``settings`` override."""
    data.check_name(dataset)
    check_device(device)
    overrides = ([f"steps={steps}"] if steps else []) + list(settings)
    named = variants.get(variant)
    config = named.config(overrides) if saved is None else named.saved_config(saved, overrides)
    # every input is checked before the tracker creates the store and the run
    data.check_available(dataset, data_root)
    judge = evaluator.load(dataset)
    tracking_uri = tracking_uri or default_tracking_uri()
    check_writable()
    check_tracking_uri(tracking_uri)
    tags = {"variant": variant, "dataset": dataset, "seed": seed, "device": device, "threads": torch.get_num_threads(),
            "evaluator_sha256": judge.sha256} | source_tags("bench train")
    tracker = MLflowTracker(experiment, run_name(variant, dataset, f"seed {seed}"), tags, tracking_uri, system_metrics=True)
    result = tracked_training(tracker, config, dataset, seed, device, home() / "runs" / tracker.run_id, progress, data_root)
    return tracker.run_id, result


def tracked_training(tracker: MLflowTracker, config: Config, dataset: str, seed: int, device: str, run_dir: Path,
                     progress: bool = True, data_root=None) -> trainer.Result:
    """Train under an open MLflow run: params, config, metrics, pictures and generator are
    logged, and the run always ends: FINISHED, FAILED (crash or divergence) or KILLED."""
    try:
        _log_setup(tracker, config, dataset, seed, data_root)
        result = trainer.train(config, dataset, seed, device, run_dir, tracker, progress, data_root)
        _log_outcome(tracker, result)
    except BaseException as e:
        _end_stopped(tracker, e)
        raise
    _end_trained(tracker, result)
    return result


def tracked_population(trackers: list[MLflowTracker], configs: list[Config], seeds: list[int], dataset: str, device: str,
                       run_dirs: list[Path], progress: bool = True, data_root=None) -> list[trainer.Result]:
    """``tracked_training`` for K members trained as one population: each member's run gets
    what a solo run gets and ends as it would alone; a member that failed (its pruner, say)
    carries its ``error`` in its result, and Ctrl-C ends the members still training KILLED."""
    try:
        for tracker, config, seed in zip(trackers, configs, seeds):
            _log_setup(tracker, config, dataset, seed, data_root)
        results = trainer.train_population(configs, seeds, dataset, device, run_dirs, trackers, progress, data_root)
        for tracker, result in zip(trackers, results):
            if result.error is None:
                _log_outcome(tracker, result)
    except trainer.PopulationInterrupted as interrupted:
        for tracker, result in zip(trackers, interrupted.results):
            if result.status == "interrupted":
                _end_stopped(tracker, interrupted)
            else:  # diverged or pruned before the Ctrl-C: ended as alone
                _end_member(tracker, result)
        raise
    except BaseException as e:  # the whole population stopped (a crash in the step, a full disk)
        for tracker in trackers:
            _end_stopped(tracker, e)
        raise
    for tracker, result in zip(trackers, results):
        _end_member(tracker, result)
    return results


def _end_member(tracker: MLflowTracker, result: trainer.Result) -> None:
    if result.error is not None:
        _end_stopped(tracker, result.error)
    else:
        _end_trained(tracker, result)


def _log_setup(tracker: MLflowTracker, config: Config, dataset: str, seed: int, data_root) -> None:
    tracker.log_params(config.to_dict() | {"dataset": dataset, "seed": seed})
    tracker.log_dict(config.to_dict(), "config.json")
    tracker.log_inputs([dataset_input(dataset, split, data_root) for split in ("train", "test")])  # trained on, scored against


def _log_outcome(tracker: MLflowTracker, result: trainer.Result) -> None:
    """The curves, and the generator of a run trained to its end."""
    tracker.log_figure(plots.loss_curves(result.history), "curves/losses.png")
    if any("fid" in h for h in result.history):
        tracker.log_figure(plots.metric_curves(result.history), "curves/fid_modes.png")
    if result.status == "finished":
        with tempfile.TemporaryDirectory() as tmp:
            save_generator(result.checkpoint, Path(tmp) / GENERATOR)
            tracker.log_artifact(Path(tmp) / GENERATOR)


def _end_trained(tracker: MLflowTracker, result: trainer.Result) -> None:
    """A run that trained to its end, or diverged (FAILED, with the step)."""
    reason = {} if result.status == "finished" else {"prune_reason": f"{result.status} at step {result.step}"}
    tracker.set_tags({"state": result.status, "steps_done": result.step} | reason)
    tracker.end("FINISHED" if result.status == "finished" else "FAILED")


def _end_stopped(tracker: MLflowTracker, e: BaseException) -> None:
    """A run stopped by ``e``: pruned (a normal end), Ctrl-C or a full disk (KILLED, resumed
    later), or a crash (FAILED, with the reason)."""
    if isinstance(e, optuna.TrialPruned):  # a study's pruner stopped it
        _end(tracker, {"state": "pruned", "prune_reason": str(e)}, "FINISHED")
    elif isinstance(e, KeyboardInterrupt):
        _end(tracker, {"state": "killed"}, "KILLED")
    elif store_failure(e) is not None:  # the disk's fault, not the run's: stopped as by Ctrl-C, and resumed once it is fixed
        _end(tracker, {"state": "killed", "killed_by": str(store_failure(e))[:500]}, "KILLED")
    else:
        _end(tracker, {"state": "failed", "prune_reason": f"{type(e).__name__}: {e}"[:500]}, "FAILED")


def _end(tracker: MLflowTracker, tags: dict, status: str) -> None:
    """End the run; when the store refuses that too (a full disk), it stays RUNNING until
    the next sweep ends it KILLED, and the error that stopped it is the one reported."""
    try:
        tracker.set_tags(tags)
        tracker.end(status)
    except Exception as e:
        if store_failure(e) is None:
            raise


def save_generator(checkpoint: Path, out: Path) -> None:
    """The generator (its EMA when trained with one) and what is needed to rebuild it."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    weights = state["gan"]
    prefix = "g_ema." if any(k.startswith("g_ema.") for k in weights) else "g."
    generator = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    channels = 3 if state["dataset"] == "stacked-mnist" else 1
    atomic_torch_save({"config": state["config"], "dataset": state["dataset"], "channels": channels, "generator": generator}, out)


class TrainedGenerator:
    """Just enough of a GAN to sample from (``trainer.sample`` takes it)."""

    def __init__(self, config: Config, channels: int, weights: dict, device: str = "cpu"):
        gan = GAN(config, channels, device)
        gan.g.load_state_dict(weights)
        self.g, self.config, self.device = gan.g.eval(), config, gan.device

    @torch.no_grad()
    def generate(self, z, labels=None):
        return self.g(z, labels)


def load_generator(reference: str, tracking_uri: str | None = None, device: str = "cpu") -> tuple[TrainedGenerator, str]:
    """From a generator or checkpoint file, or an MLflow run id; returns (generator, dataset)."""
    path, source, hint = Path(reference), reference, ""
    if not path.exists():
        if not re.fullmatch(r"[0-9a-f]{32}", reference):
            raise BenchError(f"{reference}: neither a file nor an MLflow run id")
        path, source = _download_generator(reference, tracking_uri or default_tracking_uri())
        hint = "; the run's stored copy is damaged: restore it, or retrain the run"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        raise BenchError(f"{source}: not a bench generator or checkpoint ({type(e).__name__}){hint}") from None
    if "gan" in state:  # a trainer checkpoint
        tmp = Path(tempfile.mkdtemp()) / GENERATOR
        save_generator(path, tmp)
        state = torch.load(tmp, map_location="cpu", weights_only=True)
    if "generator" not in state:
        raise BenchError(f"{source}: not a bench generator or checkpoint")
    config = Config(**state["config"])
    return TrainedGenerator(config, state["channels"], state["generator"], device), state["dataset"]


def _download_generator(run_id: str, tracking_uri: str) -> tuple[Path, str]:
    """A finished run's generator, downloaded; returns (local copy, where it is stored)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    check_tracking_uri(tracking_uri)
    if not store_exists(tracking_uri):  # reading would create an empty store
        raise BenchError(f"run {run_id}: not found, {tracking_uri} holds no runs yet; see 'bench ui' for run ids")
    client = MlflowClient(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise BenchError(f"run {run_id}: not found in {tracking_uri}; see 'bench ui' for run ids, or pass --tracking-uri") from None
    if run.data.tags.get("state", "finished") != "finished" or run.info.status != "FINISHED":
        raise BenchError(f"run {run_id} ended {run.info.status} ({run.data.tags.get('state', 'unfinished')}) and has no {GENERATOR}: "
                         "only a run trained to the end has one")
    try:
        return Path(client.download_artifacts(run_id, GENERATOR, tempfile.mkdtemp())), f"{run.info.artifact_uri}/{GENERATOR}"
    except (MlflowException, OSError):
        raise BenchError(f"run {run_id} finished, but its {GENERATOR} is missing from {run.info.artifact_uri}; restore the file there, "
                         "or retrain the run ('bench doctor' lists every run that lacks its generator)") from None
