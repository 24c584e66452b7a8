"""The ``bench`` command line. Each command parses options and calls the Python API."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Optional

import typer

from bench.cpu import sleeping_openmp
from bench.errors import BenchError, RunFailed

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Benchmark GAN variants on MNIST-like data.")
evaluator_app = typer.Typer(no_args_is_help=True, help="The classifier that every metric is computed with.")
app.add_typer(evaluator_app, name="evaluator")

DATA_ROOT_HELP = "torchvision-layout folder (ROOT/MNIST/raw, ROOT/FashionMNIST/raw) instead of the built-in sources."
STORAGE_HELP = "Optuna storage URL (default: journal file mlruns/optuna.journal)."
TRACKING_URI_HELP = "MLflow tracking URI (default: sqlite:///mlruns/mlflow.db)."
DEVICE_HELP = "cpu or cuda (default: cuda when a GPU is visible, else cpu)."


def _check_out(out: Path | None) -> None:
    """An output file's folder must exist: a typo must not create a tree of folders."""
    if out is not None and not out.parent.is_dir():
        raise BenchError(f"--out {out}: folder {out.parent} does not exist; create it first or choose another path")


def main() -> None:
    """Console entry point: bad input and usage errors become one line on stderr and
    exit code 2, failures after the work started exit 1 (see ``bench.errors``)."""
    sleeping_openmp()  # before any command imports torch (bench.cpu says why)
    try:  # typer 0.22+ carries its own copy of click
        from typer._click import exceptions as click_errors
    except ImportError:
        from click import exceptions as click_errors

    try:  # standalone_mode=False: click's errors come here instead of as a multi-line box
        code = app(prog_name="bench", standalone_mode=False)
    except getattr(click_errors, "NoArgsIsHelpError", ()):
        code = 2  # typer has printed the help already
    except click_errors.ClickException as e:  # "Invalid value for '--trials': ..." -> "--trials: ..."
        message = re.sub(r"^Invalid value for '([^']+)': ", r"\1: ", e.format_message())
        _error(message, e.exit_code, getattr(e, "ctx", None))
    except typer.Abort:  # end of input in a prompt
        code = 1
    except BenchError as e:
        _error(str(e), e.exit_code)
    except Exception as e:  # a store the disk refuses (full, read-only) in one line; anything else is a bug to see
        from bench.files import store_failure

        if (failure := store_failure(e)) is None:
            raise
        _error(str(failure), failure.exit_code)
    sys.exit(code or 0)


def _error(message: str, code: int, ctx=None) -> None:
    """``error: <message>`` on exactly one line: the contract for every bad input."""
    more = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    print("error: " + " ".join(message.split()).rstrip(".") + more, file=sys.stderr)
    sys.exit(code)


@app.command("data")
def data_command(
    dataset: Optional[str] = typer.Option(None, help="mnist, fashion-mnist or stacked-mnist (default: all)."),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
    download: bool = typer.Option(False, help="Let torchvision download into --data-root (needs a network)."),
) -> None:
    """Where each data set comes from, its counts per split and class, and its checksums."""
    from bench import data

    for name in [dataset] if dataset else data.DATASETS:
        for line in data.describe(name, data_root, download):
            typer.echo(line)


