"""MLflow tracking for runs: params, metrics by step, pictures, config and generator,
MLflow's source tags, the data set as an input, and system metrics.

Uses an explicit ``MlflowClient`` and run id rather than MLflow's global active run,
so several runs (a study's parent and children) can be open at once; what
``mlflow.start_run`` and ``mlflow.log_input`` would add is added to that run id. Default store:
SQLite under ``mlruns/`` with artifacts beside it (MLflow's file store is deprecated).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import warnings
from contextlib import closing
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag, SourceType
from mlflow.environment_variables import MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_GIT_COMMIT, MLFLOW_SOURCE_NAME, MLFLOW_SOURCE_TYPE

from bench import data, plots
from bench.errors import BenchError
from bench.files import _umask, cache_dir, default_tracking_uri, free_port, home  # noqa: F401 (the last two: bench.tracking's as before)
from bench.trainer import Tracker

# Noise here: "Creating initial MLflow database tables..." on every first use of a
# store, a "View run ... at" line per finished run with a tracking server, and a logged
# traceback for each database error, which MLflow raises to us anyway (a full disk, say)
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

# mlflow.log_batch's limits
_PARAMS_PER_BATCH, _METRICS_PER_BATCH = 100, 1000


# Stores MLflow can use: SQLite, a tracking server, a database server (SQLAlchemy URLs)
TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
_TRACKING_FIX = "give sqlite:///PATH or http://HOST:PORT of an MLflow server, or leave it out for sqlite:///mlruns/mlflow.db"


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` store (relative to the current folder), else None."""
    if not uri.startswith("sqlite:///") or uri.partition("?")[0] == "sqlite:///:memory:":
        return None
    return Path(uri[len("sqlite:///"):].partition("?")[0])


def store_exists(uri: str) -> bool:
    """False for a SQLite store not created yet: commands that only read must not open it,
    as opening creates an empty one."""
    path = sqlite_path(uri)
    return path is None or path.exists()


def create_store(uri: str) -> None:
    """A SQLite store not there yet starts as a copy of an empty one that MLflow made once
    per MLflow version, in the cache: its schema migrations take seconds on every new store.
    Where that fails (a cache or disk that refuses it), MLflow makes the store as before."""
    path = sqlite_path(uri)
    if path is None or path.exists() or not path.parent.is_dir():
        return
    try:
        template = cache_dir() / f"mlflow-{mlflow.__version__}-empty.db"
        if not template.exists():
            _empty_store(template)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except (OSError, sqlite3.Error):
        return
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # the mode a store MLflow creates gets
        with os.fdopen(fd, "wb") as out, open(template, "rb") as empty:
            shutil.copyfileobj(empty, out)
        os.link(tmp, path)  # never over a store another process made meanwhile
    except OSError:
        pass
    finally:
        os.unlink(tmp)


def _empty_store(template: Path) -> None:
    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=template.parent) as folder:
        db = Path(folder) / "empty.db"
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        SqlAlchemyStore(f"sqlite:///{db}", folder).engine.dispose()  # its connections close before the file moves
        # MLflow's Default experiment names an artifact folder beside the process that made it;
        # a store without one makes its own when first opened
        with closing(sqlite3.connect(db)) as connection, connection:
            connection.execute("DELETE FROM experiments")
        os.replace(db, template)  # two processes making it at once: either copy will do


def check_tracking_uri(uri: str) -> None:
    """Fail early, in one line and without writing anything, on a tracking store that
    cannot be used. A SQLite file not there yet is only checked for its folder (opening
    it would create it), a damaged one is named; a server that does not answer is asked
    once, not MLflow's default seven times with backoff."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    scheme = uri.partition(":")[0].partition("+")[0] if ":" in uri else ""
    if scheme not in TRACKING_SCHEMES:  # MLflow would take a bare word for a deprecated file store
        raise BenchError(f"--tracking-uri {uri}: {'no' if not scheme else 'unknown'} scheme{f' {scheme!r}' if scheme else ''}; {_TRACKING_FIX}")
    check_sqlite_file(uri)
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        if not path.parent.is_dir() and path.parent.resolve() != home().resolve():  # home() is created when work starts
            raise BenchError(f"--tracking-uri {uri}: folder {path.parent} does not exist; create it first, or {_TRACKING_FIX}")
        return
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ.update({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"})
    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except ImportError as e:  # a database URL whose driver is not installed
        raise BenchError(f"--tracking-uri {uri}: its driver is missing ({e}); install it, or {_TRACKING_FIX}") from None
    except (MlflowException, SQLAlchemyError, OSError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0].rstrip(".")
        if scheme.startswith("http") and reason.startswith("API request to"):  # requests' paragraph of pools and retries
            reason = "no MLflow server answers there"
        raise BenchError(f"--tracking-uri {uri}: {reason[:200]}; {_TRACKING_FIX}") from None
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def check_sqlite_file(uri: str) -> None:
    """A damaged SQLite file (garbage bytes, cut short) in one line naming it, before MLflow
    and SQLAlchemy turn it into a traceback, or a trial fails on it halfway. SQLite's
    quick_check reads every page once; opened read-only, it changes nothing."""
    path = sqlite_path(uri)
    if path is None or not path.is_file() or path.stat().st_size == 0:  # no file yet: MLflow creates it
        return
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            verdict = "\n".join(row[0] for row in db.execute("PRAGMA quick_check(3)"))
    except sqlite3.Error as e:
        verdict = str(e)
    if verdict != "ok":
        reason = " ".join(verdict.split())[:200]
        raise BenchError(f"{path}: the MLflow database is damaged ({reason}); restore it from a backup, or move it aside "
                         "to start an empty one (its runs are then gone from MLflow; their artifacts stay on disk)")


def git_commit() -> str | None:
    """The commit of bench's own checkout; None when installed from a wheel (a git
    repository around site-packages is someone else's)."""
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def source_tags(command: str) -> dict:
    """MLflow's standard source tags: the bench command that made the run, and the commit
    of the code it ran."""
    commit = git_commit()
    return {MLFLOW_SOURCE_NAME: command, MLFLOW_SOURCE_TYPE: SourceType.to_string(SourceType.LOCAL)} | ({MLFLOW_GIT_COMMIT: commit} if commit else {})


