"""The start line's cost of a study: the remaining trials priced from measured step and
evaluation times, as the live ETA prices them."""

import optuna
import pytest

from bench.study import estimate, queue, runner, spec
from bench.study.worker import Options
from bench.tracking import default_tracking_uri


@pytest.fixture
def priced(monkeypatch):
    """Steps at 10 ms, evaluation at 1 ms a sample: the arithmetic, without a clock."""
    monkeypatch.setattr(estimate, "_seconds_per_step", lambda config, channels: 0.01)
    monkeypatch.setattr(estimate, "_seconds_per_sample", lambda dataset, config, channels: 0.001)


def _study(folder, study_file):
    path = study_file(folder, "priced", 2, 100, repeats="[5]")  # 3 slots of 100 steps, final evaluation on 100 samples
    path.write_text(path.read_text().replace("final_samples = 100", "every = 50\nsamples = 100\nfinal_samples = 200"))
    return spec.load(str(path))


def test_the_trials_left_are_priced_by_steps_and_evaluated_samples(tmp_path, monkeypatch, study_file, priced):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    study = _study(tmp_path, study_file)
    storage = queue.storage_for(None)
    trial_s = 100 * 0.01 + (100 + 200) * 0.001  # the steps; one evaluation at step 50 and the final one
    alone = estimate.estimate(study, "cpu", storage, workers=1, threads=1)
    assert (alone.trials, alone.seconds) == (3, pytest.approx(3 * trial_s))
    assert estimate.estimate(study, "cpu", storage, workers=2, threads=1).seconds == pytest.approx(1.5 * trial_s)
    assert estimate.estimate(study, "cpu", storage, workers=4, threads=1).seconds == pytest.approx(trial_s)  # one trial is not shared

    runner.prepare(study, Options(str(study.path), 2, "cpu", "cpu", None, default_tracking_uri()))
    search = optuna.load_study(study_name="priced/mnist/seed000-fc", storage=storage)
    search.tell(queue.claim(search, 2), [1.0])  # one search trial finished
    assert estimate.estimate(study, "cpu", storage, workers=1, threads=1).trials == 2


def test_the_machine_itself_is_measured_and_said_in_one_line(tmp_path, monkeypatch, study_file):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    study = _study(tmp_path, study_file)
    measured = estimate.estimate(study, "cpu", queue.storage_for(None), workers=1, threads=1)
    assert measured.trials == 3 and measured.seconds > 0 and measured.measured_s > 0
    assert measured.line(1).startswith("expected on this machine: about ") and "3 trials left" in measured.line(1)
