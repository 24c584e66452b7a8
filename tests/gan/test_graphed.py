"""A CUDA-graphed train step computes what the eager step computes (GPU only)."""

import pytest
import torch

from bench import trainer
from bench.data.batches import Batches
from bench.gan import config, graphed, variants
from bench.gan.model import GAN

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")

STEP_DEPENDENT = {"instance-noise", "historical-averaging"}  # eager by design (test_step_dependent_configs_stay_eager)
REMEDIES = [f"{r}:2" if r in ("n-critic", "unrolled", "d-pretrain") else r for r in config.REMEDIES if r not in STEP_DEPENDENT]
CASES = [(name, []) for name in variants.VARIANTS] + [("dcgan", [f"remedies={r}"]) for r in REMEDIES]
CASES += [("dcgan", ["precision=bf16"]), ("dcgan", ["conditional=true", "condition=projection"])]
# every order with the options it once ignored
CASES += [("seed002-fc", [f"update={order}", *settings]) for order in config.CHOICES["update"]
          for settings in (["loss=wgan-gp", "remedies=r1"], ["loss=wgan", "clip=0.01", "n_critic=2"], ["remedies=feature-matching,unrolled:2,ema"])]


def _config(name, settings):
    extra = ["d_pretrain=2"] if variants.get(name).config().d_pretrain else []
    return variants.get(name).config(["batch_size=16", *extra, *settings])


def _train(config, images, labels, steps, graph: bool):
    torch.manual_seed(0)
    gan = GAN(config, images.shape[1], "cuda")
    batches = Batches(images, labels, config.image_range)
    step_fn = graphed.step_function(gan, batches) if graph else (lambda step: gan.train_step(batches, step))
    for step in range(steps):
        stats = step_fn(step)
    return gan, {k: float(v) for k, v in stats.items()}, step_fn


@cuda
@pytest.mark.parametrize("name, settings", CASES, ids=[" ".join([n, *s]) for n, s in CASES])
def test_graphed_step_matches_eager(name, settings, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    config = _config(name, settings)
    images, labels = trainer.load_training_data("mnist", config.image_size, torch.device("cuda"))
    assert graphed.capturable(GAN(config, 1, "cuda"))
    eager, eager_stats, _ = _train(config, images, labels, 8, graph=False)
    replayed, graph_stats, step_fn = _train(config, images, labels, 8, graph=True)
    assert step_fn.graph is not None  # steps 4..7 were replays
    for (key, a), b in zip(eager.state_dict().items(), replayed.state_dict().values()):
        a, b = a.double(), b.double()  # some CUDA kernels add atomically: equal up to rounding
        assert (a - b).norm() <= 1e-3 * a.norm() + 1e-6, f"{key}: relative difference {float((a - b).norm() / a.norm()):.2e}"
    assert eager_stats.keys() == graph_stats.keys()
    for key in eager_stats:
        assert eager_stats[key] == pytest.approx(graph_stats[key], rel=1e-3, abs=1e-5), key


@cuda
def test_step_dependent_configs_stay_eager():
    for settings in (["remedies=instance-noise"], ["remedies=historical-averaging"]):
        assert not graphed.capturable(GAN(_config("dcgan", settings), 1, "cuda"))


def test_cpu_steps_are_eager():
    gan = GAN(_config("dcgan", []), 1, "cpu")
    assert not graphed.capturable(gan)
    assert not isinstance(graphed.step_function(gan, None), graphed.GraphedStep)


POPULATION_CASES = [("seed000-fc", ["update=alternating"]), ("dcgan", []), ("dcgan-wgan-gp", ["n_critic=2"]), ("seed003-cdcgan", []),
                    ("pacdcgan2", ["remedies=ema,minibatch-discrimination"]), ("seed002-dcgan", [])]  # conditional, dropout


@cuda
@pytest.mark.parametrize("name, settings", POPULATION_CASES, ids=[" ".join([n, *s]) for n, s in POPULATION_CASES])
def test_a_graphed_population_step_matches_its_eager_step(name, settings, monkeypatch):
    """The whole population step as one graph: each member's own generator advanced by the
    replays as by eager steps, its Adam's step count and scalars on the device."""
    from bench.gan.population import Population

    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    configs = [_config(name, [*settings, f"lr_g={lr}"]) for lr in (2e-4, 5e-4, 1e-3)]
    images, labels = trainer.load_training_data("mnist", configs[0].image_size, torch.device("cuda"))
    runs = []
    for graph in (False, True):
        population = Population(configs, [0, 1, 2], images, labels, "cuda", any_device=True)
        step_fn = graphed.population_step_function(population) if graph else population.train_step
        stats = [{k: v.clone() for k, v in step_fn(step).items()} for step in range(8)]
        runs.append((population, stats, step_fn))
    (eager, eager_stats, _), (replayed, graph_stats, step_fn) = runs
    assert step_fn.graph is not None  # steps 4..7 were replays
    for key, a in eager.params.items():
        a, b = a.double(), replayed.params[key].double()
        assert (a - b).norm() <= 1e-3 * a.norm() + 1e-6, key
    for step, (ours, theirs) in enumerate(zip(graph_stats, eager_stats)):
        for key in theirs:
            assert torch.allclose(ours[key], theirs[key], rtol=1e-3, atol=1e-5), (step, key)
    assert [g.get_state().tolist() for g in replayed.generators] == [g.get_state().tolist() for g in eager.generators]
    assert replayed.opt_g.steps == eager.opt_g.steps == 8


def test_a_graphs_feed_gives_a_population_the_batches_its_eager_steps_draw():
    """Before each replay the host refills the index buffers that the captured gathers read:
    [K, n] for a population, each member's next indices from its own stream (CPU-checkable)."""
    from bench.gan.population import Population

    configs = [_config("seed000-fc", [f"lr_g={lr}"]) for lr in (2e-4, 1e-3)]
    images, labels = torch.randint(0, 256, (100, 1, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (100,))
    eager, fed = (Population(configs, [0, 1], images, labels) for _ in range(2))
    expected = [eager.stacked_batches(16) for _ in range(8)]  # 8 x 16 of 100 images: past an epoch's end
    feed = graphed._Feed(fed.stacked_batches)
    assert all(torch.equal(a, b) for a, b in zip(feed(16), expected[0]))  # eager, noting the shape
    feed.buffers, feed.sizes, feed.shapes, feed.capturing = [torch.zeros(feed.shapes[0], dtype=torch.long)], [], [], True
    feed(16)  # what a capture records (run here, on zeros): a gather through the buffer
    for batch in expected[1:]:
        feed.refill()
        assert all(torch.equal(a, b) for a, b in zip(fed.stacked_batches.gather(feed.buffers[0]), batch))
