"""A damaged Optuna journal: one line naming the file and the way out, never a traceback,
and never records appended after a damaged end (Optuna's reader would skip them)."""

import optuna
import pytest

from bench.errors import BenchError
from bench.study import queue


def test_a_journal_cut_short_is_refused_then_cut_back_and_its_lost_end_requeued(study, bench):
    journal = study.home / "optuna.journal"
    damaged = journal.read_bytes()[:-10]  # the last record cut short: a full disk, a crash mid-write
    journal.write_bytes(damaged)
    lines = damaged.count(b"\n") + 1

    code, _, err = bench("run", "--study", study.path, "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"optuna.journal: line {lines} is cut short" in err and f"'bench doctor --repair' backs the file up and keeps its first {lines - 1} lines" in err
    assert journal.read_bytes() == damaged  # nothing was appended after the damage

    code, out, _ = bench("doctor")
    assert code == 1 and "damaged journal" in out and "--repair' fixes 1 of them" in out

    code, out, _ = bench("doctor", "--repair")
    assert code == 0, out
    (backup,) = study.home.glob("optuna.journal.damaged-*")
    assert backup.read_bytes() == damaged
    assert journal.read_bytes().startswith(damaged[: damaged.rindex(b"\n") + 1])  # the complete records, then the requeue's
    # the lost record was the trial's end: it is RUNNING again, its worker long gone, so it is requeued; its run had finished
    assert "repaired stale trial tiny/mnist/seed000-fc trial 0 (slot 0): failed, slot requeued; its run had ended FINISHED and keeps it" in out
    assert [t.state.name for t in study.trials()] == ["FAIL", "WAITING"] and bench("doctor")[0] == 0
    # the rerun that trains the slot again: tests/faults/test_crash.py


@pytest.mark.parametrize("damage", [b"\x00\x13garbage\n", b'{"op_code": 5, "trial_id": 0, "par\n'])
def test_a_garbled_last_record_is_cut_and_nothing_else_is_lost(study, bench, damage):
    journal = study.home / "optuna.journal"
    whole = journal.read_bytes()
    journal.write_bytes(whole + damage)  # ends with a newline, so Optuna would read past it silently
    assert bench("doctor", "--study", "tiny")[0] == 1
    code, _, err = bench("run", "--study", study.path, "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "is not JSON, the journal's damaged end" in err
    code, out, _ = bench("doctor", "--repair")
    assert code == 0 and journal.read_bytes() == whole, out
    assert [t.state.name for t in study.trials()] == ["COMPLETE"]


def test_damage_with_good_records_after_it_is_named_and_left_alone(study, bench):
    journal = study.home / "optuna.journal"
    records = journal.read_bytes().split(b"\n")
    records[2] = b"\xff\xfe" + records[2][2:]  # garbled bytes in the middle: Optuna's reader raises a 60-line traceback
    damaged = b"\n".join(records)
    journal.write_bytes(damaged)
    good_after = len(records) - 1 - 3

    code, _, err = bench("run", "--study", study.path, "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"optuna.journal: line 3 is not JSON and {good_after} good records follow it, so bench will not cut it" in err
    assert "restore the file from a backup, or keep its first 2 lines by hand (head -n 2)" in err

    code, out, _ = bench("doctor", "--repair")
    assert code == 1 and "cannot fix safely" in out and "repaired" not in out
    assert journal.read_bytes() == damaged and not list(study.home.glob("optuna.journal.damaged-*"))


def test_a_process_holding_the_journal_never_appends_after_an_end_damaged_meanwhile(study):
    storage = queue.storage_for(None)
    optuna_study = optuna.load_study(study_name=study.task, storage=storage)
    journal = study.home / "optuna.journal"
    with open(journal, "ab") as f:
        f.write(b'{"op_code": 8, "trial_id"')  # another writer died halfway through its record
    damaged = journal.read_bytes()
    with pytest.raises(BenchError, match="is cut short .* 'bench doctor --repair' backs the file up"):
        optuna_study.set_user_attr("note", "appended after the damage")
    assert journal.read_bytes() == damaged
