"""A damaged MLflow SQLite file: one line naming it and the way out, from every command
that reads it, before MLflow or SQLAlchemy print a traceback, and the file left as it was."""

import pytest


@pytest.mark.parametrize("damage, reason", [
    (lambda data: b"garbage!" * 16 + data[128:], "file is not a database"),  # its header overwritten
    (lambda data: data[: len(data) // 2], "database disk image is malformed"),  # cut short
])
def test_a_damaged_tracking_database_is_named_in_one_line(study, bench, damage, reason):
    database = study.home / "mlflow.db"
    damaged = damage(database.read_bytes())
    database.write_bytes(damaged)
    run_id = study.trials()[0].user_attrs["mlflow_run_id"]
    for command in (["run", "--study", study.path, "--no-progress"], ["leaderboard", "--study", study.path],
                    ["sample", run_id, "--out", study.home / "x.png"]):
        code, _, err = bench(*command)
        assert code == 2 and err.count("\n") == 1, (command, err)
        assert f"{database}: the MLflow database is damaged ({reason}); restore it from a backup, or move it aside" in err
    code, out, _ = bench("doctor")
    assert code == 1 and "tracking store" in out and f"{database}: the MLflow database is damaged" in out
    assert database.read_bytes() == damaged
