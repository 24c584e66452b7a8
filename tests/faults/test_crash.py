"""A machine that crashes mid-trial leaves all of it at once: a dead worker, its run
RUNNING, its checkpoint and the journal's last record cut short. One `bench doctor
--repair` sets the stores right, and the study runs on to exactly the trials asked for."""

from bench.study import queue


def test_after_a_crash_mid_trial_doctor_repairs_and_the_study_completes_with_the_trials_asked_for(study, bench_fd, dead_pid, abandon_slot_1):
    number, run_id, checkpoint = abandon_slot_1(dead_pid)
    journal = study.home / "optuna.journal"
    journal.write_bytes(journal.read_bytes()[:-20])  # the worker's last record, recording its run, cut short

    code, _, err = bench_fd("run", "--study", study.path, "--trials", "2", "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "optuna.journal: line" in err and "bench doctor --repair" in err
    code, out, _ = bench_fd("doctor", "--repair")
    assert code == 0, out
    assert "repaired damaged journal" in out  # then, examined again: the trial the dead worker left, and its unrecorded run
    assert f"repaired stale trial tiny/mnist/seed000-fc trial {number} (slot 1): failed, slot requeued; its run KILLED" in out
    assert study.client.get_run(run_id).info.status == "KILLED"
    assert bench_fd("doctor")[0] == 0

    code, out, err = bench_fd("run", "--study", study.path, "--trials", "2", "--no-progress", "--no-estimate")
    assert code == 0 and "2 complete, 0 pruned, 0 fail" in out, err
    trials = study.trials()
    assert [t.user_attrs["slot"] for t in queue.counted(trials)] == [0, 1] and len(trials) == 3 and trials[2].params == trials[1].params
    (aside,) = checkpoint.parent.glob("checkpoint.pt.damaged-*")  # set aside, never deleted
    assert not checkpoint.exists() and f"warning: {checkpoint}: damaged checkpoint (" in err
    assert f"set aside as {aside}; training restarts from step 0" in err
    retry = study.client.get_run(trials[2].user_attrs["mlflow_run_id"])
    assert retry.info.status == "FINISHED" and "training restarts from step 0" in retry.data.tags["checkpoint"]
    assert [m.step for m in study.client.get_metric_history(retry.info.run_id, "loss_d")] == [2, 4]  # from step 0, not 2
    code, out, _ = bench_fd("doctor")
    assert code == 0 and f"set-aside checkpoint  {aside}" in out
