"""The command-line contract: `bench evaluate` keys and one-line errors, `bench data`."""

import json

import numpy as np
import pytest

from bench import data, trainer

KEYS = {"fid", "kid", "is", "modes", "modes_total", "kl_uniform", "precision", "recall", "density", "coverage", "n", "evaluator_sha256",
        "ndb_k", "ndb_jsd", "distinct_images", "recall_min", "coverage_min", "recall_per_class", "coverage_per_class"}


@pytest.fixture(scope="module")
def digits():
    test = data.load("mnist", "test")
    return test.images[:1000].numpy(), test.labels[:1000].numpy()


def test_evaluate_json_has_every_key(bench, tmp_path, digits):
    np.savez(tmp_path / "s.npz", images=digits[0][:, 0])  # [N,28,28] is accepted
    code, out, _ = bench("evaluate", tmp_path / "s.npz", "--json")
    result = json.loads(out)
    assert code == 0
    assert KEYS <= result.keys() and "label_accuracy" not in result
    assert result["n"] == 1000 and result["modes"] == 10


def test_ndb_bins_sets_k(bench, tmp_path, digits):
    np.savez(tmp_path / "s.npz", images=digits[0][:200])
    scores = [json.loads(bench("evaluate", tmp_path / "s.npz", "--json", *k)[1]) for k in ([], ["--ndb-bins", "10"])]
    assert scores[0]["ndb_k"] * 100 % 1 == pytest.approx(0) and scores[1]["ndb_k"] * 10 % 1 == pytest.approx(0)  # counts of K bins
    assert scores[0]["ndb_jsd"] != scores[1]["ndb_jsd"] and scores[0]["fid"] == scores[1]["fid"]
    code, _, err = bench("evaluate", tmp_path / "s.npz", "--ndb-bins", "1")
    assert code == 2 and "ndb_bins=1; NDB needs 2..500 bins" in err


