import sys

import pytest


@pytest.fixture(autouse=True, scope="session")
def bench_home(tmp_path_factory):
    """Everything tests write (reference caches, runs) goes to one temp folder; tests
    that use a home of their own still share its cache (built once per session)."""
    home = tmp_path_factory.mktemp("bench-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_HOME", str(home))
    mp.setenv("BENCH_CACHE", str(home / "cache"))
    yield home
    mp.undo()


@pytest.fixture
def bench(monkeypatch, capsys):
    """Run the `bench` command in-process: returns (exit code, stdout, stderr)."""
    from bench import cli

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["bench", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        captured = capsys.readouterr()
        return exit_info.value.code or 0, captured.out, captured.err

    return run
