"""Study files: the shipped ones load; malformed ones stop with one line naming file and field."""

import dataclasses

import pytest

from bench.errors import BenchError
from bench.study import spec

VALID = """
datasets = ["mnist"]
trials = 2
objectives = ["fid"]
[budget]
cpu = 100
full = 1000
[variants.seed000-fc.search]
lr_g = { type = "log-float", low = 1e-4, high = 1e-3 }
"""


@pytest.mark.parametrize("name", ["smoke", "seeds", "mode-collapse", "lucic"])
def test_shipped_studies_load(name):
    study = spec.load(name)
    assert study.name == name and study.tasks()


def test_a_valid_file_parses_into_tasks(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(VALID)
    study = spec.load(str(path))
    assert study.tasks()[0][0] == "mnist" and study.tasks()[0][1].variant == "seed000-fc"
    assert study.objectives == (("fid", "minimize"),)
    assert study.variants[0].search[0] == spec.Param("lr_g", "log-float", 1e-4, 1e-3)


def test_mode_collapse_follows_the_pacgan_setting():
    study = spec.load("mode-collapse")
    assert study.evaluation_for("stacked-mnist")["final_samples"] == 26000
    assert study.evaluation_for("mnist")["final_samples"] == 10000
    assert {"pacdcgan2", "dcgan+unrolled", "seed004-dcgan"} <= {v.name for v in study.variants}
    assert [d for d, v in study.tasks() if v.name == "seed004-dcgan"] == ["mnist"]


MALFORMED = [
    ("colour = 'red'\n" + VALID, r"colour: unknown key; valid: baseline, budget, datasets"),
    (VALID.replace('["mnist"]', '["cifar"]'), r"datasets: unknown data set 'cifar'; valid: mnist"),
    (VALID.replace("trials = 2", "trials = 'two'"), r"trials: expected an integer number of trials"),
    (VALID.replace("trials = 2", "trials = 0"), r"trials: must be at least 1"),
    (VALID.replace('["fid"]', '["sharpness"]'), r"objectives\[0\]: 'sharpness' is not a metric; valid: fid"),
    (VALID.replace('["fid"]', "[]"), r"objectives: empty"),
    (VALID.replace("seed000-fc", "seed999"), r"variants.seed999: unknown variant 'seed999'; valid: seed000-fc"),
    (VALID.replace("low = 1e-4, high = 1e-3", "low = 1e-3, high = 1e-4"), r"variants.seed000-fc.search.lr_g: empty search range"),
    (VALID.replace("lr_g = {", "speed = {"), r"variants.seed000-fc.search.speed: not a setting; valid: architecture"),
    (VALID.replace('"log-float"', '"gaussian"'), r"search.lr_g.type: 'gaussian'; valid: float, log-float, int, categorical"),
    (VALID.replace("low = 1e-4", "low = 0.0").replace('"log-float"', '"log-float"'), r"search.lr_g.low: log-float needs low > 0"),
    (VALID.replace("cpu = 100\n", ""), r"budget.cpu: missing"),
    (VALID.replace("cpu = 100", "cpu = -5"), r"budget.cpu: must be at least 1 step"),
    (VALID + "[variants.dcgan.fixed]\nloss = 'softmax'\n", r"variants.dcgan.fixed: unknown loss 'softmax'"),
    (VALID + "[variants.dcgan.fixed]\nbatch_size = 6.5\n", r"variants.dcgan.fixed: batch_size=6.5: expected an int"),
    (VALID + "[variants.dcgan.search]\nbatch_size = { type = 'log-float', low = 8.0, high = 64.0 }\n", r"batch_size is a int setting; use: int, categorical"),
    (VALID + "[variants.dcgan.search]\nloss = { type = 'categorical', choices = [] }\n", r"search.loss.choices: empty"),
    (VALID + "[variants.dcgan]\nfixed = { remedies = 'ttur' }\nsearch = { lr_d = { type = 'log-float', low = 1e-4, high = 1e-3 } }\n",
     r"variants.dcgan.search.lr_d: samples lr_d, which remedy ttur sets; drop one of them"),
    (VALID + "[variants.pacdcgan2.search]\npack = { type = 'int', low = 1, high = 4 }\n",
     r"variants.pacdcgan2.search.pack: samples pack, which remedy pacgan:2 sets"),
    (VALID + "[variants.dcgan]\nfixed = { beta1 = 0.0 }\nsearch = { beta1 = { type = 'float', low = 0.0, high = 0.9 } }\n",
     r"variants.dcgan.search.beta1: samples beta1, which fixed sets"),
    (VALID + '[variants."../../escape"]\nvariant = "dcgan"\n', r'variants.../../escape: an entry\'s name becomes a folder under BENCH_HOME'),
    (VALID.replace("high = 1e-3 }", "high = 1e-3, scale = [1, 4] }"), r"search.lr_g.scale: needs a float parameter and one positive factor per setting \(lr_g\)"),
    ("sampler = 'grid'\n" + VALID, r"sampler: 'grid'; valid: tpe, random"),
    (VALID + "[variants.dcgan]\ndatasets = ['fashion-mnist']\n", r"variants.dcgan.datasets: 'fashion-mnist' is not among the study's datasets"),
    (VALID + "[evaluation]\nfinal_samples = 5\n", r"evaluation.final_samples: must be at least 10"),
    ("datasets = [", r"not valid TOML"),
    ("baseline = 'dcgan-ns'\n" + VALID, r"baseline: 'dcgan-ns' is not an entry of this study; valid: seed000-fc"),
    ("repeats = [1, 1]\n" + VALID, r"repeats: seeds must differ, got \[1, 1\]"),
]


@pytest.mark.parametrize("text, message", MALFORMED)
def test_malformed_study_stops_with_one_line_naming_the_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(BenchError, match=message) as error:
        spec.load(str(path))
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_unknown_study_lists_the_shipped_ones():
    with pytest.raises(BenchError, match="no such study; shipped studies: lucic, mode-collapse, seeds, smoke"):
        spec.load("nope")


def test_a_study_of_your_own_in_studies_comes_before_the_shipped_one(tmp_path, monkeypatch, study_file):
    monkeypatch.chdir(tmp_path)  # no studies/ here: the shipped ones, from the package
    assert spec.load("smoke").path == spec.SHIPPED / "smoke.toml" and spec.SHIPPED.parent.name == "bench"
    (tmp_path / "studies").mkdir()
    study_file(tmp_path / "studies", "smoke", 1, 10)
    study_file(tmp_path / "studies", "mine", 1, 10)
    own = spec.load("smoke")
    assert own.path == spec.OWN / "smoke.toml" and own.trials == 1  # not the shipped smoke's 2
    with pytest.raises(BenchError, match="shipped studies: lucic, mode-collapse, seeds, smoke; in ./studies: mine"):
        spec.load("nope")


def test_the_repositorys_studies_are_the_shipped_ones():
    from pathlib import Path

    top = Path(spec.__file__).resolve().parents[2] / "studies"
    for path in spec.SHIPPED.glob("*.toml"):
        assert (top / path.name).resolve() == path  # studies/ links to the package's copies


def test_lucic_ties_both_learning_rates_to_one_sampled_value():
    study = spec.load("lucic")
    for plan in study.variants:
        (lr,) = [p for p in plan.search if p.name == "lr"]
        assert lr.targets == ("lr_g", "lr_d") and lr.type == "log-float"
        assert not {"lr_g", "lr_d"} & {p.name for p in plan.search}


def test_a_tied_parameter_must_name_settings_of_one_type(tmp_path):
    path = tmp_path / "tied.toml"
    path.write_text(VALID.replace('lr_g = { type = "log-float", low = 1e-4, high = 1e-3 }',
                                  'lr = { type = "log-float", low = 1e-4, high = 1e-3, sets = ["lr_g", "batch_size"] }'))
    with pytest.raises(BenchError, match=r"search.lr.sets: settings of different types \(lr_g, batch_size\) cannot share a value"):
        spec.load(str(path))


@pytest.mark.parametrize("metric, direction", [("ndb_k", "minimize"), ("ndb_jsd", "minimize"), ("distinct_images", "maximize"), ("coverage_min", "maximize")])
def test_the_collapse_metrics_are_objectives_with_their_declared_direction(tmp_path, metric, direction):
    path = tmp_path / "ok.toml"
    path.write_text(VALID.replace('["fid"]', f'["fid", "{metric}"]'))
    assert spec.load(str(path)).objectives == (("fid", "minimize"), (metric, direction))


def _load(tmp_path, text):
    path = tmp_path / "study.toml"
    path.write_text(text)
    return spec.load(str(path))


DEFAULTS = VALID.replace("[variants.seed000-fc.search]", "[defaults.search]") + """[defaults.fixed]
beta1 = 0.0
log_every = 50
"""
LR_G = spec.Param("lr_g", "log-float", 1e-4, 1e-3)


def test_defaults_reach_every_entry_and_an_entrys_own_key_replaces_the_default_of_its_name(tmp_path):
    study = _load(tmp_path, DEFAULTS + """
[variants.seed000-fc]
[variants.dcgan-ns]
fixed = { log_every = 10 }
search = { lr_g = { type = "log-float", low = 1e-5, high = 1e-2 }, beta2 = { type = "float", low = 0.9, high = 0.999 } }
""")
    plain, own = study.variants
    assert plain.search == (LR_G,) and plain.fixed == {"beta1": 0.0, "log_every": 50}
    assert own.search == (spec.Param("lr_g", "log-float", 1e-5, 1e-2), spec.Param("beta2", "float", 0.9, 0.999))
    assert own.fixed == {"beta1": 0.0, "log_every": 10}


@pytest.mark.parametrize("drop, search, fixed", [
    (["search.lr_g"], (), {"beta1": 0.0, "log_every": 50}),
    (["fixed.beta1"], (LR_G,), {"log_every": 50}),
    (["search", "fixed"], (), {}),
])
def test_drop_defaults_leaves_defaults_out_of_one_entry(tmp_path, drop, search, fixed):
    dropped, kept = _load(tmp_path, DEFAULTS + f"[variants.seed000-fc]\ndrop_defaults = {drop!r}\n[variants.dcgan-ns]\n").variants
    assert (dropped.search, dropped.fixed) == (search, fixed)
    assert (kept.search, kept.fixed) == ((LR_G,), {"beta1": 0.0, "log_every": 50})


@pytest.mark.parametrize("entry, message", [
    ("drop_defaults = ['search.beta1']", r"variants.dcgan-ns.drop_defaults: 'search.beta1' drops nothing; \[defaults\] gives: search.lr_g, fixed.beta1"),
    ("drop_defaults = ['colour']", r"drop_defaults: 'colour' drops nothing"),
    ("drop_defaults = 'search'", r"drop_defaults: expected a list like"),
    ("search = { beta1 = { type = 'float', low = 0.0, high = 0.9 } }",
     r"variants.dcgan-ns.search.beta1: samples beta1, which \[defaults.fixed\] sets; drop one of them .*drop_defaults = \[\"fixed.beta1\"\]"),
    ("search = { lr = { type = 'log-float', low = 1e-4, high = 1e-3, sets = ['lr_g', 'lr_d'] } }",
     r"variants.dcgan-ns.search.lr: samples lr_g, which search.lr_g samples too; drop one of them; .*drop_defaults = \[\"search.lr_g\"\]"),
    ("fixed = { remedies = 'ttur' }", r"variants.dcgan-ns.search.lr_g: samples lr_g, which remedy ttur sets; .*drop_defaults = \[\"search.lr_g\"\]"),
])
def test_an_entry_at_odds_with_the_defaults_is_told_how_to_leave_them_out(tmp_path, entry, message):
    text = DEFAULTS.replace("log_every = 50\n", "") + f"[variants.dcgan-ns]\n{entry}\n"
    with pytest.raises(BenchError, match=message):
        _load(tmp_path, text)


@pytest.mark.parametrize("defaults, message", [
    ("[defaults]\nset = { beta1 = 0.0 }\n", r"defaults.set: unknown key; valid: fixed, search"),
    ("[defaults.search]\nspeed = { type = 'float', low = 0.0, high = 1.0 }\n", r"defaults.search.speed: not a setting"),
    ("[defaults.search]\nlr_g = { type = 'float', low = 1.0, high = 0.0 }\n", r"defaults.search.lr_g: empty search range"),
    ("[defaults.fixed]\nbeta1 = 'high'\n", r"defaults.fixed: beta1='high': expected a float"),
])
def test_malformed_defaults_are_named_as_such(tmp_path, defaults, message):
    with pytest.raises(BenchError, match=message):
        _load(tmp_path, VALID + defaults)


def test_two_parameters_may_not_sample_one_setting(tmp_path):
    with pytest.raises(BenchError, match=r"search.lr: samples lr_g, which search.lr_g samples too; drop one of them$"):
        _load(tmp_path, VALID + "lr = { type = 'log-float', low = 1e-4, high = 1e-3, sets = ['lr_g', 'lr_d'] }\n")


def test_mode_collapse_with_defaults_runs_exactly_the_plans_it_ran_when_every_entry_spelled_them_out():
    """The expectation is the file as it was before [defaults] (git show f67a68c:bench/studies/mode-collapse.toml), written out."""
    lr = [spec.Param("lr_g", "log-float", 5e-5, 1e-3), spec.Param("lr_d", "log-float", 5e-5, 1e-3)]
    beta1 = spec.Param("beta1", "categorical", choices=(0.0, 0.5, 0.9))
    ttur = spec.Param("lr", "log-float", 2.5e-5, 2.5e-4, sets=("lr_g", "lr_d"), scale=(1.0, 4.0))
    losses = ["dcgan-mm", "dcgan-ns", "dcgan-lsgan", "dcgan-wgan", "dcgan-wgan-gp", "dcgan-dragan", "dcgan-hinge", "pacdcgan2", "pacdcgan3", "pacdcgan4"]
    remedies = ["feature-matching", "minibatch-discrimination", "minibatch-std", "label-smoothing", "historical-averaging", "instance-noise",
                "no-bn-g", "no-bn-d", "n-critic", "ttur", "d-pretrain", "unrolled", "ema", "spectral-norm", "r1"]
    presets = ["seed000-fc", "seed000-fc-cnnd", "seed001-dcgan", "seed002-fc", "seed002-dcgan", "seed004-dcgan", "seed004-dcgan-fixed"]
    expected = tuple(
        [spec.VariantPlan(name, name, {}, (*lr, beta1)) for name in losses]
        + [spec.VariantPlan("dcgan+ttur", "dcgan", {}, (ttur,)) if r == "ttur" else spec.VariantPlan(f"dcgan+{r}", "dcgan", {"remedies": r}, tuple(lr))
           for r in remedies]
        + [spec.VariantPlan(name, name, {}, tuple(lr), ("mnist",)) for name in presets]
    )
    study = spec.load("mode-collapse")
    assert study.variants == expected  # the same entries, in the same order, each with the same search (in the same order) and settings
    assert (study.datasets, study.trials, study.repeats, study.objectives) == (("mnist", "stacked-mnist"), 8, (11, 12, 13), (("fid", "minimize"), ("kl_uniform", "minimize")))
    assert len(spec.SHIPPED.joinpath("mode-collapse.toml").read_text().splitlines()) < 150  # 181 lines before


@pytest.mark.parametrize("name", ["smoke", "seeds", "mode-collapse", "lucic"])
def test_the_resolved_study_is_a_study_file_that_runs_the_same_plans(tmp_path, name):
    from bench.files import toml_text

    study = spec.load(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(toml_text(spec.resolved(study)))
    again = spec.load(str(path))
    assert again.variants == tuple(dataclasses.replace(v, datasets=v.datasets or study.datasets) for v in study.variants)
    assert dataclasses.replace(again, path=study.path, variants=study.variants) == study
    assert "defaults" not in path.read_text()
