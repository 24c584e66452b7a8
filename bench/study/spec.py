"""Study files (``studies/<name>.toml``): parsed with tomllib and fully validated before
anything is written. Every error is one line naming the file, the field and what
would be valid.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bench import data
from bench.errors import BenchError
from bench.gan import plugins, variants
from bench.gan.config import FIELDS, REMEDIES, check_type
from bench.metrics import METRICS, SIGN

SHIPPED = Path(__file__).resolve().parents[1] / "studies"  # package data, found from any install
OWN = Path("studies")  # the user's own, in the working directory: they come first
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
PARAM_TYPES = ("float", "log-float", "int", "categorical")
EVALUATION_KEYS = {"every", "samples", "final_samples"}
TOP_LEVEL = {"description", "datasets", "trials", "repeats", "baseline", "objectives", "sampler", "pruner", "seed", "budget", "evaluation",
             "defaults", "variants"}
DEFAULTED = ("search", "fixed")  # the entry tables [defaults] gives every entry


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    sets: tuple[str, ...] = ()  # the settings one sampled value goes to (default: name)
    scale: tuple[float, ...] = ()  # each target gets the value times its factor (default: 1 each)

    @property
    def targets(self) -> tuple[str, ...]:
        return self.sets or (self.name,)

    def values(self, value) -> dict:
        """``{setting: value}`` for each target, scaled (TTUR: lr_d = 4 x lr_g)."""
        return {t: value * f if self.scale else value for t, f in zip(self.targets, self.scale or [1] * len(self.targets))}


@dataclass(frozen=True)
class VariantPlan:
    name: str  # the entry's label, e.g. "dcgan+ema"
    variant: str  # the registered variant it starts from
    fixed: dict = field(default_factory=dict)
    search: tuple[Param, ...] = ()
    datasets: tuple[str, ...] = ()  # empty: all of the study's


@dataclass(frozen=True)
class Study:
    name: str
    path: Path
    description: str
    datasets: tuple[str, ...]
    trials: int
    repeats: tuple[int, ...]
    objectives: tuple[tuple[str, str], ...]  # (metric, direction)
    sampler: str
    pruner: str
    seed: int
    budget: dict  # tier ("cpu", "full") -> steps per trial, or "variant" for each variant's own
    evaluation: dict  # every, samples, final_samples; per-dataset tables override them
    variants: tuple[VariantPlan, ...]
    baseline: str = ""  # the entry repeats are tested against; default the first

    def evaluation_for(self, dataset: str) -> dict:
        general = {k: v for k, v in self.evaluation.items() if not isinstance(v, dict)}
        return general | self.evaluation.get(dataset, {})

    def tasks(self) -> list[tuple[str, VariantPlan]]:
        """(dataset, variant) pairs: one Optuna study each."""
        return [(d, v) for v in self.variants for d in (v.datasets or self.datasets)]


def task_label(dataset: str, plan: VariantPlan) -> str:
    """How a task is shown (progress, trial lines): ``mnist/dcgan-ns``."""
    return f"{dataset}/{plan.name}"


def task_name(study: Study, dataset: str, plan: VariantPlan) -> str:
    """The task's Optuna study name, the one place it is built: ``mode-collapse/mnist/dcgan-ns``."""
    return f"{study.name}/{task_label(dataset, plan)}"


def resolved(study: Study) -> dict:
    """Everything the study runs, with ``[defaults]`` applied: each entry's variant, data sets,
    fixed settings and search space, as the workers see them. Written as TOML it is a study
    file of its own that runs the same plans (logged with the study's summary)."""
    def space(p: Param) -> dict:
        shape = {"choices": list(p.choices)} if p.type == "categorical" else {"low": p.low, "high": p.high}
        return {"type": p.type} | shape | ({"sets": list(p.sets)} if p.sets else {}) | ({"scale": list(p.scale)} if p.scale else {})

    return {
        "description": study.description, "datasets": list(study.datasets), "trials": study.trials,
        "repeats": list(study.repeats), "baseline": study.baseline, "objectives": [{"metric": m, "direction": d} for m, d in study.objectives],
        "sampler": study.sampler, "pruner": study.pruner, "seed": study.seed, "budget": study.budget, "evaluation": study.evaluation,
        "variants": {plan.name: {"variant": plan.variant, "datasets": list(plan.datasets or study.datasets), "fixed": plan.fixed,
                                 "search": {p.name: space(p) for p in plan.search}} for plan in study.variants},
    }


class _Checker:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, message: str):
        raise BenchError(f"{self.path}: {where}: {message}")

    def typed(self, where: str, value, kind, description: str):
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(where, f"expected {description}, got {value!r}")
        return value

    def keys(self, where: str, table: dict, allowed: set, required: set = frozenset()):
        for key in table:
            if key not in allowed:
                self.fail(f"{where}{key}" if where else key, f"unknown key; valid: {', '.join(sorted(allowed))}")
        for key in required - table.keys():
            self.fail(f"{where}{key}" if where else key, "missing")


