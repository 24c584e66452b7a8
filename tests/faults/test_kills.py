"""Random SIGKILLs of launchers, workers and both at once, at random moments of a small
study, each followed by `bench run` again; then one uninterrupted rerun. At the end: exactly
the trials and repeats asked for, no trial counted twice, no MLflow run left RUNNING, every
interrupted trial resumed from its last checkpoint, and `bench doctor` clean.

Long (minutes): `pytest -m long tests/faults/test_kills.py -s` (-s prints the tally).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from bench.study import queue

pytestmark = pytest.mark.long

LOG_EVERY, CHECKPOINT_EVERY = 10, 20
KILLS = 12
KINDS = ("group", "launcher", "worker")  # SIGKILL of the launcher's process group, the launcher alone, one worker
DEADLINE_S = 45 * 60  # a safety net only: every wait below waits on an event


def write_study(folder: Path, name: str, entries: tuple[str, ...], steps: int) -> Path:
    """Two trials and one repeat per entry, a checkpoint every two logs."""
    path = folder / f"{name}.toml"
    text = (f'datasets = ["mnist"]\ntrials = 2\nrepeats = [101]\nobjectives = ["fid"]\n[budget]\ncpu = {steps}\nfull = {steps}\n'
            '[evaluation]\nfinal_samples = 100\n')
    for entry in entries:
        text += (f'[variants.{entry}]\nfixed = {{ log_every = {LOG_EVERY}, checkpoint_every = {CHECKPOINT_EVERY} }}\n'
                 f'[variants.{entry}.search]\nlr_d = {{ type = "log-float", low = 1e-4, high = 1e-3 }}\n')
    path.write_text(text)
    return path


def _procs() -> dict[int, tuple[int, str, str]]:
    """pid -> (process group, state, command line) of every process on the machine."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue  # it exited meanwhile
        found[int(stat.parent.name)] = (int(fields[2]), fields[0], cmdline)
    return found


