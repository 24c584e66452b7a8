"""bench.files.atomic_write: what a saved file looks like to others."""

import os
import stat

import pytest

from bench.files import atomic_write


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_saved_file_gets_the_mode_the_umask_allows_not_mkstemps_0600(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "board.csv", lambda f: f.write(b"a,b\n"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "board.csv").stat().st_mode) == 0o666 & ~umask
    assert (tmp_path / "board.csv").read_bytes() == b"a,b\n"