def path_of(name: str) -> Path:
    """``name`` itself when it is a path to a .toml file, else ``studies/<name>.toml`` in the
    working directory when there is one, else the shipped study of that name."""
    candidate = Path(name)
    if candidate.suffix == ".toml":
        return candidate
    own = OWN / f"{name}.toml"
    return own if own.exists() else SHIPPED / f"{name}.toml"


def load(name: str) -> Study:
    path = path_of(name)
    if not path.exists():
        shipped = ", ".join(sorted(p.stem for p in SHIPPED.glob("*.toml")))
        own = sorted(p.stem for p in OWN.glob("*.toml") if p.stem not in shipped.split(", "))
        raise BenchError(f"{path}: no such study; shipped studies: {shipped}" + (f"; in ./studies: {', '.join(own)}" if own else ""))
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:  # a binary file, or another encoding
        raise BenchError(f"{path}: not UTF-8 text (byte {e.start}); a study is a TOML file, see studies/README.md") from None
    except OSError as e:  # a folder, or no permission
        raise BenchError(f"{path}: cannot be read ({e.strerror}); give a study's name or a .toml file") from None
    except tomllib.TOMLDecodeError as e:
        raise BenchError(f"{path}: not valid TOML ({e}); see studies/README.md") from None
    plugins.add_search_path(path.parent)  # plug-ins ("module:attribute") may sit next to the study file
    return parse(raw, path)


def parse(raw: dict, path: Path) -> Study:
    check = _Checker(path)
    check.keys("", raw, TOP_LEVEL, {"datasets", "trials", "objectives", "budget", "variants"})
    datasets = tuple(check.typed("datasets", raw["datasets"], list, "a list of data set names"))
    if not datasets:
        check.fail("datasets", f"empty; choose from: {', '.join(data.DATASETS)}")
    for d in datasets:
        if d not in data.DATASETS:
            check.fail("datasets", f"unknown data set {d!r}; valid: {', '.join(data.DATASETS)}")
    trials = check.typed("trials", raw["trials"], int, "an integer number of trials per variant")
    if trials < 1:
        check.fail("trials", "must be at least 1")
    repeats = tuple(check.typed(f"repeats[{i}]", s, int, "an integer seed") for i, s in enumerate(check.typed("repeats", raw.get("repeats", []), list, "a list of seeds")))
    if len(set(repeats)) != len(repeats):
        check.fail("repeats", f"seeds must differ, got {list(repeats)}")
    sampler = raw.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        check.fail("sampler", f"{sampler!r}; valid: {', '.join(SAMPLERS)}")
    pruner = raw.get("pruner", "median")
    if pruner not in PRUNERS:
        check.fail("pruner", f"{pruner!r}; valid: {', '.join(PRUNERS)}")
    objectives = _objectives(check, raw["objectives"])
    budget = check.typed("budget", raw["budget"], dict, "a table with cpu and full step counts")
    check.keys("budget.", budget, {"cpu", "full"}, {"cpu", "full"})
    for tier, steps in budget.items():  # "variant": each variant's own default length
        if steps != "variant" and check.typed(f"budget.{tier}", steps, int, 'a number of steps or "variant"') < 1:
            check.fail(f"budget.{tier}", "must be at least 1 step")
    evaluation = check.typed("evaluation", raw.get("evaluation", {}), dict, "a table")
    check.keys("evaluation.", evaluation, EVALUATION_KEYS | set(datasets))
    for key, value in evaluation.items():
        if key in datasets:
            table = check.typed(f"evaluation.{key}", value, dict, "a table")
            check.keys(f"evaluation.{key}.", table, EVALUATION_KEYS)
            for sub, number in table.items():
                _evaluation_number(check, f"evaluation.{key}.{sub}", sub, number)
        else:
            _evaluation_number(check, f"evaluation.{key}", key, value)
    defaults = _defaults(check, raw.get("defaults", {}))
    plans = check.typed("variants", raw["variants"], dict, "a table of variants")
    if not plans:
        check.fail("variants", "empty; name at least one variant (see 'bench variants')")
    parsed = tuple(_variant(check, name, plan, datasets, defaults) for name, plan in plans.items())
    baseline = check.typed("baseline", raw.get("baseline", parsed[0].name), str, "an entry's name")
    if baseline not in plans:
        check.fail("baseline", f"{baseline!r} is not an entry of this study; valid: {', '.join(plans)}")
    return Study(
        path.stem, path, raw.get("description", ""), datasets, trials, repeats, objectives, sampler, pruner,
        check.typed("seed", raw.get("seed", 0), int, "an integer"), budget, evaluation, parsed, baseline,
    )