@evaluator_app.command("train")
def evaluator_train(
    dataset: str = typer.Option("mnist", help="mnist or fashion-mnist."),
    epochs: int = typer.Option(15, min=1),
    seed: int = typer.Option(0),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
    out: Optional[Path] = typer.Option(None, help="Folder for the weights (default: BENCH_HOME/evaluator, i.e. mlruns/evaluator)."),
    replace_shipped: bool = typer.Option(False, "--replace-shipped", help=(
        "Overwrite the weights bench scores with (bench/evaluator/weights): every metric's evaluator_sha256 changes.")),
) -> None:
    """Train the evaluator classifier deterministically and record its accuracy and SHA-256.
    The shipped weights, which every number is compared by, change only with --replace-shipped."""
    import torch

    from bench import data, evaluator
    from bench.evaluator.train import accuracy, train
    from bench.files import home

    if dataset not in evaluator.TARGET_ACCURACY:
        raise BenchError(f"no evaluator is trained for {dataset!r}; choose one of: {', '.join(evaluator.TARGET_ACCURACY)}")
    if replace_shipped and out is not None:
        raise BenchError("--out and --replace-shipped name two places; give one of them")
    if out is not None and not out.is_dir():
        raise BenchError(f"--out {out}: no such folder; create it first or leave --out out for {home() / 'evaluator'}")
    folder = evaluator.WEIGHTS if replace_shipped else out or home() / "evaluator"
    model = train(data.load(dataset, "train", data_root), epochs=epochs, seed=seed)
    test_accuracy = accuracy(model, data.load(dataset, "test", data_root))
    target = evaluator.TARGET_ACCURACY[dataset]
    if test_accuracy < target:  # never replace working weights with weaker ones
        raise RunFailed(f"test accuracy {test_accuracy:.2%} is below the {target:.1%} target; nothing written, train longer with --epochs")
    info = {"test_accuracy": test_accuracy, "epochs": epochs, "seed": seed, "torch": torch.__version__}
    info = evaluator.save(model, dataset, info, folder)
    typer.echo(f"{dataset}: test accuracy {test_accuracy:.2%} (target {target:.1%}), sha256 {info['sha256']}, written to {folder}")
    if not replace_shipped:
        typer.echo(f"bench still scores with the shipped weights in {evaluator.WEIGHTS}; to score with these, rerun with --replace-shipped")


@app.command()
def evaluate(
    samples: Path = typer.Argument(..., help=".npz with uint8 'images' [N,28,28]/[N,1,28,28]/[N,3,28,28] and optional 'labels'."),
    dataset: str = typer.Option("mnist", help="Reference data set: mnist, fashion-mnist or stacked-mnist."),
    backbone: str = typer.Option("evaluator", help="Features for FID/KID/PRDC: evaluator, or inception (extra; slow on CPU)."),
    device: str = typer.Option("cpu"),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ndb_bins: int = typer.Option(100, help="K, the number of k-means bins for NDB/K and its JSD."),
) -> None:
    """Score a file of generated samples with every metric."""
    from bench import data, metrics, samples as sample_files

    images, labels = sample_files.read(samples)
    if data_root is not None:  # the reference may come from the cache; a bad root is still an error
        data.check_available(dataset, data_root)
    result = metrics.score(images, labels, dataset, backbone, device, data_root, ndb_bins)
    typer.echo(json.dumps(result) if as_json else metrics.format_table(result))


@app.command()
def selfcheck(
    device: str = typer.Option("cpu"),
    ladders: bool = typer.Option(False, "--ladders", help="Instead: every metric on the known-answer ladders (noise, dropped classes, collapse within classes) and their checks."),
    n: int = typer.Option(10_000, min=2000, help="Images per ladder rung."),
    sample_sizes: bool = typer.Option(False, "--sample-sizes", help="Instead: the metrics of real data at 500, 2,000 and 10,000 samples (numbers of different n are not comparable)."),
) -> None:
    """Score real MNIST, whose answers are known, and check the evaluator and metrics give them."""
    from bench import selfcheck as check

    lines = check.run_ladders(n, device) if ladders else check.run_sample_sizes(device=device) if sample_sizes else check.run(device)
    for line in lines:
        typer.echo(line)


