"""TOML out, for the files bench writes for people to read and edit (a resolved study, a
best configuration); tomllib, which reads them, has no writer. Enough of TOML for bench's
own data: tables, strings, integers, floats, booleans and lists of them, written so that
``tomllib.loads(dumps(data)) == data``.
"""

from __future__ import annotations

import json
import math
import re


def dumps(data: dict, comment: str = "") -> str:
    """``data`` as TOML, after ``comment`` (one ``# `` line per line of it). Tables that hold
    further tables get a ``[header]``; below two levels, a table of plain values is written
    inline, ``lr_g = { type = "log-float", low = 5e-05, high = 0.001 }``, as people write them."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    _table(lines, data, [])
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(lines: list[str], table: dict, path: list[str]) -> None:
    inline = len(path) >= 2  # entries' search and fixed tables, e.g. variants.x.fixed
    values = {k: v for k, v in table.items() if not isinstance(v, dict) or (inline and not _nested(v))}
    tables = {k: v for k, v in table.items() if k not in values}
    if path and (values or not tables):
        lines += ["", f"[{'.'.join(map(_key, path))}]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in values.items()]
    for key, sub in tables.items():
        _table(lines, sub, [*path, key])


def _nested(table: dict) -> bool:
    return any(isinstance(v, dict) for v in table.values())


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _string(key)


def _string(text: str) -> str:
    return json.dumps(text).replace("\x7f", "\\u007f")  # JSON's escapes are TOML's; TOML also escapes DEL


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else {"inf": "inf", "-inf": "-inf"}.get(repr(value), "nan")
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_value, value)) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"{value!r}: TOML has no {type(value).__name__}")
