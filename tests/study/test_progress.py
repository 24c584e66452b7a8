"""The launcher's progress: workers' progress files, the study's ETA, a line per finished
trial. Fed with synthetic reports and trials: no training."""

import datetime
import io
import json

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from bench.study import progress, queue, spec
from bench.study.progress import ProgressFile, TaskWork, seconds_left, trial_line
from bench.study.spec import task_name
from bench.study.worker import Options, directions
from bench.tracking import default_tracking_uri


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _read(path):
    return json.loads(path.read_text())


def test_a_progress_file_times_training_and_evaluations_apart_and_is_rewritten_at_most_once_a_second(tmp_path):
    clock = Clock()
    file = ProgressFile(tmp_path / "1.json", "mnist/seed000-fc", "trial", 0, 200, clock)
    file.report(1, "training")  # the first step: start-up is not timed
    clock.now = 0.5
    file.report(2, "training")
    assert _read(file.path)["step"] == 1  # half a second later: not rewritten yet
    clock.now = 10.0
    file.report(100, "training")
    clock.now = 10.5
    file.report(100, "evaluating")  # a phase change is written at once
    state = _read(file.path)
    assert (state["step"], state["phase"], state["train_steps"], state["train_seconds"]) == (100, "evaluating", 99, 10.5)
    clock.now = 40.5
    file.report(100, "training")
    clock.now = 41.5
    file.report(110, "training")
    state = _read(file.path)
    assert (state["phase"], state["evaluations"], state["eval_seconds"]) == ("training", 1, 30.0)
    assert (state["train_steps"], state["train_seconds"]) == (109, 11.5)  # the evaluation's 30 s left out
    file.remove()
    assert not file.path.exists()


def test_a_resumed_trial_counts_only_the_steps_it_trained_itself(tmp_path):
    file = ProgressFile(tmp_path / "1.json", "mnist/seed000-fc", "trial", 0, 200, Clock())
    file.report(151, "training")  # resumed from a checkpoint at step 150
    file.report(200, "training")
    assert file.steps_trained() == 50


def _running(step, steps=200, train_seconds=10.0, train_steps=100, eval_seconds=0.0, evaluations=0):
    return {"step": step, "steps": steps, "train_seconds": train_seconds, "train_steps": train_steps,
            "eval_seconds": eval_seconds, "evaluations": evaluations}


def test_no_eta_before_anything_is_measured():
    assert seconds_left([TaskWork(200, 2, 4), TaskWork(200, 2, 4, running=1)], parallel=1) is None


def test_before_any_trial_ends_the_eta_is_calibrated_on_the_running_trials_steps_and_evaluations():
    # 0.1 s a step, 5 s an evaluation, 2 evaluations a trial: 30 s a trial
    running = _running(100, eval_seconds=5.0, evaluations=1)
    task = TaskWork(200, 2, slots=4, running=1, local=[running])
    assert seconds_left([task], parallel=1) == pytest.approx(3 * 30 + 15)  # three to start, half of one left


def test_finished_trials_durations_price_their_task_and_the_others_borrow_them():
    measured = TaskWork(200, 2, slots=4, done=2, timed=[(50.0, 200), (70.0, 200)])  # 0.3 s a step
    unmeasured = TaskWork(100, 1, slots=4)  # not started: the same rate, half the steps
    assert seconds_left([measured, unmeasured], parallel=1) == pytest.approx(2 * 60 + 4 * 30)
    assert seconds_left([measured, unmeasured], parallel=2) == pytest.approx((2 * 60 + 4 * 30) / 2)


def test_the_last_trial_is_not_shared_between_workers():
    task = TaskWork(200, 2, slots=4, done=3, timed=[(60.0, 200)] * 3)
    assert seconds_left([task], parallel=4) == pytest.approx(60)


def _trial(state, number=3, seconds=133, values=None, **attrs):
    trial = optuna.trial.create_trial(state=state, values=values, user_attrs=attrs)
    trial.number = number
    trial.datetime_start = datetime.datetime(2026, 11, 29, 12, 0, 0)
    trial.datetime_complete = trial.datetime_start + datetime.timedelta(seconds=seconds)
    return trial


