"""bench.files.atomic_write: what a saved file looks like to others."""

import math
import os
import stat
import tomllib

import pytest

from bench.files import atomic_write, toml_text


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_saved_file_gets_the_mode_the_umask_allows_not_mkstemps_0600(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "board.csv", lambda f: f.write(b"a,b\n"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "board.csv").stat().st_mode) == 0o666 & ~umask
    assert (tmp_path / "board.csv").read_bytes() == b"a,b\n"


def test_toml_text_reads_back_equal():
    data = {"text": 'quote " backslash \\ newline \n tab \t delete \x7f é', "numbers": [1, -2, 2.5e-05, 1e16, float("inf"), -float("inf")],
            "flag": False, "table": {"deep": {"leaf": {"x": 1.0, "y": []}, "empty": {}}}, "dcgan+ema": {"a b": "c"}}
    text = toml_text(data, "a comment\nin two lines")
    assert text.startswith("# a comment\n# in two lines\n")
    assert tomllib.loads(text) == data
    assert math.isnan(tomllib.loads(toml_text({"x": float("nan")}))["x"])


def test_toml_text_writes_deep_plain_tables_inline_as_people_write_them():
    text = toml_text({"variants": {"x": {"search": {"lr_g": {"type": "log-float", "low": 5e-05}}, "fixed": {}}}})
    assert '[variants.x.search]\nlr_g = {type = "log-float", low = 5e-05}' in text and "fixed = {}" in text