class Chaos:
    """Launches `bench run` again and again and kills what it started, at random moments."""

    def __init__(self, home: Path, study: Path, steps: int, workers: int, store_args: list[str], seed: int):
        self.home, self.study, self.steps, self.workers, self.store_args = home, study, steps, workers, store_args
        self.rng = random.Random(seed)
        self.groups: list[int] = []  # every launcher's process group: its workers live on when it alone is killed
        self.kills: list[tuple[str, str]] = []  # (kind, moment)
        self.logs: list[Path] = []
        self.start = time.time()

    def launch(self) -> subprocess.Popen:
        log = self.home.parent / f"launch-{len(self.logs)}.log"
        self.logs.append(log)
        command = [sys.executable, "-m", "bench", "run", "--study", str(self.study), "--workers", str(self.workers), "--no-progress",
                   *self.store_args]
        with open(log, "w") as out:
            launcher = subprocess.Popen(command, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
        self.groups.append(launcher.pid)
        return launcher

    def live_workers(self) -> list[int]:
        return [pid for pid, (group, state, cmd) in _procs().items()
                if group in self.groups and state != "Z" and "bench.study.worker" in cmd]

    def checkpoints(self) -> set[tuple[str, int]]:
        return {(str(p), p.stat().st_mtime_ns) for p in (self.home / "studies").rglob("checkpoint.pt") if p.exists()}

    def progress(self) -> set[tuple[str, int]]:
        return {(str(p), p.stat().st_mtime_ns) for p in (self.home / "progress").glob("*.json") if p.exists()}

    def wait_for_moment(self, launcher: subprocess.Popen) -> str | None:
        """Wait for a random moment: a random delay after the launch (start-up: imports, the
        checks, preparing the stores, the sweep), or once the launcher has begun (its first
        line), the n-th new checkpoint, the n-th metric logged, or a random delay. None if
        the launcher ended first."""
        moment = self.rng.choice(("start-up", "checkpoint", "metric", "delay"))
        n, delay = self.rng.randint(1, 3), self.rng.uniform(0, 30)
        began, events, seen = time.time(), 0, None
        log = self.logs[-1]
        while launcher.poll() is None:
            if time.time() - self.start > DEADLINE_S:
                pytest.fail(f"no end after {DEADLINE_S} s; kills so far: {self.kills}")
            if moment == "start-up":
                if time.time() - began >= delay:
                    return f"start-up {delay:.1f} s"
            elif seen is None:  # not begun yet
                if log.stat().st_size > 0:
                    began, seen = time.time(), self.checkpoints() if moment == "checkpoint" else self.progress()
            elif moment == "delay":
                if time.time() - began >= delay:
                    return f"delay {delay:.1f} s"
            else:
                now = self.checkpoints() if moment == "checkpoint" else self.progress()
                events += len(now - seen)
                seen = now
                if events >= n:
                    return f"{moment} #{n}"
            time.sleep(0.02)  # polling the files; the moment is the event, not this pace
        return None

    def kill(self, launcher: subprocess.Popen, moment: str) -> bool:
        """SIGKILL a random target; returns whether the launcher is gone."""
        kind = self.rng.choice(KINDS)
        workers = self.live_workers()
        if kind == "worker" and not workers:  # none started yet (or all gone): the launcher's group instead
            kind = "group"
        if kind == "group":
            os.killpg(launcher.pid, signal.SIGKILL)
        elif kind == "launcher":
            launcher.kill()
        else:
            os.kill(self.rng.choice(workers), signal.SIGKILL)
        self.kills.append((kind, moment))
        if kind != "worker":
            launcher.wait()
            return True
        return False

    def run(self, kills: int) -> None:
        """Kill until ``kills`` kills were made, restarting `bench run` after each launcher's end."""
        while len(self.kills) < kills:
            launcher = self.launch()
            while len(self.kills) < kills:
                moment = self.wait_for_moment(launcher)
                if moment is None:  # it ended by itself: a worker it lost made it exit 1, or the study is done
                    assert launcher.returncode in (0, 1), self.tail(-1)
                    assert launcher.returncode == 1 or len(self.kills) >= kills, f"the study finished after only {len(self.kills)} kills"
                    break
                if self.kill(launcher, moment):
                    break
            else:
                launcher.wait()  # the last kill was a worker's: its launcher ends by itself

    def settle(self) -> None:
        """Wait for the workers of killed launchers to finish what they claimed."""
        while self.live_workers():
            assert time.time() - self.start < DEADLINE_S, f"workers still running: {self.live_workers()}"
            time.sleep(0.5)

    def rerun(self) -> str:
        launcher = self.launch()
        launcher.wait(timeout=max(60.0, DEADLINE_S - (time.time() - self.start)))
        assert launcher.returncode == 0, self.tail(-1)
        return self.logs[-1].read_text()

    def tail(self, index: int) -> str:
        return self.logs[index].read_text()[-3000:]


def check_study(chaos: Chaos, name: str, entries: tuple[str, ...], storage: str | None, tracking_uri: str, final: str) -> dict:
    """The end state every test asserts; returns the figures of the tally."""
    assert "still running on other workers" not in final and "leaderboard (" in final, final
    optuna_storage = queue.storage_for(storage)
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name).experiment_id
    every_run = client.search_runs([experiment], "", max_results=5000)
    runs = [r for r in every_run if r.data.tags.get("kind") in ("trial", "repeat")]
    assert [r.info.run_id for r in every_run if r.info.status == "RUNNING"] == []
    for log in chaos.logs:  # what the launchers and workers printed: one-line errors, never a traceback
        assert "Traceback" not in log.read_text(), log.read_text()[-5000:]
    resumed = []
    for entry in entries:
        for task, n in ((f"{name}/mnist/{entry}", 2), (f"{name}/mnist/{entry}/repeats", 1)):
            trials = optuna.load_study(study_name=task, storage=optuna_storage).get_trials()
            counted = queue.counted(trials)
            assert sorted(queue.slot(t) for t in counted) == list(range(n)), (task, [(t.number, t.state.name, t.user_attrs) for t in trials])
            assert all(t.state.name == "COMPLETE" for t in counted) and len({t.number for t in trials}) == len(trials)
            assert all(t.state.name == "FAIL" and t.user_attrs.get("requeued") for t in trials if t not in counted)
            task_runs = [r for r in runs if r.data.tags["optuna_study"] == task]
            assert len({r.data.tags["trial"] for r in task_runs}) == len(task_runs)  # one run per attempt, never two
            for slot in range(n):
                attempts = sorted((r for r in task_runs if r.data.tags["slot"] == str(slot)), key=lambda r: r.info.start_time)
                assert [r.info.status for r in attempts].count("FINISHED") == 1 and attempts[-1].info.status == "FINISHED"
                resumed += check_resumes(client, task, slot, attempts, chaos.steps)
    return {"resumed": resumed, "attempts": len(runs)}