def test_a_line_per_finished_trial_with_its_objectives_state_and_duration():
    finished = _trial(TrialState.COMPLETE, values=[41.23], outcome={"steps": 200, "metrics": {"fid": 41.23, "modes": 10.0}})
    assert trial_line("mnist/dcgan-ns", finished) == "mnist/dcgan-ns trial 3: finished fid 41.23 modes 10 (2m13s)"  # their declared formats
    pruned = _trial(TrialState.PRUNED, seconds=41, outcome={"steps": 100, "metrics": {"fid": 180.0, "modes": 7.0},
                                                            "reason": "fid 180 at step 100 is worse than the median"})
    assert trial_line("mnist/dcgan-ns", pruned) == (
        "mnist/dcgan-ns trial 3: pruned fid 180 modes 7 (fid 180 at step 100 is worse than the median) (41s)")
    repeat = _trial(TrialState.FAIL, seconds=3700, seed=101, repeat_of=2, outcome={"steps": 5, "metrics": {}, "reason": "ValueError: bad"})
    assert trial_line("mnist/dcgan-ns", repeat) == "mnist/dcgan-ns repeat seed 101: failed (ValueError: bad) (1h01m)"
    stopped = _trial(TrialState.FAIL, requeued=True)
    assert trial_line("mnist/dcgan-ns", stopped) == "mnist/dcgan-ns trial 3: stopped before its end; its slot is trained again (2m13s)"


@pytest.fixture
def smoke_slots(tmp_path, monkeypatch):
    """The smoke study's slots in a fresh store, no worker started."""
    monkeypatch.setenv("BENCH_HOME", str(tmp_path))
    study = spec.load("smoke")
    options = Options(str(study.path.resolve()), 2, "cpu", "cpu", None, default_tracking_uri())
    storage = queue.storage_for(None)
    tasks = {plan.name: queue.ensure_slots(storage, task_name(study, dataset, plan), directions(study), 2) for dataset, plan in study.tasks()}
    return study, options, tasks


def _finish(optuna_study, fid, state=TrialState.COMPLETE):
    trial = queue.claim(optuna_study, 2)
    trial.set_user_attr("outcome", {"steps": 200, "metrics": {"fid": fid}})
    optuna_study.tell(trial, [fid] if state == TrialState.COMPLETE else None, state=state)


def test_the_monitor_says_each_trial_once_as_it_finishes_with_the_studys_count_and_eta(smoke_slots):
    study, options, tasks = smoke_slots
    _finish(tasks["seed000-fc"], 50.0)  # finished before the launcher started: not news
    said = []
    monitor = progress.Monitor(study, options, {("mnist", "seed000-fc"): "a", ("mnist", "seed002-fc"): "b"}, workers=1, enabled=False,
                               say=said.append)
    monitor.update([])
    assert said == []
    _finish(tasks["seed002-fc"], 41.25)
    monitor.update([])
    monitor.update([])
    assert len(said) == 1
    assert said[0].startswith("mnist/seed002-fc trial 0: finished fid 41.25 (")
    assert "[2/8 done, " in said[0] and said[0].endswith(" left]")  # two trials timed: the rest of the study has a price


def test_a_running_trial_shows_its_steps_and_says_when_it_evaluates(smoke_slots, tmp_path):
    study, options, tasks = smoke_slots
    queue.claim(tasks["seed000-fc"], 2)  # running, on this machine as pid 4242
    monitor = progress.Monitor(study, options, {("mnist", "seed000-fc"): "a", ("mnist", "seed002-fc"): "b"}, enabled=True)
    monitor.update([4242])
    assert monitor.progress.tasks[0].fields["eta"] == "estimating"  # nothing measured yet: no made-up figure
    clock = Clock()
    file = ProgressFile(progress.progress_path(4242), "mnist/seed000-fc", "trial", 0, 200, clock)
    file.report(1, "training")
    clock.now = 19.9
    file.report(200, "evaluating")
    monitor.update([4242])
    bars = {t.description.strip(): t for t in monitor.progress.tasks}
    bar = bars["mnist/seed000-fc trial 0: evaluating"]
    assert (bar.completed, bar.total) == (200, 200)
    assert bars["smoke: all trials"].fields["eta"].endswith(" left")  # calibrated on the running trial's steps/s
    screen = Console(file=io.StringIO(), width=160)
    screen.print(monitor.progress.get_renderable())
    assert "mnist/seed000-fc trial 0: evaluating" in screen.file.getvalue() and "200/200" in screen.file.getvalue()


def test_every_member_of_a_population_gets_its_own_bar(smoke_slots):
    study, options, tasks = smoke_slots
    for _ in range(2):
        queue.claim(tasks["seed000-fc"], 2)  # two trials running in one worker, pid 4242
    monitor = progress.Monitor(study, options, {("mnist", "seed000-fc"): "a", ("mnist", "seed002-fc"): "b"}, enabled=True)
    for member, step in ((0, 50), (1, 60)):
        ProgressFile(progress.progress_path(4242, member), "mnist/seed000-fc", "trial", member, 200, Clock()).report(step, "training")
    monitor.update([4242])
    bars = {t.description.strip(): t.completed for t in monitor.progress.tasks}
    assert bars["mnist/seed000-fc trial 0: training"] == 50 and bars["mnist/seed000-fc trial 1: training"] == 60
    assert set(progress.read_progress([4242])) == {"4242", "4242-1"}
