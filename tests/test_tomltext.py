"""bench's TOML writer: what it writes, tomllib reads back equal."""

import math
import tomllib

from bench.tomltext import dumps


def test_what_is_written_reads_back_equal():
    data = {"text": 'quote " backslash \\ newline \n tab \t delete \x7f é', "numbers": [1, -2, 2.5e-05, 1e16, float("inf"), -float("inf")],
            "flag": False, "table": {"deep": {"leaf": {"x": 1.0, "y": []}, "empty": {}}}, "dcgan+ema": {"a b": "c"}}
    text = dumps(data, "a comment\nin two lines")
    assert text.startswith("# a comment\n# in two lines\n")
    assert tomllib.loads(text) == data
    assert math.isnan(tomllib.loads(dumps({"x": float("nan")}))["x"])


def test_deep_plain_tables_are_inline_as_people_write_them():
    text = dumps({"variants": {"x": {"search": {"lr_g": {"type": "log-float", "low": 5e-05}}, "fixed": {}}}})
    assert '[variants.x.search]\nlr_g = { type = "log-float", low = 5e-05 }' in text and "fixed = {}" in text
