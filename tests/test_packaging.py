"""A non-editable install: the wheel carries the studies, the data, the evaluator weights.

Builds a wheel and installs it into a fresh venv (about a minute on 2 cores), so it is
left out of `pytest -q`; run it with `pytest -m long tests/test_packaging.py`."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.long
def test_a_wheel_install_finds_the_shipped_studies_from_any_folder(tmp_path):
    source = tmp_path / "source"  # pip builds in the tree it is given: a copy, so the checkout stays clean
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(".git", "mlruns", "build", "*.egg-info", "__pycache__", "tests"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("bench-*.whl")
    shipped = {Path(name).name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("bench/studies/")}
    assert shipped == {"smoke.toml", "seeds.toml", "mode-collapse.toml", "lucic.toml"}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)  # torch & co. from here
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the wheel's bench, not this checkout's
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], env=env, check=True, capture_output=True)
    script = ("from bench.study import spec; from bench.tracking import git_commit\n"
              "print(spec.SHIPPED); print(spec.load('smoke').name); print(git_commit())")
    found = subprocess.run([python, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    out = found.stdout.splitlines()
    assert out[0].startswith(str(venv)) and out[1:] == ["smoke", "None"]  # no checkout, so no commit to claim
    error = subprocess.run([venv / "bin" / "bench", "run", "--study", "nosuch"], cwd=tmp_path, env=env, capture_output=True, text=True).stderr
    assert "shipped studies: lucic, mode-collapse, seeds, smoke" in error