def run_name(*parts: object) -> str:
    """A run's name in the MLflow UI: what trained, on which data set, then which trial and
    seed, as in 'dcgan-ns · mnist · trial 3 · seed 0' (the run list shows little else)."""
    return " · ".join(map(str, parts))


def system_metrics_enabled() -> bool:
    """MLflow's system metrics (CPU, memory, disk, network, GPU) on training runs whenever
    psutil is installed, unless MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false."""
    if MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING.defined and not MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING.get():
        return False
    return importlib.util.find_spec("psutil") is not None


def dataset_input(name: str, split: str, root=None) -> DatasetInput:
    """A data set split as an MLflow input: its name, where it was read from, and a digest
    of the SHA-256 sums its files are checked against (the images are not copied).
    The split is the input's context; each file's full SHA-256 is a tag."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    files = data.split_checksums(name, split)
    recipe = " ".join(f"{digest} {file}" for file, digest in files.items()) + " " + data.recipe(name, split)
    directory = data.source_dir("mnist" if name == "stacked-mnist" else name, root)
    with warnings.catch_warnings():  # MLflow registers its local-file source twice and warns that it is ambiguous
        warnings.simplefilter("ignore")
        source = resolve_dataset_source(str(directory.resolve()))
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:32]  # MLflow stores at most 36 characters
    dataset = MetaDataset(source, name=name, digest=digest)
    tags = [InputTag(MLFLOW_DATASET_CONTEXT, split)] + [InputTag(f"sha256 {file}", sha) for file, sha in files.items()]
    return DatasetInput(dataset._to_mlflow_entity(), tags)  # noqa: SLF001 -- what mlflow.log_input does


class MLflowTracker(Tracker):
    def __init__(self, experiment: str, run_name: str, tags: dict, tracking_uri: str | None = None, parent_run_id: str | None = None,
                 system_metrics: bool = False):
        home().mkdir(parents=True, exist_ok=True)
        create_store(tracking_uri or default_tracking_uri())
        self.client = MlflowClient(tracking_uri or default_tracking_uri())
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(
            experiment, artifact_location=(home() / "artifacts" / experiment).resolve().as_uri()
        )
        tags = {k: str(v) for k, v in tags.items()} | ({"mlflow.parentRunId": parent_run_id} if parent_run_id else {})
        self.run_id = self.client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
        self.system_metrics = None
        if system_metrics and system_metrics_enabled():  # what mlflow.start_run(log_system_metrics=True) starts
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            # its start/stop INFO lines (four per trial) would bury the trial lines people read
            logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
            self.system_metrics = SystemMetricsMonitor(self.run_id, tracking_uri=self.client.tracking_uri)
            self.system_metrics.start()

    def log_inputs(self, inputs: list[DatasetInput]) -> None:
        try:
            self.client.log_inputs(self.run_id, datasets=inputs)
        except MlflowException:
            # MLflow looks a data set up, then inserts it: two workers starting their first trials
            # together can both miss it, and the second insert fails. Retried, the look-up finds it
            # (a failed attempt is rolled back whole); anything else fails the same way again.
            self.client.log_inputs(self.run_id, datasets=inputs)

    def log_params(self, params: dict) -> None:
        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), _PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + _PARAMS_PER_BATCH])

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        for i in range(0, len(items), _METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=items[i : i + _METRICS_PER_BATCH])

    def log_evaluation(self, result: dict, grid, grid_labels, step: int) -> None:
        self.log_metrics(result, step)  # "n" among them: each number is tied to the sample count it was scored on
        self.client.log_image(self.run_id, plots.sample_grid(grid, grid_labels), f"samples/step_{step:07d}.png")
        self.log_figure(plots.mode_histogram(np.array(result["mode_histogram"]), result.get("valid_share")), f"modes/step_{step:07d}.png")

    def log_figure(self, figure, path: str) -> None:
        import matplotlib.pyplot as plt

        self.client.log_figure(self.run_id, figure, path)
        plt.close(figure)

    def log_dict(self, values: dict, path: str) -> None:
        self.client.log_dict(self.run_id, values, path)

    def log_artifact(self, local_path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(local_path), artifact_path)

    def set_tags(self, tags: dict) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def end(self, status: str) -> None:
        """FINISHED, FAILED or KILLED: a run is never left RUNNING."""
        if self.system_metrics is not None:  # its last samples are logged first
            self.system_metrics.finish()
            self.system_metrics = None
        self.client.set_terminated(self.run_id, status)
