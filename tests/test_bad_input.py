"""Every malformed input gets one line, `error: ...`, naming the input and the fix; exit
code 2 (bad input or usage, README "Set up and run"); no traceback; nothing written.

One table: (argv, files to create first, expected part of the message, exit code).
Paths are relative to a fresh current folder per case; BENCH_HOME is its `home/`.
"""

import io
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

RUN = "0123456789abcdef0123456789abcdef"  # a well-formed MLflow run id that no store holds
# (a run id missing from an existing store: tests/test_runs.py, which has a store already)
DIR = object()  # in `files`: an empty folder


def _closed_port() -> int:
    """A loopback port nobody listens on: bound, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLOSED = f"127.0.0.1:{_closed_port()}"

STUDY = """datasets = ["mnist"]
trials = 2
objectives = ["fid"]
[budget]
cpu = 100
full = 1000
[variants.seed000-fc.search]
lr_g = { type = "log-float", low = 1e-4, high = 1e-3 }
"""


def study(old: str, new: str) -> str:
    assert old in STUDY
    return STUDY.replace(old, new)


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


DIGITS = npz(images=np.zeros((20, 28, 28), np.uint8))  # well-formed samples
CONFIG = 'variant = "seed000-fc"\ndataset = "mnist"\nseed = 0\n'  # a configuration file's start, as 'bench best' writes it
FAILED_TRIAL = pd.DataFrame([{"run_id": "0" * 32, "tags.kind": "trial", "tags.dataset": "mnist", "tags.entry": "seed000-fc",
                              "tags.state": "failed", "tags.trial": "0", "metrics.fid": None}])  # a study whose only trial failed


def board(entry: str, fid: str = "30.0") -> str:
    """A saved leaderboard with the columns `bench compare` reads, one row."""
    return f"dataset,entry,chosen_fid,repeat_fid_n,repeat_fid_mean,repeat_fid_ci_low,repeat_fid_ci_high\nmnist,{entry},{fid},0,,,\n"


def case(id, argv, message, code=2, files=None, patch=None):
    return pytest.param(argv, files or {}, message, code, patch or {}, id=id)


CASES = [
    # usage errors, found by click before any command runs
    case("trials-0", ["run", "--study", "smoke", "--trials", "0"], "--trials: "),
    case("workers-0", ["run", "--study", "smoke", "--workers", "0"], "--workers: "),
    case("seed-not-an-integer", ["train", "--variant", "dcgan", "--seed", "abc"], "--seed: "),
    case("steps-0", ["train", "--variant", "dcgan", "--steps", "0"], "--steps: "),
    case("unknown-option", ["run", "--study", "smoke", "--frob"], "No such option: --frob (see 'bench run --help')"),
    case("unknown-command", ["frob"], "No such command 'frob'"),
    case("missing-option", ["run"], "Missing option '--study'"),
    case("option-without-value", ["train", "--variant"], "'--variant' requires an argument"),
    case("sample-n-0", ["sample", RUN, "--n", "0", "--out", "x.png"], "--n: "),
    case("sample-digit-11", ["sample", RUN, "--digit", "11", "--out", "x.png"], "--digit: "),
    case("speed-n-below-10", ["speed", "--metrics", "--n", "3"], "--n: "),
    case("ui-port-0", ["ui", "--port", "0"], "--port: "),
    case("evaluator-epochs-0", ["evaluator", "train", "--epochs", "0"], "--epochs: "),
    case("speed-says-what", ["speed"], "--metrics, or --variant NAME"),
    # study files
    case("study-missing", ["run", "--study", "nosuch"], "no such study; shipped studies: lucic"),
    case("study-binary", ["run", "--study", "s.toml"], "s.toml: not UTF-8 text", files={"s.toml": bytes(range(256))}),
    case("study-folder", ["run", "--study", "s.toml"], "s.toml: cannot be read", files={"s.toml": DIR}),
    case("study-bad-toml", ["run", "--study", "s.toml"], "s.toml: not valid TOML", files={"s.toml": "datasets = ["}),
    case("study-unknown-key", ["run", "--study", "s.toml"], "s.toml: colour: unknown key; valid:",
         files={"s.toml": study("trials = 2", "trials = 2\ncolour = 'red'")}),
    case("study-missing-key", ["run", "--study", "s.toml"], "s.toml: objectives: missing",
         files={"s.toml": study('objectives = ["fid"]', "")}),
    case("study-wrong-type", ["run", "--study", "s.toml"], "trials: expected an integer number of trials",
         files={"s.toml": study("trials = 2", 'trials = "two"')}),
    case("study-trials-0", ["run", "--study", "s.toml"], "trials: must be at least 1", files={"s.toml": study("trials = 2", "trials = 0")}),
    case("study-unknown-dataset", ["run", "--study", "s.toml"], "unknown data set 'svhn'",
         files={"s.toml": study('["mnist"]', '["svhn"]')}),
    case("study-unknown-metric", ["run", "--study", "s.toml"], "'speed' is not a metric",
         files={"s.toml": study('["fid"]', '["speed"]')}),
    case("study-unknown-variant", ["run", "--study", "s.toml"], "unknown variant 'nosuch'",
         files={"s.toml": study("[variants.seed000-fc.search]", "[variants.x]\nvariant = 'nosuch'\n[variants.x.search]")}),
    case("study-empty-range", ["run", "--study", "s.toml"], "empty search range: low 0.001 must be below high 0.0001",
         files={"s.toml": study("low = 1e-4, high = 1e-3", "low = 1e-3, high = 1e-4")}),
    case("study-log-float-at-0", ["run", "--study", "s.toml"], "log-float needs low > 0",
         files={"s.toml": study("low = 1e-4", "low = 0.0")}),
    case("study-search-not-a-setting", ["run", "--study", "s.toml"], "search.speed: not a setting",
         files={"s.toml": study("lr_g = {", "speed = {")}),
    case("study-bad-fixed-value", ["run", "--study", "s.toml"], "fixed: lr_g='fast': expected a float",
         files={"s.toml": STUDY + "[variants.seed000-fc.fixed]\nlr_g = 'fast'\n"}),
    # --set overrides
    case("set-unknown-key", ["train", "--variant", "dcgan", "--set", "speed=1"], "unknown setting 'speed'; valid:"),
    case("set-bad-value", ["train", "--variant", "dcgan", "--set", "lr_g=abc"], "lr_g='abc': expected a float"),
    case("set-bad-type", ["train", "--variant", "dcgan", "--set", "batch_size=1.5"], "batch_size='1.5': expected an int"),
    case("set-out-of-range", ["train", "--variant", "dcgan", "--set", "batch_size=0"], "batch_size must be at least 1"),
    case("set-no-equals", ["train", "--variant", "dcgan", "--set", "lr_g"], "expected key=value"),
    case("set-unknown-remedy", ["train", "--variant", "dcgan", "--set", "remedies=frob"], "unknown remedy 'frob'"),
    case("set-remove-absent-remedy", ["train", "--variant", "dcgan", "--set", "remedies=-ema"], "-ema removes nothing"),
    case("set-unknown-loss", ["train", "--variant", "dcgan", "--set", "loss=frob"], "unknown loss 'frob'"),
    case("set-unknown-architecture", ["train", "--variant", "dcgan", "--set", "architecture=frob"], "unknown architecture 'frob'"),
    case("set-plugin-not-importable", ["train", "--variant", "dcgan", "--set", "loss=nosuch.losses:fn"], "cannot import 'nosuch.losses'"),
    case("unknown-variant", ["train", "--variant", "nosuch"], "unknown variant 'nosuch'"),
    case("unknown-dataset", ["train", "--variant", "dcgan", "--dataset", "svhn"], "unknown dataset 'svhn'"),
    case("unknown-device", ["train", "--variant", "dcgan", "--device", "tpu"], "unknown device 'tpu'; use cpu or cuda"),
    case("variants-detail-unknown", ["variants", "--detail", "seed999"], "unknown variant 'seed999'"),
    # sample files for bench evaluate (np.load with allow_pickle=False)
    case("npz-missing", ["evaluate", "s.npz"], "s.npz: file not found"),
    case("npz-folder", ["evaluate", "s.npz"], "s.npz: not a readable .npz file", files={"s.npz": DIR}),
    case("npz-not-a-zip", ["evaluate", "s.npz"], "s.npz: not an .npz file (neither a zip archive nor a .npy array)", files={"s.npz": "not a zip"}),
    case("npz-pickled-objects", ["evaluate", "s.npz"], "holds object arrays, which would need unpickling and are refused",
         files={"s.npz": npz(images=np.array([{"a": 1}, None], dtype=object))}),
    case("npy-not-npz", ["evaluate", "s.npy"], "a single .npy array, not an .npz", files={"s.npy": npy(np.zeros((20, 28, 28), np.uint8))}),
    case("npz-wrong-dtype", ["evaluate", "s.npz"], "'images' is float32; it must be uint8",
         files={"s.npz": npz(images=np.zeros((20, 28, 28), np.float32))}),
    case("npz-wrong-shape", ["evaluate", "s.npz"], "'images' has shape [20, 32, 32]", files={"s.npz": npz(images=np.zeros((20, 32, 32), np.uint8))}),
    case("npz-no-images", ["evaluate", "s.npz"], "no 'images' array", files={"s.npz": npz(pictures=np.zeros((20, 28, 28), np.uint8))}),
    case("npz-bad-labels", ["evaluate", "s.npz"], "'labels' must be an integer array of shape [20]",
         files={"s.npz": npz(images=np.zeros((20, 28, 28), np.uint8), labels=np.zeros(20, np.float32))}),
    case("npz-too-few", ["evaluate", "s.npz"], "at least 10", files={"s.npz": npz(images=np.zeros((5, 28, 28), np.uint8))}),
    case("evaluate-unknown-dataset", ["evaluate", "s.npz", "--dataset", "svhn"], "unknown dataset 'svhn'", files={"s.npz": DIGITS}),
    # data roots and data sets
    case("data-root-missing", ["train", "--variant", "dcgan", "--data-root", "nowhere"], "--data-root nowhere: no such folder"),
    case("data-root-empty", ["train", "--variant", "dcgan", "--data-root", "root"], "root/MNIST/raw: not found", files={"root": DIR}),
    case("data-root-without-files", ["train", "--variant", "dcgan", "--data-root", "root"], "train-images-idx3-ubyte, ",
         files={"root/MNIST/raw": DIR}),
    case("evaluate-data-root-missing", ["evaluate", "s.npz", "--data-root", "nowhere"], "--data-root nowhere: no such folder",
         files={"s.npz": DIGITS}),
    case("data-command-root-missing", ["data", "--dataset", "mnist", "--data-root", "nowhere"], "--data-root nowhere: no such folder"),
    case("fashion-missing-train", ["train", "--variant", "dcgan", "--dataset", "fashion-mnist"], "Fashion-MNIST not found in nowhere",
         patch={"bench.data.DEBIAN_FASHION_MNIST": Path("nowhere")}),
    case("fashion-missing-study", ["run", "--study", "lucic"], "Fashion-MNIST not found in nowhere",
         patch={"bench.data.DEBIAN_FASHION_MNIST": Path("nowhere")}),
    case("fashion-missing-evaluate", ["evaluate", "s.npz", "--dataset", "fashion-mnist"], "Fashion-MNIST not found in nowhere",
         files={"s.npz": DIGITS}, patch={"bench.data.DEBIAN_FASHION_MNIST": Path("nowhere"),  # and no cached reference to score against
                                         "bench.files.cache_dir": lambda: Path("no-cache")}),
    case("evaluator-unknown-dataset", ["evaluator", "train", "--dataset", "stacked-mnist"], "no evaluator is trained for 'stacked-mnist'"),
    # storage and tracking URLs
    case("tracking-no-scheme", ["run", "--study", "smoke", "--tracking-uri", "bogus"], "--tracking-uri bogus: no scheme"),
    case("tracking-unknown-scheme", ["run", "--study", "smoke", "--tracking-uri", "ftp://x"], "unknown scheme 'ftp'"),
    case("tracking-closed-port", ["run", "--study", "smoke", "--tracking-uri", f"http://{CLOSED}"], "no MLflow server answers there"),
    case("tracking-closed-port-train", ["train", "--variant", "dcgan", "--tracking-uri", f"http://{CLOSED}"], "no MLflow server answers there"),
    case("tracking-sqlite-no-folder", ["train", "--variant", "dcgan", "--tracking-uri", "sqlite:///no/such/m.db"], "folder no/such does not exist"),
    case("tracking-not-a-database", ["run", "--study", "smoke", "--tracking-uri", "sqlite:///bad.db"], "file is not a database",
         files={"bad.db": "not a database, at all" * 10}),
    case("tracking-bogus-leaderboard", ["leaderboard", "--study", "smoke", "--tracking-uri", "bogus"], "--tracking-uri bogus: no scheme"),
    case("tracking-bogus-sample", ["sample", RUN, "--out", "x.png", "--tracking-uri", "bogus"], "--tracking-uri bogus: no scheme"),
    case("storage-bogus", ["run", "--study", "smoke", "--storage", "bogus"], "--storage bogus: "),
    case("storage-no-folder", ["run", "--study", "smoke", "--storage", "sqlite:///no/such/o.db"], "unable to open database file"),
    case("storage-closed-port", ["run", "--study", "smoke", "--storage", f"postgresql://u@{CLOSED}/db"], f"--storage postgresql://u@{CLOSED}/db: "),
    # run ids and generator files
    case("run-id-no-store", ["sample", RUN, "--out", "x.png"], f"run {RUN}: not found"),
    case("run-neither-file-nor-id", ["sample", "last", "--out", "x.png"], "last: neither a file nor an MLflow run id"),
    case("generator-not-a-checkpoint", ["sample", "g.pt", "--out", "x.png"], "g.pt: not a bench generator or checkpoint", files={"g.pt": "junk"}),
    # output paths and other options
    case("sample-out-no-folder", ["sample", RUN, "--out", "no/such/dir/x.png"], "--out no/such/dir/x.png: folder no/such/dir does not exist"),
    case("sample-out-npz-no-folder", ["sample", RUN, "--out", "no/x.npz"], "folder no does not exist"),
    case("sample-out-suffix", ["sample", RUN, "--out", "x.jpg"], "use a .npz or .png file name"),
    case("leaderboard-out-no-folder", ["leaderboard", "--study", "smoke", "--out", "no/x.md"], "folder no does not exist"),
    case("leaderboard-format", ["leaderboard", "--study", "smoke", "--format", "xls"], "--format 'xls'; valid: csv"),
    # the format is checked first: before the study file, the MLflow store and the minutes of reading runs
    case("leaderboard-format-first", ["leaderboard", "--study", "nosuch", "--tracking-uri", "bogus", "--format", "xls"], "--format 'xls'; valid"),
    case("leaderboard-parquet-to-stdout", ["leaderboard", "--study", "nosuch", "--format", "parquet"], "--format parquet is binary: give --out"),
    case("leaderboard-no-runs", ["leaderboard", "--study", "smoke"], "study 'smoke' has no runs yet"),
    # bench compare and bench report
    case("compare-unknown-study", ["compare", "nosuch", "smoke"], "nosuch.toml: no such study"),
    case("compare-unknown-metric", ["compare", "smoke", "smoke", "--metric", "speed"], "--metric 'speed': not a metric; valid: fid"),
    case("compare-format", ["compare", "smoke", "smoke", "--format", "html"], "--format 'html'; valid: text, md"),
    case("compare-csv-missing", ["compare", "a.csv", "b.csv"], "a.csv: file not found"),
    case("compare-csv-folder", ["compare", "a.csv", "b.csv"], "a.csv: not a readable csv table", files={"a.csv": DIR}),
    case("compare-csv-binary", ["compare", "a.csv", "b.csv"], "a.csv: not a readable csv table", files={"a.csv": bytes(range(256))}),
    case("compare-csv-not-a-leaderboard", ["compare", "a.csv", "b.csv"], "a.csv: no column dataset, entry, chosen_fid",
         files={"a.csv": "x,y\n1,2\n"}),
    case("compare-csv-bad-count", ["compare", "a.csv", "b.csv"], "a.csv: a count column holds something else than whole numbers",
         files={"a.csv": board("x").replace(",0,", ",2.5,")}),
    case("compare-csv-no-scores", ["compare", "a.csv", "b.csv"], "a.csv: no fid scores", files={"a.csv": board("x", fid="")}),
    case("compare-no-shared-entries", ["compare", "a.csv", "b.csv"], "a.csv and b.csv share no (data set, entry); A has mnist/x, B has mnist/y",
         files={"a.csv": board("x"), "b.csv": board("y")}),
    case("compare-unknown-entry", ["compare", "a.csv:nosuch", "b.csv"], "a.csv:nosuch: a.csv has no entry 'nosuch'; its entries: x",
         files={"a.csv": board("x"), "b.csv": board("x")}),
    case("compare-no-runs", ["compare", "smoke", "a.csv"], "study 'smoke' has no runs yet", files={"a.csv": board("x")}),
    case("report-unknown-study", ["report", "--study", "nosuch"], "nosuch.toml: no such study"),
    case("report-out-no-folder", ["report", "--study", "smoke", "--out", "nowhere"], "--out nowhere: no such folder"),
    case("report-no-runs", ["report", "--study", "smoke"], "study 'smoke' has no runs yet"),
    case("report-compare-metric", ["report", "--study", "smoke", "--compare", "a.csv", "--metric", "speed"], "--metric 'speed': not a metric",
         files={"a.csv": board("x")}),
    case("budget-unknown", ["run", "--study", "smoke", "--budget", "huge"], "--budget 'huge'; valid: cpu, full"),
    # bench best, and the configuration files it writes for bench train --config
    case("best-unknown-study", ["best", "--study", "nosuch", "--entry", "x"], "no such study; shipped studies: lucic"),
    case("best-unknown-entry", ["best", "--study", "smoke", "--entry", "nosuch"], "--entry 'nosuch' is not an entry of study smoke; valid: seed000-fc, seed002-fc"),
    case("best-dataset-not-the-entrys", ["best", "--study", "smoke", "--entry", "seed000-fc", "--dataset", "fashion-mnist"],
         "--dataset fashion-mnist: entry seed000-fc of study smoke runs on mnist"),
    case("best-dataset-needed", ["best", "--study", "mode-collapse", "--entry", "dcgan-ns"], "runs on mnist, stacked-mnist: choose one with --dataset"),
    case("best-no-runs", ["best", "--study", "smoke", "--entry", "seed000-fc"], "study 'smoke' has no runs yet"),
    case("best-no-finished-trial", ["best", "--study", "smoke", "--entry", "seed000-fc"], "mnist/seed000-fc of study smoke has no finished trial yet",
         patch={"bench.leaderboard.trial_runs": lambda *args: FAILED_TRIAL}),
    case("best-tracking-bogus", ["best", "--study", "smoke", "--entry", "seed000-fc", "--tracking-uri", "bogus"], "--tracking-uri bogus: no scheme"),
    case("best-out-no-folder", ["best", "--study", "smoke", "--entry", "seed000-fc", "--out", "no/best.toml"], "folder no does not exist"),
    case("config-missing", ["train", "--config", "c.toml"], "--config c.toml: no such file; 'bench best"),
    case("config-folder", ["train", "--config", "c.toml"], "c.toml: cannot be read", files={"c.toml": DIR}),
    case("config-binary", ["train", "--config", "c.toml"], "c.toml: not UTF-8 text", files={"c.toml": bytes(range(256))}),
    case("config-bad-toml", ["train", "--config", "c.toml"], "c.toml: not valid TOML", files={"c.toml": "variant = "}),
    case("config-unknown-key", ["train", "--config", "c.toml"], "c.toml: colour: unknown key; valid: dataset, seed, settings, threads, variant",
         files={"c.toml": CONFIG + "colour = 'red'\n"}),
    case("config-no-variant", ["train", "--config", "c.toml"], "c.toml: variant: missing", files={"c.toml": "seed = 0\n"}),
    case("config-seed-not-an-integer", ["train", "--config", "c.toml"], "c.toml: seed: expected an integer, got '1'",
         files={"c.toml": CONFIG.replace("seed = 0", "seed = '1'")}),
    case("config-threads-zero", ["train", "--config", "c.toml"], "c.toml: threads: expected a positive integer, got 0",
         files={"c.toml": CONFIG + "threads = 0\n"}),
    case("config-unknown-dataset", ["train", "--config", "c.toml"], "c.toml: dataset: unknown data set 'svhn'",
         files={"c.toml": CONFIG.replace('"mnist"', '"svhn"')}),
    case("config-unknown-setting", ["train", "--config", "c.toml"], "c.toml: settings: unknown setting 'speed'",
         files={"c.toml": CONFIG + "[settings]\nspeed = 1\n"}),
    case("config-bad-setting", ["train", "--config", "c.toml"], "c.toml: settings: lr_g='fast': expected a float",
         files={"c.toml": CONFIG + "[settings]\nlr_g = 'fast'\n"}),
    case("config-unknown-variant", ["train", "--config", "c.toml"], "unknown variant 'nosuch'", files={"c.toml": CONFIG.replace("seed000-fc", "nosuch")}),
    case("config-and-variant", ["train", "--config", "c.toml", "--variant", "dcgan"], "--variant and --config both say what to train",
         files={"c.toml": CONFIG}),
    case("train-says-what", ["train"], "say what to train: --variant NAME"),
    case("study-defaults-drop-nothing", ["run", "--study", "s.toml"], "variants.seed000-fc.drop_defaults: 'search.beta1' drops nothing",
         files={"s.toml": study("[variants.seed000-fc.search]", "[defaults.search]") + "[variants.seed000-fc]\ndrop_defaults = ['search.beta1']\n"}),
    case("run-device-unknown", ["run", "--study", "smoke", "--device", "tpu"], "unknown device 'tpu'"),
]


def tree(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its size (-1 for folders)."""
    return {str(p.relative_to(root)): p.stat().st_size if p.is_file() else -1 for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("argv, files, message, code, patch", CASES)
def test_bad_input_is_one_line_and_writes_nothing(bench, tmp_path, monkeypatch, argv, files, message, code, patch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    for target, value in patch.items():
        monkeypatch.setattr(target, value)
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is DIR:
            path.mkdir()
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)
    before = tree(tmp_path)
    got, out, err = bench(*argv)
    assert "Traceback" not in out + err
    assert err.startswith("error: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert message in err, err
    assert got == code and out == ""
    assert tree(tmp_path) == before


def test_the_table_covers_at_least_forty_inputs():
    assert len(CASES) >= 40


def test_a_failure_after_the_work_started_exits_1_in_one_line(bench, tmp_path, monkeypatch):
    from bench import runs
    from bench.errors import RunFailed

    def diverge(*args, **kwargs):
        raise RunFailed("training diverged at step 3; see run abc in 'mlflow ui'")

    monkeypatch.setattr(runs, "train_run", diverge)
    code, _, err = bench("train", "--variant", "dcgan")
    assert code == 1 and err == "error: training diverged at step 3; see run abc in 'mlflow ui'\n"


def test_help_still_works(bench):
    code, out, err = bench("run", "--help")
    assert code == 0 and "--trials" in out and err == ""
    code, out, err = bench()  # no command: the overview, as a usage error
    assert code == 2 and "run" in out and "error" not in err