@app.command()
def variants(detail: Optional[str] = typer.Option(None, "--detail", help="One variant: its settings, notes and every deviation from its report.")) -> None:
    """The GAN variants: source, how faithful to its report, architecture, loss, remedies and defaults."""
    from rich.console import Console
    from rich.table import Table

    from bench.gan.variants import FAITHFULNESS, VARIANTS, get

    console = Console(width=200)
    if detail is not None:
        v = get(detail)
        console.print(f"[bold]{v.name}[/bold]: {v.description} ({v.source})")
        console.print(f"faithfulness: {v.faithfulness} ({FAITHFULNESS[v.faithfulness]})")
        if v.notes:
            console.print(f"notes: {v.notes}")
        table = Table("what", "the report", "here", title="deviations and gaps filled")
        for row in v.deviations:
            table.add_row(*row)
        if v.deviations:
            console.print(table)
        settings = Table("setting", "value", title="resolved settings")
        for key, value in v.config().to_dict().items():
            settings.add_row(key, str(value))
        console.print(settings)
        return
    table = Table("variant", "source", "faithful", "architecture", "loss", "update", "remedies", "batch", "steps", "lr G/D", "description")
    for v in VARIANTS.values():
        c = v.config()
        table.add_row(v.name, v.source, v.faithfulness, c.architecture, c.loss, c.update, c.remedies or "-", str(c.batch_size), f"{c.steps:,}",
                      f"{c.lr_g:g}/{c.lr_d:g}", v.description)
    console.print(table)
    typer.echo("faithful: " + "; ".join(f"{k} = {v}" for k, v in FAITHFULNESS.items()))
    typer.echo("Override anything with --set key=value (e.g. --set loss=hinge --set remedies=pacgan:2,ema); "
               "each preset's deviations from its report: bench variants --detail NAME")


@app.command()
def train(
    variant: Optional[str] = typer.Option(None, help="A name from 'bench variants' (or give --config)."),
    config: Optional[Path] = typer.Option(None, "--config", help=(
        "A configuration file from 'bench best': its variant, data set, seed and settings. --set, --steps, --seed and "
        "--dataset apply on top.")),
    dataset: Optional[str] = typer.Option(None, help="mnist, fashion-mnist or stacked-mnist (default: the --config file's, else mnist)."),
    steps: Optional[int] = typer.Option(None, min=1, help="Training steps (default: the variant's, or the --config file's)."),
    seed: Optional[int] = typer.Option(None, help="Training seed (default: the --config file's, else 0)."),
    settings: list[str] = typer.Option([], "--set", help=(
        "Override a setting: --set key=value (repeatable). remedies=a,b adds to the variant's own; "
        "-name removes one (remedies=-pacgan), none removes all (remedies=none,ema). Your own code by import path: "
        "architecture=mypkg.models:build, loss=mypkg.losses:fn, remedies=mypkg.remedies:Class[:ARG].")),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: sqlite:///mlruns/mlflow.db)."),
    experiment: str = typer.Option("bench", help="MLflow experiment name."),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
) -> None:
    """Train one GAN variant, evaluate it and log everything to MLflow."""
    from bench import metrics
    from bench.runs import default_device, train_run
    from bench.signals import Interrupts

    saved = None
    if config is not None:
        from bench import best

        if variant is not None:
            raise BenchError("--variant and --config both say what to train; give one of them (a --config file names its variant)")
        saved = best.read(config)
        variant = saved.variant
        dataset = dataset or saved.dataset  # the command line's come on top of the file's
        seed = saved.seed if seed is None else seed
    if variant is None:
        raise BenchError("say what to train: --variant NAME (see 'bench variants'), or --config FILE (from 'bench best')")
    device = device or default_device()
    if saved is not None and saved.threads and device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(saved.threads)  # the trial's: CPU sums split over other thread counts round differently
    try:
        with Interrupts():  # Ctrl-C or SIGTERM: the trainer checkpoints and the run ends KILLED
            run_id, result = train_run(variant, dataset or "mnist", steps, seed or 0, settings, device, tracking_uri, experiment,
                                       data_root=data_root, saved=None if saved is None else saved.settings)
    except KeyboardInterrupt:
        typer.echo("interrupted: the run was checkpointed under mlruns/runs/ and marked KILLED", err=True)
        raise typer.Exit(130) from None
    typer.echo(f"run {run_id}: {result.status} after {result.step:,} steps")
    if result.metrics:
        typer.echo(metrics.format_table(result.metrics))
    if result.status != "finished":
        raise RunFailed(f"training {result.status} at step {result.step}; see run {run_id} in 'mlflow ui'")


