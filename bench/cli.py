"""The ``bench`` command line. Each command parses options and calls the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from bench.errors import BenchError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Benchmark GAN variants on MNIST-like data.")
evaluator_app = typer.Typer(no_args_is_help=True, help="The classifier that every metric is computed with.")
app.add_typer(evaluator_app, name="evaluator")

DATA_ROOT_HELP = "torchvision-layout folder (ROOT/MNIST/raw, ROOT/FashionMNIST/raw) instead of the built-in sources."


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app(prog_name="bench")
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


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
    out: Optional[Path] = typer.Option(None, help="Folder for the weights (default: the package's own, committed)."),
) -> None:
    """Train the evaluator classifier deterministically and record its accuracy and SHA-256."""
    import torch

    from bench import data, evaluator
    from bench.evaluator.train import accuracy, train

    if dataset not in evaluator.TARGET_ACCURACY:
        raise BenchError(f"no evaluator is trained for {dataset!r}; choose one of: {', '.join(evaluator.TARGET_ACCURACY)}")
    model = train(data.load(dataset, "train", data_root), epochs=epochs, seed=seed)
    test_accuracy = accuracy(model, data.load(dataset, "test", data_root))
    target = evaluator.TARGET_ACCURACY[dataset]
    if test_accuracy < target:  # never replace working weights with weaker ones
        raise BenchError(f"test accuracy {test_accuracy:.2%} is below the {target:.1%} target; nothing written, train longer with --epochs")
    info = {"test_accuracy": test_accuracy, "epochs": epochs, "seed": seed, "torch": torch.__version__}
    info = evaluator.save(model, dataset, info, out or evaluator.WEIGHTS)
    typer.echo(f"{dataset}: test accuracy {test_accuracy:.2%} (target {target:.1%}), sha256 {info['sha256']}")


@app.command()
def evaluate(
    samples: Path = typer.Argument(..., help=".npz with uint8 'images' [N,28,28]/[N,1,28,28]/[N,3,28,28] and optional 'labels'."),
    dataset: str = typer.Option("mnist", help="Reference data set: mnist, fashion-mnist or stacked-mnist."),
    backbone: str = typer.Option("evaluator", help="Features for FID/KID/PRDC: evaluator, or inception (extra; slow on CPU)."),
    device: str = typer.Option("cpu"),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score a file of generated samples with every metric."""
    from bench import metrics, samples as sample_files

    images, labels = sample_files.read(samples)
    result = metrics.score(images, labels, dataset, backbone, device, data_root)
    typer.echo(json.dumps(result) if as_json else metrics.format_table(result))


@app.command()
def selfcheck(device: str = typer.Option("cpu")) -> None:
    """Score real MNIST, whose answers are known, and check the evaluator and metrics give them."""
    from bench import selfcheck as check

    for line in check.run(device):
        typer.echo(line)


@app.command()
def speed(
    metrics: bool = typer.Option(False, "--metrics", help="Time the metric suite on --n samples."),
    n: int = typer.Option(10_000, help="Number of samples to score."),
    device: str = typer.Option("cpu"),
    repeats: int = typer.Option(3, min=1),
) -> None:
    """Speed benchmarks, measured side by side in one process against a plain baseline."""
    if not metrics:
        raise BenchError("say what to time: --metrics")
    from bench.metrics.benchmark import run

    for line in run(n, device, repeats):
        typer.echo(line)
