"""The metric registry (bench.metrics.METRICS) is the one place that names the metrics and
says which way each is better: every other module reads it."""

import ast
from pathlib import Path

import pytest

import bench
from bench import metrics
from bench.metrics import METRICS

MODULES = [p for p in Path(bench.__file__).parent.rglob("*.py") if p != Path(metrics.__file__)]


def _literals(path: Path):
    """Every list, tuple, set and dict written out in ``path``, as (line, elements)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Dict):
            yield node.lineno, node.keys, node.values
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            yield node.lineno, node.elts, []


def _strings(nodes) -> list[str]:
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(Path(bench.__file__).parent)))
def test_no_module_lists_the_metrics_or_their_directions_again(path):
    for line, elements, values in _literals(path):
        named = set(_strings(elements)) & METRICS.keys()
        # a selection of a few metrics (a table's columns) is fine; most or all of them is a second registry
        assert len(named) <= len(METRICS) // 2, f"{path}:{line} lists {sorted(named)}; read bench.metrics.METRICS instead"
        directions = set(_strings(values)) & {"minimize", "maximize"}
        assert not (named and directions), f"{path}:{line} gives metrics directions; they are declared in bench.metrics.METRICS"


def test_every_metric_is_declared_whole():
    for name, metric in METRICS.items():
        assert metric.name == name and metric.direction in metrics.SIGN and metric.description
        assert metric.show(1234.5678) and "\n" not in metric.description


def test_the_declared_format_is_what_is_shown():
    assert metrics.show("fid", 41.2345) == "41.23" and metrics.show("modes", 10.0) == "10"
    assert metrics.show("distinct_images", 82600.4) == "82600" and metrics.show("p_value", 0.012345) == "0.01235"
    assert "fid                41.23" in metrics.format_table({"fid": 41.2345, "n": 500})