def _evaluation_number(check: _Checker, where: str, key: str, value) -> None:
    minimum = 0 if key == "every" else 10
    if check.typed(where, value, int, "an integer") < minimum:
        check.fail(where, f"must be at least {minimum}" + ("" if key == "every" else " (the metrics need 10 samples)"))


def _objectives(check: _Checker, raw) -> tuple[tuple[str, str], ...]:
    items = check.typed("objectives", raw, list, "a list of metric names")
    if not items:
        check.fail("objectives", f"empty; choose from: {', '.join(METRICS)}")
    result = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"metric": item}
        item = check.typed(f"objectives[{i}]", item, dict, "a metric name or {metric, direction}")
        check.keys(f"objectives[{i}].", item, {"metric", "direction"}, {"metric"})
        metric = item["metric"]
        if metric not in METRICS:
            check.fail(f"objectives[{i}]", f"{metric!r} is not a metric; valid: {', '.join(METRICS)}")
        direction = item.get("direction", METRICS[metric].direction)
        if direction not in SIGN:
            check.fail(f"objectives[{i}].direction", f"{direction!r}; valid: {', '.join(SIGN)}")
        result.append((metric, direction))
    return tuple(result)


def _defaults(check: _Checker, raw) -> dict[str, dict]:
    """``[defaults.search]`` and ``[defaults.fixed]``: given to every entry, checked once here."""
    defaults = check.typed("defaults", raw, dict, "a table with search and fixed")
    check.keys("defaults.", defaults, set(DEFAULTED))
    search = check.typed("defaults.search", defaults.get("search", {}), dict, "a table of parameters")
    for key, spec in search.items():
        _param(check, f"defaults.search.{key}", key, spec)
    fixed = check.typed("defaults.fixed", defaults.get("fixed", {}), dict, "a table of settings")
    for key, value in fixed.items():
        try:
            check_type(key, value)
        except BenchError as e:
            check.fail("defaults.fixed", str(e))
    return {"search": search, "fixed": fixed}


def _with_defaults(check: _Checker, where: str, plan: dict, defaults: dict[str, dict]) -> dict[str, dict]:
    """The entry's search and fixed tables on top of the defaults: an entry's key replaces the
    default of the same name, and ``drop_defaults = ["search.NAME", "fixed.NAME", "search", "fixed"]``
    leaves a default (or all of a table's) out of this entry."""
    dropped = check.typed(f"{where}.drop_defaults", plan.get("drop_defaults", []), list, 'a list like ["search.lr_d", "fixed"]')
    given = {table: dict(defaults[table]) for table in DEFAULTED}
    for item in dropped:
        table, _, key = check.typed(f"{where}.drop_defaults", item, str, 'a name like "search.lr_d"').partition(".")
        gives = given.get(table, {})
        if not (key in gives if key else gives):  # dropping what is not there would change nothing
            has = ", ".join(f"{t}.{k}" for t in DEFAULTED for k in defaults[t]) or "nothing"
            check.fail(f"{where}.drop_defaults", f"{item!r} drops nothing; [defaults] gives: {has}")
        given[table] = {k: v for k, v in gives.items() if key and k != key}  # "search" alone drops them all
    own = {table: check.typed(f"{where}.{table}", plan.get(table, {}), dict, f"a table of {'parameters' if table == 'search' else 'settings'}")
           for table in DEFAULTED}
    return {table: given[table] | own[table] for table in DEFAULTED}


