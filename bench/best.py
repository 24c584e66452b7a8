"""``bench best``: an entry's chosen trial as a configuration file, and ``bench train --config``
reading it back.

The chosen trial is the leaderboard's (``leaderboard.chosen_run``): the entry's finished
trial best on the study's first objective. The file holds what that trial trained: its
variant, data set, seed and every resolved setting (its ``config.json``), steps included,
so ``bench train --config FILE`` trains the same network on the same batches (on CPU, to
the last bit; a GPU's autotuned kernels may differ). A CPU trial's thread count is kept
too: sums split over another number of threads round differently.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bench import data, leaderboard
from bench.errors import BenchError
from bench.gan.config import check_type
from bench.metrics import show
from bench.study.spec import Study
from bench.files import toml_text

KEYS = {"variant", "dataset", "seed", "threads", "settings"}


@dataclass(frozen=True)
class SavedConfig:
    variant: str
    dataset: str | None  # None: the command line's, or mnist
    seed: int | None  # None: the command line's, or 0
    settings: dict  # settings of bench.gan.config.Config; a complete set reproduces a run exactly
    threads: int | None = None  # a CPU run's torch threads; None: this machine's default


def entry_dataset(study: Study, entry: str, dataset: str | None) -> str:
    """The data set of ``entry`` to take the best trial of: ``dataset``, which must be one the
    entry runs on, or the entry's only one."""
    plans = {plan.name: plan for plan in study.variants}
    if entry not in plans:
        raise BenchError(f"--entry {entry!r} is not an entry of study {study.name}; valid: {', '.join(plans)}")
    runs_on = plans[entry].datasets or study.datasets
    if dataset is None and len(runs_on) > 1:
        raise BenchError(f"entry {entry} of study {study.name} runs on {', '.join(runs_on)}: choose one with --dataset")
    if dataset is not None and dataset not in runs_on:
        raise BenchError(f"--dataset {dataset}: entry {entry} of study {study.name} runs on {', '.join(runs_on)}")
    return dataset or runs_on[0]


def best_config(study: Study, entry: str, dataset: str | None = None, tracking_uri: str | None = None) -> str:
    """The chosen trial of (``dataset``, ``entry``) as a TOML configuration file's text."""
    dataset = entry_dataset(study, entry, dataset)
    runs = leaderboard.trial_runs(study.name, tracking_uri)
    trials = runs[(runs["tags.kind"] == "trial") & (runs["tags.dataset"] == dataset) & (runs["tags.entry"] == entry)]
    metric, direction = study.objectives[0]
    chosen = leaderboard.chosen_run(trials, metric, direction)
    if chosen is None:
        raise BenchError(f"{dataset}/{entry} of study {study.name} has no finished trial yet; "
                         f"run it with 'bench run --study {study.name}', or see 'bench leaderboard --study {study.name}'")
    settings = _trained_config(chosen["run_id"], tracking_uri)
    comment = (f"bench best --study {study.name} --entry {entry} --dataset {dataset}: the chosen trial of\n"
               f"{dataset}/{entry}, the one the leaderboard reports: trial {chosen['tags.trial']}, "
               f"{metric} {show(metric, chosen[f'metrics.{metric}'])}, MLflow run {chosen['run_id']}.\n"
               "'bench train --config FILE' trains it again: the same variant, data set, seed and settings\n"
               "give the same numbers on CPU; --set key=value (and --steps, --seed, --dataset) change it.")
    saved = {"variant": chosen["tags.variant"], "dataset": dataset, "seed": int(chosen["tags.seed"])}
    if chosen.get("tags.device") == "cpu" and str(chosen.get("tags.threads", "")).isdigit():
        saved["threads"] = int(chosen["tags.threads"])
    saved["settings"] = settings
    return toml_text(saved, comment)


def _trained_config(run_id: str, tracking_uri: str | None) -> dict:
    """The run's config.json: every setting it trained with, as typed values."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from bench.tracking import default_tracking_uri

    client = MlflowClient(tracking_uri or default_tracking_uri())
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file: no bar
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return json.loads(Path(client.download_artifacts(run_id, "config.json", tmp)).read_text())
    except (MlflowException, OSError, ValueError):
        raise BenchError(f"run {run_id}, the chosen trial, has no readable config.json; 'bench doctor' checks the study's runs") from None


def read(path: Path) -> SavedConfig:
    """A configuration file (``bench best`` writes them), checked: one-line errors naming the
    file and the field."""
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise BenchError(f"--config {path}: no such file; 'bench best --study NAME --entry ENTRY --out {path}' writes one") from None
    except UnicodeDecodeError as e:
        raise BenchError(f"{path}: not UTF-8 text (byte {e.start}); a configuration is a TOML file") from None
    except OSError as e:  # a folder, or no permission
        raise BenchError(f"{path}: cannot be read ({e.strerror}); give a configuration file") from None
    except tomllib.TOMLDecodeError as e:
        raise BenchError(f"{path}: not valid TOML ({e})") from None

    def fail(field: str, message: str):
        raise BenchError(f"{path}: {field}: {message}")

    for key in raw.keys() - KEYS:
        fail(key, f"unknown key; valid: {', '.join(sorted(KEYS))}")
    if "variant" not in raw:
        fail("variant", "missing; name a variant from 'bench variants'")
    expected = {"variant": (str, "a variant's name"), "dataset": (str, "a data set's name"), "seed": (int, "an integer"),
                "threads": (int, "a positive integer"), "settings": (dict, "a table of settings")}
    for key, (kind, description) in expected.items():
        if key in raw and (not isinstance(raw[key], kind) or isinstance(raw[key], bool)):
            fail(key, f"expected {description}, got {raw[key]!r}")
    if raw.get("threads", 1) < 1:
        fail("threads", f"expected a positive integer, got {raw['threads']!r}")
    if "dataset" in raw and raw["dataset"] not in data.DATASETS:
        fail("dataset", f"unknown data set {raw['dataset']!r}; valid: {', '.join(data.DATASETS)}")
    settings = {}
    for key, value in raw.get("settings", {}).items():
        try:
            settings[key] = check_type(key, value)
        except BenchError as e:
            fail("settings", str(e))
    return SavedConfig(raw["variant"], raw.get("dataset"), raw.get("seed"), settings, raw.get("threads"))
