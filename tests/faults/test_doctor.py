"""`bench doctor`: a study's stores checked against each other; `--repair` fixes what is
safe, and the study then runs on to exactly the trials asked for."""

import optuna

from bench.study import queue
from bench.study.worker import kill_run
from bench.tracking import MLflowTracker


def test_a_finished_study_is_clean(study, bench):
    for args in ([], ["--study", "tiny"], ["--study", study.path]):
        code, out, _ = bench("doctor", *args)
        assert code == 0 and out.splitlines()[-1] == "clean: the stores agree", out
        assert "of artifacts" in out and "optuna.journal" in out  # disk used, for information
    code, _, err = bench("doctor", "--study", "nosuch")
    assert code == 2 and err.count("\n") == 1 and "studies there: tiny" in err


def test_a_dead_workers_trial_is_requeued_and_its_run_ended_killed(study, bench, dead_pid, abandon_slot_1):
    number, run_id, checkpoint = abandon_slot_1(dead_pid)

    code, out, _ = bench("doctor")
    assert code == 1 and "--repair' fixes 1 of them" in out
    assert f"stale trial  tiny/mnist/seed000-fc trial {number} (slot 1)" in out and f"pid {dead_pid} on this host, is gone" in out
    assert "abandoned run" not in out and "finished checkpoint" not in out  # its run and checkpoint go with the trial

    code, out, _ = bench("doctor", "--repair")
    assert code == 0 and "failed, slot requeued; its run KILLED" in out, out
    assert study.client.get_run(run_id).info.status == "KILLED" and checkpoint.exists()  # the retry resumes from it
    retry = study.trials()[2]
    assert [t.state.name for t in study.trials()] == ["COMPLETE", "FAIL", "WAITING"] and retry.user_attrs == {"slot": 1, "retry_of": number}
    assert bench("doctor")[0] == 0
    # the rerun that trains the slot again: tests/faults/test_crash.py


def test_the_sweep_ends_the_run_of_a_worker_killed_before_it_recorded_the_run_on_its_trial(study, dead_pid):
    optuna_study = queue.ensure_slots(queue.storage_for(None), study.task, ["minimize"], 2)
    trial = queue.claim(optuna_study, 2)
    trial.set_user_attr("worker", {"host": queue.HOST, "pid": dead_pid})
    tags = {"study": "tiny", "kind": "trial", "optuna_study": study.task, "trial": trial.number, "slot": 1}
    run_id = MLflowTracker("tiny", "seed000-fc-mnist-trial1", tags).run_id  # the worker died before trial.set_user_attr("mlflow_run_id")
    assert queue.sweep(optuna_study, lambda t: kill_run(study.client, t, study.task)) == [trial.number]
    assert study.client.get_run(run_id).info.status == "KILLED"


def test_runs_left_running_by_a_killed_launcher_end_killed(study, bench):
    experiment = study.client.get_experiment_by_name("tiny").experiment_id
    left = [r.info.run_id for r in study.client.search_runs([experiment], "tags.kind != 'trial'")]  # the parent and the summary
    for run_id in left:
        study.client.update_run(run_id, "RUNNING")
    code, out, _ = bench("doctor")
    assert code == 1 and out.count("abandoned run") == 2 and "no live worker runs this study: its launcher is gone" in out
    code, out, _ = bench("doctor", "--repair")
    assert code == 0 and out.count(": marked KILLED") == 2
    assert {study.client.get_run(r).info.status for r in left} == {"KILLED"}
    assert bench("doctor")[0] == 0


def test_a_finished_trials_checkpoint_and_a_killed_saves_temp_file_are_deleted(study, bench):
    slot = study.home / "studies" / study.task / "slot-0"
    slot.mkdir(parents=True)
    (slot / "checkpoint.pt").write_bytes(b"weights")
    (slot / ".checkpoint.pt.x1y2z3").write_bytes(b"half a save")
    code, out, _ = bench("doctor")
    assert code == 1 and "finished checkpoint" in out and "slot 0 of tiny/mnist/seed000-fc is finished" in out and "unfinished save" in out
    code, out, _ = bench("doctor", "--repair")
    assert code == 0 and not slot.exists(), out
    assert bench("doctor")[0] == 0
    assert [t.state.name for t in study.trials()] == ["COMPLETE"]


def test_what_only_a_person_can_settle_is_reported_and_left_alone(study, bench):
    trial_run = study.trials()[0].user_attrs["mlflow_run_id"]
    study.client.delete_run(trial_run)  # deleted in the MLflow UI: the trial's scores are in Optuna only
    stray = MLflowTracker("tiny", "stray", {"study": "tiny", "kind": "trial", "optuna_study": study.task, "trial": 7, "slot": 7})
    stray.end("FINISHED")  # a run the Optuna storage does not know
    orphan = study.home / "artifacts" / "tiny" / ("f" * 32) / "artifacts"
    orphan.mkdir(parents=True)
    (orphan / "generator.pt").write_bytes(b"weights")
    lost = study.home / "studies" / "tiny" / "mnist" / "removed-entry" / "slot-0" / "checkpoint.pt"
    lost.parent.mkdir(parents=True)
    lost.write_bytes(b"weights")

    code, out, _ = bench("doctor", "--repair")
    assert code == 1 and "4 problems that --repair cannot fix safely" in out and "repaired" not in out
    assert "trial without run  tiny/mnist/seed000-fc trial 0 (slot 0)" in out and f"its run {trial_run} is deleted" in out
    assert f"run without trial  run {stray.run_id} (stray)" in out and "tiny/mnist/seed000-fc has no trial 7" in out
    assert "orphan artifacts" in out and "orphan checkpoint" in out and "tiny/mnist/removed-entry is not in the Optuna storage" in out
    assert (orphan / "generator.pt").exists() and lost.exists() and study.client.get_run(trial_run).info.lifecycle_stage == "deleted"


def test_without_study_every_study_is_checked_in_the_stores_given(study, bench, dead_pid, tmp_path):
    other = queue.ensure_slots(queue.storage_for(None), "other/mnist/dcgan", ["minimize"], 1)
    queue.claim(other, 1).set_user_attr("worker", {"host": queue.HOST, "pid": dead_pid})
    code, out, _ = bench("doctor")
    assert code == 1 and "stale trial  other/mnist/dcgan trial 0 (slot 0)" in out
    assert bench("doctor", "--study", "tiny")[0] == 0

    code, out, _ = bench("doctor", "--tracking-uri", "http://127.0.0.1:9")
    assert code == 1 and "tracking store  http://127.0.0.1:9" in out
    code, out, _ = bench("doctor", "--study", "tiny", "--storage", f"sqlite:///{tmp_path}/empty-optuna.db")
    assert code == 1 and "run without trial" in out and "tiny/mnist/seed000-fc is not in the Optuna storage" in out
    assert optuna.get_all_study_names(queue.storage_for(None)) == ["tiny/mnist/seed000-fc", "other/mnist/dcgan"]