def test_evaluate_with_labels_adds_label_accuracy(bench, tmp_path, digits):
    np.savez(tmp_path / "s.npz", images=digits[0], labels=digits[1])
    code, out, _ = bench("evaluate", tmp_path / "s.npz", "--json")
    assert code == 0 and json.loads(out)["label_accuracy"] > 0.98


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"images": np.zeros((10, 28, 28), np.float32)}, "'images' is float32; it must be uint8"),
        ({"images": np.zeros((10, 32, 32), np.uint8)}, r"'images' has shape \[10, 32, 32\]"),
        ({"images": np.zeros((0, 28, 28), np.uint8)}, r"expected a non-empty"),
        ({"pictures": np.zeros((10, 28, 28), np.uint8)}, "no 'images' array"),
        ({"images": np.zeros((10, 28, 28), np.uint8), "labels": np.zeros(3, np.int64)}, r"'labels' must be an integer array of shape \[10\]"),
        ({"images": np.zeros((20, 28, 28), np.uint8), "labels": np.full(20, 12)}, r"labels must be integers in 0\.\.9"),
        ({"images": np.zeros((20, 3, 28, 28), np.uint8)}, r"mnist needs \[N,1,28,28\]"),
        ({"images": np.zeros((5, 28, 28), np.uint8)}, "at least 10"),
    ],
)
def test_evaluate_rejects_malformed_files_in_one_line(bench, tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    code, out, err = bench("evaluate", tmp_path / "bad.npz", "--json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert __import__("re").search(message, err), err


def test_evaluate_rejects_a_file_that_is_not_npz(bench, tmp_path):
    (tmp_path / "x.npz").write_text("not a zip")
    code, _, err = bench("evaluate", tmp_path / "x.npz")
    assert code == 2 and "not an .npz file" in err and err.count("\n") == 1


def test_evaluate_missing_file(bench, tmp_path):
    code, _, err = bench("evaluate", tmp_path / "absent.npz")
    assert code == 2 and "absent.npz: file not found" in err


def test_evaluate_unknown_dataset_and_backbone(bench, tmp_path, digits):
    np.savez(tmp_path / "s.npz", images=digits[0])
    assert "choose one of: mnist, fashion-mnist, stacked-mnist" in bench("evaluate", tmp_path / "s.npz", "--dataset", "svhn")[2]
    assert "choose one of: evaluator, inception" in bench("evaluate", tmp_path / "s.npz", "--backbone", "vgg")[2]


def test_inception_backbone_without_the_extra_says_how_to_install(bench, tmp_path, digits, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    np.savez(tmp_path / "s.npz", images=digits[0])
    code, _, err = bench("evaluate", tmp_path / "s.npz", "--backbone", "inception")
    assert code == 2 and "pip install 'bench[inception]'" in err


def test_data_command_reports_source_counts_and_checksums(bench):
    code, out, _ = bench("data", "--dataset", "mnist")
    assert code == 0
    assert out.count(" ok ") == 4
    assert "60,000 images 1x28x28" in out and "0:980 1:1135" in out


def test_data_command_reports_a_bad_checksum(bench, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in data.source_dir("mnist").glob("*.gz"):
        (raw / f.name).write_bytes(f.read_bytes())
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\x01\x07")
    code, out, err = bench("data", "--dataset", "mnist", "--data-root", tmp_path)
    assert code == 2
    assert "MISMATCH" in out and "t10k-labels-idx1-ubyte" in err


def test_speed_commands_report_side_by_side(bench):
    code, out, _ = bench("speed", "--variant", "seed000-fc", "--steps", "5")
    assert code == 0 and "bench trainer:" in out and "plain DataLoader loop:" in out and "speed-up:" in out
    code, out, _ = bench("speed", "--metrics", "--n", "500", "--repeats", "1")
    assert code == 0 and "speed-up:" in out and "goal for 500 samples on cpu" in out
    code, _, err = bench("speed")
    assert code == 2 and "--metrics, or --variant NAME" in err


def test_ui_serves_mlruns_on_loopback_only(bench, monkeypatch):
    import subprocess

    from bench.tracking import default_tracking_uri, free_port

    calls, port = [], free_port(0)
    monkeypatch.setattr(subprocess, "run", lambda command, check, env: calls.append((command, env)))
    code, out, _ = bench("ui", "--port", port)
    assert code == 0 and out == f"MLflow UI on http://127.0.0.1:{port} (Ctrl-C to stop)\n"
    command, env = calls[0]
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"  # its job runner's processes doubled the start
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--backend-store-uri") + 1] == default_tracking_uri()
    assert command[command.index("--workers") + 1] == "1"  # not MLflow's 4 (16 processes, 4 GiB)


def test_help_of_every_command_answers_without_importing_torch():
    import subprocess
    import sys

    script = """
import sys
import typer.main
from typer.testing import CliRunner
from bench.cli import app

commands = [[]]
for name, command in typer.main.get_command(app).commands.items():
    commands += [[name]] + [[name, sub] for sub in getattr(command, "commands", {})]
for words in commands:
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output, (words, result.output)
print(len(commands), sorted(m for m in ("torch", "mlflow", "optuna") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) >= 13 and out[1:] == ["[]"]


@pytest.mark.parametrize("command", [["train", "--variant", "seed000-fc"], ["run", "--study", "smoke"]])
def test_train_and_run_default_to_the_gpu_when_there_is_one(bench, monkeypatch, command):
    import torch

    from bench import runs
    from bench.study import runner

    used = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(runs, "train_run", lambda *args, **kwargs: used.append(args[5]) or ("0" * 32, trainer.Result("finished", 1, {})))
    monkeypatch.setattr(runner, "run", lambda plan, trials, budget, device, *rest, **options: used.append(device) or iter([]))
    code, _, err = bench(*command)
    assert code == 0, err
    assert used == ["cuda"]


def test_evaluator_train_leaves_the_shipped_weights_alone_unless_told(bench, monkeypatch, tmp_path):
    from bench import evaluator
    from bench.evaluator import train as training

    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(training, "train", lambda *a, **k: evaluator.load("mnist").model)
    monkeypatch.setattr(training, "accuracy", lambda *a, **k: 0.999)
    shipped = {p.name: p.read_bytes() for p in evaluator.WEIGHTS.iterdir()}
    code, out, _ = bench("evaluator", "train", "--dataset", "mnist")
    assert code == 0 and "--replace-shipped" in out
    assert (tmp_path / "home" / "evaluator" / "mnist.pt").exists()
    assert {p.name: p.read_bytes() for p in evaluator.WEIGHTS.iterdir()} == shipped
    monkeypatch.setattr(evaluator, "WEIGHTS", tmp_path / "shipped")  # where --replace-shipped writes
    code, _, _ = bench("evaluator", "train", "--dataset", "mnist", "--replace-shipped")
    assert code == 0 and (tmp_path / "shipped" / "mnist.pt").exists()
    code, _, err = bench("evaluator", "train", "--replace-shipped", "--out", tmp_path)
    assert code == 2 and "give one of them" in err and err.count("\n") == 1


def test_variants_say_how_faithful_each_preset_is_and_list_its_deviations(bench):
    code, out, _ = bench("variants")
    assert code == 0 and "faithful" in out and "guessed" in out and "dcgan-radford" in out
    code, out, _ = bench("variants", "--detail", "seed003-cdcgan")
    assert code == 0 and "faithfulness: guessed" in out and "architecture" in out and "not given" in out
    code, _, err = bench("variants", "--detail", "seed999")
    assert code == 2 and err.startswith("error: unknown variant 'seed999'") and err.count("\n") == 1


def test_train_rejects_a_bad_plugin_in_one_line_and_writes_nothing(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    code, _, err = bench("train", "--variant", "dcgan", "--set", "architecture=nosuch.models:build")
    assert code == 2 and "cannot import 'nosuch.models'" in err and err.count("\n") == 1
    assert not (tmp_path / "home").exists()


def test_run_without_the_display_prints_a_line_per_finished_trial_before_the_summary(bench, tmp_path, monkeypatch, study_file):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    code, out, _ = bench("run", "--study", study_file(tmp_path, "said", 1, 10), "--device", "cpu", "--no-progress", "--no-estimate")
    lines = out.splitlines()
    assert code == 0 and not any(line.startswith("expected on this machine") for line in lines)  # --no-estimate: not measured
    trial = next(i for i, line in enumerate(lines) if line.startswith("mnist/seed000-fc trial 0: finished fid "))
    summary = next(i for i, line in enumerate(lines) if "1 complete, 0 pruned, 0 fail; best fid " in line)
    assert lines[trial].endswith("[1/1 done, 0s left]") and trial < summary