@app.command()
def sample(
    run: str = typer.Argument(..., help="MLflow run id, or a generator.pt / checkpoint.pt file."),
    n: int = typer.Option(10, "--n", min=1, help="Number of samples."),
    digit: Optional[int] = typer.Option(None, min=0, max=9, help="Conditional models: the digit to draw."),
    out: Path = typer.Option(..., help="FILE.npz (readable by 'bench evaluate') or FILE.png (a grid)."),
    seed: int = typer.Option(0),
    tracking_uri: Optional[str] = typer.Option(None),
    device: str = typer.Option("cpu"),
) -> None:
    """Draw samples from a trained generator."""
    import torch
    from PIL import Image

    from bench import plots
    from bench import samples as sample_files
    from bench.runs import load_generator
    from bench.trainer import sample as draw

    if out.suffix not in (".npz", ".png"):
        raise BenchError(f"--out {out}: use a .npz or .png file name")
    _check_out(out)
    generator, dataset = load_generator(run, tracking_uri, device)
    if digit is not None and not generator.config.conditional:
        raise BenchError("--digit needs a conditional model; this generator is unconditional")
    labels = torch.full((n,), digit) if digit is not None else None
    images, labels = draw(generator, n, seed, labels)
    if out.suffix == ".npz":
        sample_files.write(out, images, labels)
    else:
        grid = plots.sample_grid(images, None, per_row=min(n, 10))
        Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).save(out)
    typer.echo(f"{n} samples from a {dataset} generator written to {out}")


@app.command("run")
def run_study(
    study: str = typer.Option(..., help="A shipped study (smoke, seeds, mode-collapse, lucic), one of your own in ./studies, or a .toml path."),
    trials: Optional[int] = typer.Option(None, min=1, help="Trials per (data set, entry); default: the study's."),
    budget: Optional[str] = typer.Option(None, help="cpu or full (default: full on a GPU, cpu otherwise)."),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    storage: Optional[str] = typer.Option(None, help=STORAGE_HELP),
    tracking_uri: Optional[str] = typer.Option(None, help=TRACKING_URI_HELP),
    workers: int = typer.Option(1, min=1, help="Worker processes on this machine (one GPU can hold several)."),
    population: Optional[int] = typer.Option(None, min=1, help="Trials each worker claims at once and trains as one stacked population "
                                             "where the entry allows (others train alone; their runs say why). Default: 1 on a CPU; "
                                             "on a GPU as many as its free memory holds, measured at the start."),
    progress: bool = typer.Option(True, help="Show the live display (bars, ETA); without it, each finished trial still gets a line, for logs and CI."),
    estimate: bool = typer.Option(True, help="On a CPU, measure and say what the study will cost before any trial starts (a few seconds per entry)."),
) -> None:
    """Run a study: Optuna search over its variants, every trial tracked in MLflow.
    Running it again continues it; the same command on other machines with the same
    --storage and --tracking-uri adds workers there."""
    from bench.runs import check_device, default_device
    from bench.study import runner, spec

    plan = spec.load(study)  # validated before anything is written
    device = device or default_device()
    check_device(device)
    try:
        for line in runner.run(plan, trials, budget, device, storage, tracking_uri, workers, progress, population=population,
                               estimate_cost=estimate):
            typer.echo(line)
    except KeyboardInterrupt:
        typer.echo("interrupted: trials were checkpointed and their runs marked KILLED; run the same command to continue", err=True)
        raise typer.Exit(130) from None


