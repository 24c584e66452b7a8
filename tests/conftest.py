import pytest


@pytest.fixture(autouse=True, scope="session")
def bench_home(tmp_path_factory):
    """Everything tests write (reference caches, runs) goes to one temp folder."""
    home = tmp_path_factory.mktemp("bench-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_HOME", str(home))
    yield home
    mp.undo()
