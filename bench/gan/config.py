"""Every hyperparameter of a training run, in one frozen dataclass.

Variants are named sets of overrides; ``--set key=value`` applies more. Remedies
are shortcuts that set fields (``remedies=pacgan:2,ema`` sets ``pack=2`` and
``ema=0.999``), so the run's parameters always show what was really used. Given
remedies add to a variant's own: ``-name`` removes one, ``none`` removes them all.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from bench.errors import BenchError

CHOICES = {
    "noise": ("normal", "uniform"),
    "image_range": ("0,1", "-1,1"),
    "update": ("alternating", "g-first", "simultaneous", "separate-d"),
    "condition": ("input", "projection"),
    "precision": ("fp32", "bf16"),
}


@dataclass(frozen=True)
class Config:
    architecture: str = "infogan"
    loss: str = "ns"
    z_dim: int = 64
    noise: str = "normal"  # z ~ N(0, 1) or U(-1, 1)
    image_range: str = "0,1"  # what real images are scaled to (G's output is read the same way)
    image_size: int = 28  # images are resized to this side for training (PyTorch-GAN uses 32)
    conditional: bool = False
    condition: str = "input"  # how D sees labels: input channels/vector, or a projection
    batch_size: int = 64
    steps: int = 15_625
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    update: str = "alternating"  # D then G; "g-first": G, then D on the same fakes (002, PyTorch-GAN);
    # "simultaneous": both from one forward pass (000); "separate-d": D's real and fake losses each with its own Adam (001)
    n_critic: int = 1  # D updates per G update
    d_pretrain: int = 0  # D-only updates before training
    d_pretrain_every: int = 0  # repeat the D pre-training every k steps (001's sessions); 0: before the first step only
    clip: float = 0.0  # WGAN weight clipping bound (0: off)
    penalty_weight: float = 10.0  # weight of the loss's own penalty (wgan-gp, dragan)
    r1: float = 0.0  # R1 penalty weight (0: off)
    spectral_norm: bool = False
    bn_g: bool = True  # batch norm in G / D where the architecture has it switchable
    bn_d: bool = True
    label_smoothing: float = 0.0  # one-sided: real target 1 - label_smoothing
    instance_noise: float = 0.0  # std of Gaussian noise on D's inputs, annealed to 0
    historical_averaging: float = 0.0  # weight of ||theta - mean of past theta||^2
    feature_matching: bool = False  # G matches the mean of D's features on real data
    minibatch_discrimination: bool = False
    minibatch_std: bool = False
    pack: int = 1  # PacGAN: D judges `pack` samples at once
    unrolled: int = 0  # unrolled GAN: G looks k D updates ahead
    ema: float = 0.0  # decay of an exponential moving average of G's weights (0: off)
    remedies: str = ""  # the remedies applied: the variant's, composed with those given
    precision: str = "fp32"  # "bf16": train under bfloat16 autocast (weights and optimiser stay fp32)
    log_every: int = 100
    eval_every: int = 0  # 0: evaluate at the end only
    eval_samples: int = 2000  # samples for evaluations during training
    final_samples: int = 10_000
    checkpoint_every: int = 1000

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in fields(Config)}

# remedy name -> overrides; a ":value" suffix replaces the value of the first field
REMEDIES: dict[str, dict] = {
    "feature-matching": {"feature_matching": True},
    "minibatch-discrimination": {"minibatch_discrimination": True},
    "minibatch-std": {"minibatch_std": True},
    "label-smoothing": {"label_smoothing": 0.1},
    "historical-averaging": {"historical_averaging": 1e-3},
    "instance-noise": {"instance_noise": 0.1},
    "no-bn-g": {"bn_g": False},
    "no-bn-d": {"bn_d": False},
    "n-critic": {"n_critic": 5},
    "ttur": {"lr_d": 4e-4, "lr_g": 1e-4},
    "d-pretrain": {"d_pretrain": 300},
    "pacgan": {"pack": 2},
    "unrolled": {"unrolled": 5},
    "ema": {"ema": 0.999},
    "spectral-norm": {"spectral_norm": True},
    "r1": {"r1": 10.0},
}


def parse_value(key: str, text: str):
    """``text`` as the type of field ``key``; one-line errors naming valid keys and values."""
    if key not in FIELDS:
        raise BenchError(f"unknown setting {key!r}; valid: {', '.join(FIELDS)}")
    kind = FIELDS[key].type
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        value = {"int": int, "float": float, "str": str}[kind](text)
    except ValueError:
        raise BenchError(f"{key}={text!r}: expected {'an' if kind == 'int' else 'a'} {kind}") from None
    return value


def check_type(key: str, value):
    """A typed value (from a study file) for field ``key``, or a one-line error."""
    if key not in FIELDS:
        raise BenchError(f"unknown setting {key!r}; valid: {', '.join(FIELDS)}")
    kind = FIELDS[key].type
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
    }[kind]
    if not ok:
        raise BenchError(f"{key}={value!r}: expected {'an' if kind == 'int' else 'a'} {kind}")
    return float(value) if kind == "float" else value


def _remedy_items(spec: str) -> list[str]:
    return [s.strip() for s in spec.split(",") if s.strip()]


def remedy_key(item: str) -> str:
    """What identifies a remedy in a list: ``pacgan`` for ``pacgan:3``, ``pkg.m:Cls`` for ``pkg.m:Cls:0.5``."""
    head, _, rest = item.partition(":")
    if head in REMEDIES or not rest:
        return head
    return f"{head}:{rest.partition(':')[0]}"


def compose_remedies(own: str, given: str) -> str:
    """A variant's remedies with the given ones applied in order: ``name[:value]`` adds
    (or re-values) a remedy, ``-name`` removes one, ``none`` removes all so far."""
    chosen = {remedy_key(item): item for item in _remedy_items(own)}
    for item in _remedy_items(given):
        if item == "none":
            chosen.clear()
        elif item.startswith("-"):
            if remedy_key(item[1:]) not in chosen:
                has = ", ".join(chosen) or "none"
                raise BenchError(f"remedies: {item} removes nothing; the remedies at that point are: {has}")
            del chosen[remedy_key(item[1:])]
        else:
            chosen[remedy_key(item)] = item
    return ",".join(chosen.values())


def remedy_overrides(spec: str) -> dict:
    """``"pacgan:3,ema"`` -> ``{"pack": 3, "ema": 0.999, ...}``; plug-in remedies set no field."""
    from bench.gan import plugins

    overrides: dict = {}
    for item in _remedy_items(spec):
        name, _, arg = item.partition(":")
        if name not in REMEDIES:
            if plugins.is_reference(remedy_key(item)):
                continue
            raise BenchError(f"unknown remedy {name!r}; valid: {', '.join(REMEDIES)}, -name (remove), none, or a plug-in 'module:Class'")
        changes = dict(REMEDIES[name])
        if arg:
            first = next(iter(changes))
            changes[first] = parse_value(first, arg)
        overrides |= changes
    return overrides


def plugin_remedies(spec: str) -> list[tuple[str, str]]:
    """(``module:Class``, argument) of each plug-in remedy in a resolved list."""
    keys = [(remedy_key(item), item) for item in _remedy_items(spec)]
    return [(key, item[len(key) + 1 :]) for key, item in keys if key not in REMEDIES]


def resolve(base: dict, settings: list[str] | dict = ()) -> Config:
    """A validated ``Config``: variant ``base`` < its remedies composed with the given
    ones < explicit ``key=value`` settings."""
    pairs = settings.items() if isinstance(settings, dict) else map(_split, settings)
    explicit = {key: parse_value(key, value) if isinstance(value, str) else check_type(key, value) for key, value in pairs}
    explicit["remedies"] = compose_remedies(base.get("remedies", ""), explicit.get("remedies", ""))
    config = Config(**(base | remedy_overrides(explicit["remedies"]) | explicit))
    validate(config)
    return config


def resolve_saved(base: dict, saved: dict, overrides: list[str] = ()) -> Config:
    """A saved configuration (a ``bench best`` file's settings) of the variant whose settings are
    ``base``, with ``--set`` ``overrides`` on top. The saved settings replace the variant's and a
    saved ``remedies`` is the whole list (the variant's own are not added again), so a complete
    saved config comes back exactly, even where it overrides what one of its remedies sets. An
    override replaces a setting as ``--set`` does, and a remedy it adds, re-values or removes
    brings or takes away the settings that remedy sets."""
    saved = dict(saved)
    listed = compose_remedies("", saved.pop("remedies")) if "remedies" in saved else base.get("remedies", "")
    given = dict(map(_split, overrides))
    remedies = compose_remedies(listed, given.pop("remedies", ""))
    changed = set(_remedy_items(listed)) ^ set(_remedy_items(remedies))
    moved = {key for item in changed for key in REMEDIES.get(item.partition(":")[0], {})}
    explicit = {k: v for k, v in saved.items() if k not in moved} | given
    return resolve(base, explicit | {"remedies": ",".join(["none", *_remedy_items(remedies)])})  # "none": the list is whole


def _split(setting: str) -> tuple[str, str]:
    key, sep, value = setting.partition("=")
    if not sep:
        raise BenchError(f"--set {setting!r}: expected key=value, e.g. --set loss=hinge")
    return key.strip(), value.strip()


def validate(c: Config) -> None:
    """Every setting that passes is applied by the train step in every update order;
    a combination that cannot apply is rejected here, in one line naming both."""
    from bench.gan import architectures, losses, plugins, remedies

    def bad(message: str):
        raise BenchError(message)

    for key, valid in CHOICES.items():
        if getattr(c, key) not in valid:
            bad(f"{key}={getattr(c, key)!r}; valid: {', '.join(valid)}")
    for key in ("z_dim", "batch_size", "steps", "n_critic", "pack", "image_size", "log_every", "eval_samples", "final_samples", "checkpoint_every"):
        if getattr(c, key) < 1:
            bad(f"{key} must be at least 1, got {getattr(c, key)}")
    for key in ("d_pretrain", "d_pretrain_every", "unrolled", "clip", "penalty_weight", "r1", "instance_noise", "historical_averaging", "eval_every"):
        if getattr(c, key) < 0:
            bad(f"{key} must be at least 0, got {getattr(c, key)}")
    for key in ("lr_g", "lr_d"):
        if not getattr(c, key) > 0:
            bad(f"{key} must be positive, got {getattr(c, key)}")
    if not 0 <= c.ema < 1 or not 0 <= c.label_smoothing < 1:
        bad("ema and label_smoothing must be in [0, 1)")
    if not (0 <= c.beta1 < 1 and 0 <= c.beta2 < 1):
        bad(f"beta1 and beta2 must be in [0, 1), got {c.beta1} and {c.beta2}")
    if c.d_pretrain_every and not c.d_pretrain:
        bad(f"d_pretrain_every={c.d_pretrain_every} repeats the D pre-training, but d_pretrain is 0; set d_pretrain, or d_pretrain_every=0")
    loss = losses.get(c.loss)
    if c.label_smoothing and not loss.targets:
        bad(f"label_smoothing needs a loss with targets (mm, ns, lsgan, dragan), not {c.loss}")
    if c.update == "separate-d" and not loss.separable:
        bad(f"update=separate-d steps D's real and fake halves with two optimisers, but loss {c.loss} has no real/fake halves (separable=False)")
    options = architectures.options_of(c.architecture)
    for key, remedy, net in (("bn_g", "no-bn-g", "G"), ("bn_d", "no-bn-d", "D")):
        if not getattr(c, key) and key not in options:
            bad(f"{key}=false ({remedy}): architecture {c.architecture} has no batch-norm switch in {net}; infogan (the dcgan variants) has")
    if c.conditional and c.condition == "projection" and "condition" not in options:
        bad(f"condition=projection: architecture {c.architecture} has no projection discriminator; infogan (the dcgan variants) has")
    if c.pack > 1 and c.conditional:
        bad("pacgan packing is not combined with conditional models; drop one of them")
    if c.architecture.startswith("seed003") and not c.conditional:
        bad(f"{c.architecture} is a conditional architecture: set conditional=true")
    # built once per architecture and size (cached): a bad size or plug-in fails before anything runs
    shape = architectures.Shape(1, c.image_size, c.z_dim, 10 if c.conditional else 0, c.pack)
    has_features = architectures.check(c.architecture, shape, tuple((k, getattr(c, k)) for k in sorted(options)))
    uses = [k for k in ("feature_matching", "minibatch_discrimination", "minibatch_std") if getattr(c, k)]
    uses += ["condition=projection"] if c.conditional and c.condition == "projection" else []
    if uses and not has_features:
        bad(f"{', '.join(uses)} need D's features: architecture {c.architecture} must return a bench.gan.architectures.Discriminator")
    for reference, argument in plugin_remedies(c.remedies):
        remedy = plugins.load(reference, "remedy")
        if not (isinstance(remedy, type) and issubclass(remedy, remedies.Remedy)):
            bad(f"remedy {reference!r} is not a subclass of bench.gan.remedies.Remedy")
        build_remedy(reference, argument)


def build_remedy(reference: str, argument: str):
    """A plug-in remedy, built with its argument text if it has one."""
    from bench.gan import plugins

    cls = plugins.load(reference, "remedy")
    try:
        return cls(argument) if argument else cls()
    except Exception as e:
        raise BenchError(f"remedy {reference!r} could not be built with {argument or 'no argument'!r}: {type(e).__name__}: {plugins.first_line(e)}") from None