def _variant(check: _Checker, label: str, plan, study_datasets, defaults: dict[str, dict]) -> VariantPlan:
    where = f"variants.{label}"
    if not re.fullmatch(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]*", label) or ".." in label:
        check.fail(where, "an entry's name becomes a folder under BENCH_HOME: use letters, digits and _ . + - (no '..', no separators)")
    plan = check.typed(where, plan, dict, "a table with variant, fixed, search and datasets")
    check.keys(f"{where}.", plan, {"variant", "fixed", "search", "datasets", "drop_defaults"})
    name = plan.get("variant", label)
    if name not in variants.VARIANTS:
        check.fail(where, f"unknown variant {name!r}; valid: {', '.join(variants.VARIANTS)}")
    tables = _with_defaults(check, where, plan, defaults)
    fixed, search = tables["fixed"], tables["search"]

    def defaulted(table: str, key: str) -> bool:  # given by [defaults], not by the entry itself
        return key in tables[table] and key not in plan.get(table, {})

    def drop_hint(*items: str) -> str:
        items = [item for item in items if item and defaulted(*item.split(".", 1))]
        return f"; to leave a default out of this entry: drop_defaults = {json.dumps(items)}" if items else ""

    datasets = tuple(check.typed(f"{where}.datasets", plan.get("datasets", []), list, "a list of data set names"))
    for d in datasets:
        if d not in study_datasets:
            check.fail(f"{where}.datasets", f"{d!r} is not among the study's datasets ({', '.join(study_datasets)})")
    try:
        config = variants.get(name).config(fixed)
    except BenchError as e:
        check.fail(f"{where}.fixed", str(e) + drop_hint(*(f"fixed.{key}" for key in fixed)))
    params = tuple(_param(check, f"{where}.search.{key}", key, spec) for key, spec in search.items())
    fixed_by = {key: "[defaults.fixed]" if defaulted("fixed", key) else "fixed" for key in fixed if key != "remedies"}
    for item in filter(None, config.remedies.split(",")):
        fixed_by |= {key: f"remedy {item}" for key in REMEDIES.get(item.partition(":")[0], {})}
    sampled_by: dict[str, str] = {}
    for p in params:
        for target in p.targets:
            if target in fixed_by:  # the search would overwrite it in every trial but the first
                check.fail(f"{where}.search.{p.name}", f"samples {target}, which {fixed_by[target]} sets; drop one of them "
                           "(a remedy's relation can be searched instead, e.g. sets = [\"lr_g\", \"lr_d\"], scale = [1, 4])"
                           + drop_hint(f"search.{p.name}", f"fixed.{target}" if target in fixed else ""))
            if target in sampled_by:  # one of the two sampled values would be thrown away
                check.fail(f"{where}.search.{p.name}", f"samples {target}, which search.{sampled_by[target]} samples too; drop one of them"
                           + drop_hint(f"search.{sampled_by[target]}", f"search.{p.name}"))
            sampled_by[target] = p.name
    return VariantPlan(label, name, fixed, params, datasets)


def _param(check: _Checker, where: str, key: str, spec) -> Param:
    spec = check.typed(where, spec, dict, "{type, low, high} or {type = \"categorical\", choices}")
    # `sets` ties settings to one sampled value, e.g. lr = {..., sets = ["lr_g", "lr_d"]} (Lucic et al.)
    targets = tuple(check.typed(f"{where}.sets", spec.get("sets", [key]), list, "a list of settings"))
    if not targets:
        check.fail(f"{where}.sets", "empty; name at least one setting")
    for target in targets:
        if target not in FIELDS:
            field, named = (f"{where}.sets", f"{target!r} is not a setting") if "sets" in spec else (where, "not a setting")
            check.fail(field, f"{named}; valid: {', '.join(FIELDS)}")
    field_types = {FIELDS[t].type for t in targets}
    if len(field_types) > 1:
        check.fail(f"{where}.sets", f"settings of different types ({', '.join(targets)}) cannot share a value")
    field_type = field_types.pop()
    kind = spec.get("type")
    if kind not in PARAM_TYPES:
        check.fail(f"{where}.type", f"{kind!r}; valid: {', '.join(PARAM_TYPES)}")
    allowed = {"int": ("int", "categorical"), "float": ("float", "log-float", "categorical")}.get(field_type, ("categorical",))
    if kind not in allowed:
        check.fail(f"{where}.type", f"{targets[0]} is a {field_type} setting; use: {', '.join(allowed)}")
    sets = targets if "sets" in spec else ()
    scale = tuple(check.typed(f"{where}.scale[{i}]", f, float, "a number") for i, f in enumerate(check.typed(f"{where}.scale", spec.get("scale", []), list, "a list of factors")))
    if scale and (kind not in ("float", "log-float") or len(scale) != len(targets) or not all(f > 0 for f in scale)):
        check.fail(f"{where}.scale", f"needs a float parameter and one positive factor per setting ({', '.join(targets)})")
    if kind == "categorical":
        check.keys(f"{where}.", spec, {"type", "choices", "sets"}, {"choices"})
        choices = tuple(check.typed(f"{where}.choices", spec["choices"], list, "a list"))
        if not choices:
            check.fail(f"{where}.choices", "empty; give at least one value")
        for choice in choices:
            try:
                check_type(targets[0], choice)
            except BenchError as e:
                check.fail(f"{where}.choices", str(e))
        return Param(key, kind, choices=choices, sets=sets)
    check.keys(f"{where}.", spec, {"type", "low", "high", "sets", "scale"}, {"low", "high"})
    number = int if kind == "int" else float
    low = check.typed(f"{where}.low", spec["low"], number, f"a{'n int' if number is int else ' number'}")
    high = check.typed(f"{where}.high", spec["high"], number, f"a{'n int' if number is int else ' number'}")
    if not low < high or not math.isfinite(low) or not math.isfinite(high):
        check.fail(where, f"empty search range: low {low} must be below high {high}")
    if kind == "log-float" and low <= 0:
        check.fail(f"{where}.low", f"log-float needs low > 0, got {low}")
    return Param(key, kind, low, high, sets=sets, scale=scale)
