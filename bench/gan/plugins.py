"""Your own architecture, loss or remedy, named by import path: ``"mypkg.models:build"``.

A reference is resolved by importing the module, so a study's workers load it on any
machine where it is importable: an installed package, the current directory, or the
folder of the study file that names it (``bench.study.spec`` adds that folder).
"""

from __future__ import annotations

import importlib
import os
import re
import sys

from bench.errors import BenchError

_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def is_reference(name: str) -> bool:
    """``module.path:attribute``, as opposed to a registered name."""
    return bool(_REFERENCE.fullmatch(name))


def add_search_path(folder) -> None:
    """Let plug-ins be imported from ``folder`` (a study file's, or the working directory)."""
    folder = os.path.abspath(folder)
    if folder not in sys.path:
        sys.path.insert(0, folder)


def load(reference: str, kind: str):
    """The object ``reference`` names; a one-line error naming the ``kind`` and the fix otherwise."""
    if not is_reference(reference):
        raise BenchError(f"{kind} {reference!r}: a plug-in is named 'module.path:attribute', e.g. 'mypkg.models:build'")
    module_name, attribute = reference.split(":")
    add_search_path(os.getcwd())  # as `python -m` would: console scripts do not put it on sys.path
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BenchError(f"{kind} {reference!r}: cannot import {module_name!r} ({first_line(e)}); install it or run from the folder that holds it") from None
    except Exception as e:  # the user's module failed while importing
        raise BenchError(f"{kind} {reference!r}: importing {module_name!r} failed: {type(e).__name__}: {first_line(e)}") from None
    if not hasattr(module, attribute):
        raise BenchError(f"{kind} {reference!r}: module {module_name!r} has no attribute {attribute!r}")
    return getattr(module, attribute)


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]
