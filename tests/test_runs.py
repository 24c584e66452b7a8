"""Single tracked runs: MLflow contents and status, and `bench sample`."""

import numpy as np
import pytest
from mlflow import MlflowClient

from bench import data, evaluator, runs, trainer
from bench.errors import BenchError
from bench.gan.config import FIELDS
from bench.tracking import default_tracking_uri

QUICK = ["log_every=10", "eval_every=30", "eval_samples=200", "final_samples=300"]


@pytest.fixture(scope="module")
def finished_run():
    mp = pytest.MonkeyPatch()  # system metrics on, sampled often enough for a run of seconds
    mp.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    mp.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    run_id, result = runs.train_run("seed000-fc", steps=60, seed=1, settings=QUICK, progress=False)
    mp.undo()
    return run_id, result


def _artifacts(client, run_id, path=""):
    found = []
    for item in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return found


def test_run_logs_params_metrics_pictures_config_and_generator(finished_run):
    run_id, result = finished_run
    client = MlflowClient(default_tracking_uri())
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and result.status == "finished"
    assert set(FIELDS) <= run.data.params.keys()
    for tag in ("variant", "dataset", "seed", "device"):
        assert tag in run.data.tags
    assert run.data.tags["evaluator_sha256"] == evaluator.load("mnist").sha256
    assert run.data.tags["state"] == "finished"
    assert [m.step for m in client.get_metric_history(run_id, "fid")] == [30, 60]
    assert len(client.get_metric_history(run_id, "loss_d")) == 6
    files = set(_artifacts(client, run_id))
    assert {"config.json", "generator.pt", "curves/losses.png", "curves/fid_modes.png", "samples/step_0000060.png", "modes/step_0000060.png"} <= files


def test_run_carries_mlflow_source_tags_data_set_inputs_and_system_metrics(finished_run):
    import subprocess

    run_id, _ = finished_run
    run = MlflowClient(default_tracking_uri()).get_run(run_id)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=runs.__file__.rsplit("/", 2)[0]).stdout.strip()
    assert run.data.tags["mlflow.source.git.commit"] == head  # a checkout: its commit
    assert run.data.tags["mlflow.source.name"] == "bench train" and run.data.tags["mlflow.source.type"] == "LOCAL"
    inputs = {i.tags[0].value: i for i in run.inputs.dataset_inputs}  # by context: the split
    assert set(inputs) == {"train", "test"}
    for split, found in inputs.items():
        assert found.dataset.name == "mnist" and len(found.dataset.digest) == 32
        assert found.dataset.source_type == "local" and str(data.source_dir("mnist").resolve()) in found.dataset.source
        assert {t.key.removeprefix("sha256 "): t.value for t in found.tags[1:]} == data.split_checksums("mnist", split)
    assert inputs["train"].dataset.digest != inputs["test"].dataset.digest
    assert any(key.startswith("system/cpu_utilization") for key in run.data.metrics)


def test_stacked_mnist_inputs_name_the_mnist_files_and_the_draw():
    from bench.tracking import dataset_input

    train, test = dataset_input("stacked-mnist", "train"), dataset_input("stacked-mnist", "test")
    assert len(train.tags) == 1 + 4 and len(test.tags) == 1 + 2  # train draws from MNIST train and test
    plain = dataset_input("mnist", "test")
    assert test.dataset.digest != plain.dataset.digest  # the same files, drawn into triples


@pytest.mark.parametrize("error, status", [(RuntimeError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED")])
def test_a_crashed_or_interrupted_run_is_never_left_running(monkeypatch, error, status):
    def crash(*args, **kwargs):
        raise error

    monkeypatch.setattr(trainer, "train", crash)
    with pytest.raises(type(error)):
        runs.train_run("seed000-fc", steps=5, progress=False)
    client = MlflowClient(default_tracking_uri())
    latest = client.search_runs([client.get_experiment_by_name("bench").experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert latest.info.status == status


def test_a_diverged_run_is_marked_failed_with_its_state():
    run_id, result = runs.train_run("seed000-fc", steps=30, settings=["lr_d=1e30", "lr_g=1e30", "log_every=10"], progress=False)
    run = MlflowClient(default_tracking_uri()).get_run(run_id)
    assert result.status == "diverged" and run.info.status == "FAILED" and run.data.tags["state"] == "diverged"


def test_sample_from_a_run_id_writes_npz_and_png(finished_run, bench, tmp_path):
    run_id, _ = finished_run
    code, _, _ = bench("sample", run_id, "--n", 25, "--out", tmp_path / "s.npz")
    assert code == 0
    with np.load(tmp_path / "s.npz") as npz:
        assert npz["images"].shape == (25, 1, 28, 28) and npz["images"].dtype == np.uint8
        assert "labels" not in npz.files
    assert bench("evaluate", tmp_path / "s.npz", "--json")[0] == 0  # the format `bench evaluate` reads
    code, _, _ = bench("sample", run_id, "--n", 10, "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = bench("sample", run_id, "--digit", 3, "--out", tmp_path / "d.npz")
    assert code == 2 and "needs a conditional model" in err


def test_sample_a_run_id_the_store_does_not_hold(finished_run, bench, tmp_path):
    missing = "f" * 32
    code, out, err = bench("sample", missing, "--out", tmp_path / "x.png")
    assert code == 2 and out == "" and err.startswith(f"error: run {missing}: not found in sqlite:///") and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_sample_a_conditional_checkpoint_draws_the_digit_asked_for(tmp_path, bench):
    config = runs.variants.get("seed003-cgan").config(["steps=20", "log_every=10", "final_samples=100"])
    result = trainer.train(config, run_dir=tmp_path, progress=False)
    code, _, _ = bench("sample", result.checkpoint, "--n", 12, "--digit", 7, "--out", tmp_path / "sevens.npz")
    assert code == 0
    with np.load(tmp_path / "sevens.npz") as npz:
        assert npz["labels"].tolist() == [7] * 12 and npz["images"].shape == (12, 1, 28, 28)


def test_sample_errors(bench, tmp_path):
    assert "neither a file nor an MLflow run id" in bench("sample", "nope", "--out", tmp_path / "x.npz")[2]
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert "not a bench generator or checkpoint" in bench("sample", tmp_path / "junk.pt", "--out", tmp_path / "x.npz")[2]
    assert "use a .npz or .png" in bench("sample", tmp_path / "junk.pt", "--out", tmp_path / "x.jpg")[2]
    with pytest.raises(BenchError, match="unknown variant"):
        runs.train_run("nope", steps=1, progress=False)