def check_resumes(client: MlflowClient, task: str, slot: int, attempts, steps_per_trial: int) -> list[int]:
    """Each attempt after the first starts where the last checkpoint before it was saved:
    its first logged step is just after that checkpoint. An attempt killed between logging
    step L and saving L's checkpoint (or mid-save) left the one before: so the checkpoint is
    the last multiple of CHECKPOINT_EVERY up to L, or the one before it. Returns the steps
    the attempts resumed from."""
    resumed, logged = [], 0  # the highest step any earlier attempt logged
    for number, attempt in enumerate(attempts):
        steps = sorted(m.step for m in client.get_metric_history(attempt.info.run_id, "loss_d"))
        if number == 0:
            assert steps[:1] in ([], [LOG_EVERY]), f"{task} slot {slot}: the first attempt began at {steps[0]}"
        else:
            last_checkpoint = logged // CHECKPOINT_EVERY * CHECKPOINT_EVERY
            allowed = {last_checkpoint, max(0, last_checkpoint - CHECKPOINT_EVERY)}
            if steps:
                start = min(steps) - LOG_EVERY
                assert start in allowed, f"{task} slot {slot}: attempt {number} resumed from {start}, not from {allowed} (logged up to {logged})"
                resumed.append(start)
            elif attempt.info.status == "FINISHED":  # killed in its final evaluation, after the last checkpoint
                assert last_checkpoint == steps_per_trial, f"{task} slot {slot}: attempt {number} trained nothing after {logged}"
                resumed.append(steps_per_trial)
        if steps:
            assert steps == list(range(steps[0], steps[-1] + 1, LOG_EVERY))  # no gap, no step twice within an attempt
        logged = max([logged, *steps])
    return resumed