@app.command()
def leaderboard(
    study: str = typer.Option(..., help="The study's name (or .toml path)."),
    fmt: str = typer.Option("md", "--format", help="csv, md, parquet, html, latex or json."),
    out: Optional[Path] = typer.Option(None, help="Write to this file instead of printing."),
    tracking_uri: Optional[str] = typer.Option(None),
) -> None:
    """One row per (data set, entry) of a study: best and median metrics, repeats' intervals
    and tests against the baseline, trial counts, device time."""
    from bench import leaderboard as board
    from bench.study import spec

    board.check_format(fmt, out)  # before the runs are read, which can take minutes
    _check_out(out)
    plan = spec.load(study)
    table = board.build(plan.name, plan.objectives, plan.baseline, tracking_uri)
    text = board.export(table, fmt, out, [m for m, _ in plan.objectives])
    typer.echo(text if out is None else f"leaderboard of {len(table)} rows written to {out}")
    for note in (board.few_repeats_note(table), table.attrs.get("not_comparable")):
        if note:
            typer.echo(f"warning: {note}", err=True)


@app.command()
def best(
    study: str = typer.Option(..., help="The study's name (or .toml path)."),
    entry: str = typer.Option(..., help="One of the study's entries (its [variants.NAME])."),
    dataset: Optional[str] = typer.Option(None, help="The data set whose trials to choose from; needed when the entry runs on several."),
    out: Optional[Path] = typer.Option(None, help="Write the configuration to this .toml file instead of printing it."),
    tracking_uri: Optional[str] = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """The entry's chosen trial (the leaderboard's) as a configuration file that
    'bench train --config FILE' trains again: variant, data set, seed and every setting."""
    from bench import best as chosen
    from bench.files import atomic_write
    from bench.study import spec

    _check_out(out)
    plan = spec.load(study)
    text = chosen.best_config(plan, entry, dataset, tracking_uri)
    if out is None:
        typer.echo(text, nl=False)
    else:
        atomic_write(out, lambda f: f.write(text.encode()))
        typer.echo(f"the chosen trial of {entry} written to {out}; train it again with 'bench train --config {out}'")


@app.command()
def report(
    study: str = typer.Option(..., help="The study's name (or .toml path)."),
    out: Optional[Path] = typer.Option(None, help="Folder for STUDY-report.html (default: the current folder)."),
    compare_with: Optional[str] = typer.Option(None, "--compare", help="Add a comparison with another study, STUDY:ENTRY or leaderboard csv (as 'bench compare')."),
    metric: str = typer.Option("fid", help="--compare: the metric compared."),
    tracking_uri: Optional[str] = typer.Option(None, help=TRACKING_URI_HELP),
    progress: bool = typer.Option(True, help="Show a progress bar over the entries."),
) -> None:
    """The study on one self-contained HTML page to read or send: what it cost, the
    leaderboard, Pareto fronts, each entry's curves, samples and modes, and the study file."""
    from bench import compare
    from bench.study import page, spec

    compare.check_options(metric)
    plan = spec.load(study)
    path = page.write(plan, out, tracking_uri, compare_with, metric, progress)
    typer.echo(f"report of {plan.name} written to {path} ({path.stat().st_size / 2**20:.1f} MB; everything inline, opens offline)")


@app.command("compare")
def compare_command(
    first: str = typer.Argument(..., metavar="A", help="A study (name or .toml), one entry of it (STUDY:ENTRY), or a leaderboard csv (FILE.csv[:ENTRY])."),
    second: str = typer.Argument(..., metavar="B", help="The same kinds as A."),
    metric: str = typer.Option("fid", help="The metric compared."),
    fmt: str = typer.Option("text", "--format", help="text or md."),
    tracking_uri: Optional[str] = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """Two studies, two entries or a study and a saved leaderboard side by side: each shared
    entry's chosen score and repeats' mean [95% CI] (n), the difference B - A and Welch's
    t-test of the repeats, Holm-corrected."""
    from bench import compare

    compare.check_options(metric, fmt)  # before the runs are read, which can take minutes
    typer.echo(compare.export(compare.compare(first, second, metric, tracking_uri), fmt), nl=False)


@app.command()
def doctor(
    study: Optional[str] = typer.Option(None, help="A study's name (or .toml path); default: every study in the stores."),
    repair: bool = typer.Option(False, "--repair", help=(
        "Fix what is safe (stale trials, abandoned runs, finished checkpoints, a journal's damaged end); never deletes results.")),
    storage: Optional[str] = typer.Option(None, help=STORAGE_HELP),
    tracking_uri: Optional[str] = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """Check a study's stores against each other: Optuna trials, MLflow runs, generators,
    checkpoints, disk used. Exit 0 when clean, 1 when problems are found (after --repair:
    when some are left)."""
    from bench.study import doctor as checks

    lines, clean = checks.run(study, storage, tracking_uri, repair)
    for line in lines:
        typer.echo(line)
    if not clean:
        raise typer.Exit(1)


@app.command()
def ui(
    port: int = typer.Option(5000, min=1, max=65535, help="Port on 127.0.0.1; if it is taken, a free one (and it says which)."),
    tracking_uri: Optional[str] = typer.Option(None, help="Backend store (default: sqlite:///mlruns/mlflow.db)."),
    workers: int = typer.Option(1, min=1, help="Server worker processes (MLflow's own default is 4)."),
) -> None:
    """Start the MLflow UI on 127.0.0.1 against mlruns/ (Ctrl-C stops it)."""
    import subprocess
    import sys

    from bench.files import default_tracking_uri, free_port  # not bench.tracking: MLflow and torch took seconds to import here

    wanted, port = port, free_port(port)
    # one worker process: MLflow's default of 4 (16 processes, 4 GiB) serves a crowd, not one person
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri or default_tracking_uri(), "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]
    taken = f"port {wanted} is taken; " if port != wanted else ""
    typer.echo(f"{taken}MLflow UI on http://127.0.0.1:{port} (Ctrl-C to stop)")
    # without MLflow's job runner (GenAI jobs, unused here): its processes made the start 91 s instead of 38 s on a busy 2-core machine
    environment = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"} | dict(os.environ)
    try:
        subprocess.run(command, check=False, env=environment)
    except KeyboardInterrupt:
        pass


def _sizes(text: str) -> list[int]:
    """``--population 1,4,16,64`` as [1, 4, 16, 64]."""
    try:
        sizes = [int(k) for k in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise BenchError(f"--population {text!r}: give population sizes >= 1, comma-separated, e.g. --population 1,4,16,64")
    return sizes


@app.command()
def speed(
    metrics: bool = typer.Option(False, "--metrics", help="Time the metric suite on --n samples."),
    variant: Optional[str] = typer.Option(None, help="Time bench's trainer on this variant against a plain PyTorch loop."),
    n: Optional[int] = typer.Option(None, min=10, help="Samples to score: --metrics (default 10,000), or each member's evaluation in a --population sweep (default: the variant's eval_samples). The metrics need 10."),
    steps: int = typer.Option(300, min=1, help="--variant: training steps timed in each loop."),
    device: str = typer.Option("cpu"),
    repeats: int = typer.Option(3, min=1, help="--metrics: best of this many runs."),
    population: Optional[str] = typer.Option(None, metavar="K[,K...]", help="--variant: time K members as one population against K solo runs in turn, for each K (e.g. 1,4,16,64), with FLOPs and MFU."),
) -> None:
    """Speed benchmarks, measured side by side in one process against a plain baseline."""
    from bench.runs import check_device

    if metrics == (variant is not None):
        raise BenchError("say what to time: --metrics, or --variant NAME")
    check_device(device)
    if metrics:
        from bench.speed.metrics import run

        lines = run(n or 10_000, device, repeats)
    else:
        from bench.gan import variants
        from bench.speed.trainer import run

        variants.get(variant)
        lines = run(variant, steps, device, population=_sizes(population) if population else None, eval_samples=n)
    for line in lines:
        typer.echo(line)