def doctor_is_clean(name: str, store_args: list[str]) -> str:
    out = subprocess.run([sys.executable, "-m", "bench", "doctor", "--study", name, *store_args], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "clean: the stores agree", out.stdout + out.stderr
    return out.stdout


def tally(chaos: Chaos, figures: dict, label: str) -> str:
    kinds = Counter(kind for kind, _ in chaos.kills)
    moments = Counter(moment.split()[0] for _, moment in chaos.kills)
    return (f"{label}: {len(chaos.kills)} kills ({', '.join(f'{v} {k}' for k, v in kinds.items())}; at {dict(moments)}), "
            f"{figures['attempts']} attempts, resumed from steps {sorted(figures['resumed'])}, "
            f"0 trials lost or duplicated, no run RUNNING, doctor clean, {time.time() - chaos.start:.0f} s")


def test_random_sigkills_on_the_journal_lose_and_duplicate_nothing(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("BENCH_HOME", str(home))
    entries = ("seed000-fc",)
    chaos = Chaos(home, write_study(tmp_path, "chaos", entries, 160), 160, workers=2, store_args=[], seed=int(os.environ.get("KILL_SEED", 12)))
    chaos.run(KILLS)
    chaos.settle()
    final = chaos.rerun()
    figures = check_study(chaos, "chaos", entries, None, f"sqlite:///{home / 'mlflow.db'}", final)
    doctor_is_clean("chaos", [])
    assert {kind for kind, _ in chaos.kills} == set(KINDS), chaos.kills
    assert sum(step > 0 for step in figures["resumed"]) >= 2, figures  # resumes from a real checkpoint, not only from step 0
    print("\n" + tally(chaos, figures, "journal, 2 workers"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(ready, what: str, process: subprocess.Popen | None = None, timeout: float = 300) -> None:
    """Wait for ``ready()``; skip with the reason when ``process`` ends first or the deadline passes."""
    deadline = time.time() + timeout
    while not ready():
        if process is not None and process.poll() is not None or time.time() > deadline:
            pytest.skip(f"{what} did not start")
        time.sleep(0.2)


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL cluster on a loopback port, with databases optuna and mlflow;
    returns its URL without the database. Postgres refuses to run as root, so under root
    the cluster belongs to the postgres (or nobody) user."""
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL's initdb and pg_ctl are not on PATH")
    psycopg = pytest.importorskip("psycopg", reason="the psycopg driver is missing: pip install -e '.[postgres]'")
    import pwd

    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    as_user = []
    if os.geteuid() == 0:
        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if user is None or not shutil.which("runuser"):
            pytest.skip("running as root, and no postgres user or runuser to run PostgreSQL as")
        os.chown(folder, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        as_user = ["runuser", "-u", user, "--"]
    port = _free_port()
    data = folder / "data"
    initdb = subprocess.run([*as_user, "initdb", "-D", str(data), "-U", "bench", "--auth=trust"], capture_output=True, text=True)
    if initdb.returncode != 0:
        pytest.skip(f"initdb failed: {initdb.stderr.strip()[-300:]}")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    start = subprocess.run([*as_user, "pg_ctl", "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start"], capture_output=True, text=True)
    if start.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {start.stderr.strip()[-300:]}")
    url = f"postgresql://bench@127.0.0.1:{port}"
    try:
        with psycopg.connect(f"{url}/postgres", autocommit=True) as db:
            for name in ("optuna", "mlflow"):
                db.execute(f"CREATE DATABASE {name}")
        yield url
    finally:
        subprocess.run([*as_user, "pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture
def mlflow_server(postgres, tmp_path):
    """`mlflow server` on a loopback port, its runs in the PostgreSQL database mlflow."""
    import urllib.request

    port = _free_port()
    log = open(tmp_path / "mlflow-server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"{postgres}/mlflow", "--artifacts-destination",
                               (tmp_path / "server-artifacts").as_uri(), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              start_new_session=True, stdout=log, stderr=subprocess.STDOUT)

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
                return reply.status == 200
        except OSError:
            return False

    try:
        _until(answers, f"mlflow server (see {tmp_path / 'mlflow-server.log'})", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def test_random_sigkills_on_postgresql_and_an_mlflow_server_lose_and_duplicate_nothing(tmp_path, monkeypatch, postgres, mlflow_server):
    home = tmp_path / "home"
    monkeypatch.setenv("BENCH_HOME", str(home))
    entries = ("seed000-fc", "seed002-fc")
    store_args = ["--storage", f"{postgres}/optuna", "--tracking-uri", mlflow_server]
    chaos = Chaos(home, write_study(tmp_path, "chaos", entries, 100), 100, workers=4, store_args=store_args,
                  seed=int(os.environ.get("KILL_SEED", 12)))
    chaos.run(KILLS)
    chaos.settle()
    final = chaos.rerun()
    figures = check_study(chaos, "chaos", entries, f"{postgres}/optuna", mlflow_server, final)
    doctor_is_clean("chaos", store_args)
    assert {kind for kind, _ in chaos.kills} == set(KINDS), chaos.kills
    assert sum(step > 0 for step in figures["resumed"]) >= 2, figures
    print("\n" + tally(chaos, figures, "PostgreSQL and mlflow server, 4 workers"))
