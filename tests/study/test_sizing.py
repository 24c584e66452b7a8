"""bench run's default --population: 1 on a CPU, sized from the free memory on a GPU."""

import pytest

from bench.gan import population
from bench.study import sizing, spec


def test_trials_train_alone_on_a_cpu_and_on_a_gpu_not_verified_yet():
    study = spec.load("smoke")
    assert sizing.default_population(study, "cpu", 2).population == 1
    on_gpu = sizing.default_population(study, "cuda", 2)  # nothing touches a GPU while populations are unverified there
    assert (on_gpu.population, on_gpu.line()) == (1, "trials train alone: populations are verified on CPU only so far")


def test_a_gpus_free_memory_is_shared_out_by_the_largest_members_measured_cost(monkeypatch):
    study = spec.load("mode-collapse")
    measured = []

    def member_bytes(config, channels, samples, device):  # a fake GPU: members cost by their batch, channels and samples
        measured.append((repr(config.to_dict()), channels, samples))
        return config.batch_size * channels * 2**20 + samples * 2**10

    monkeypatch.setattr(population, "unverified_on", lambda device: None)
    monkeypatch.setattr(sizing, "member_bytes", member_bytes)
    monkeypatch.setattr("torch.cuda.mem_get_info", lambda device: (100 * 2**30, 141 * 2**30))
    sized = sizing.default_population(study, "cuda", 4)
    setups = {(repr(_config(plan).to_dict()), 3 if dataset == "stacked-mnist" else 1, 26_000 if dataset == "stacked-mnist" else 10_000)
              for dataset, plan in study.tasks()}
    assert sorted(measured) == sorted(setups) and len(setups) < len(study.tasks())  # each distinct setup once, with its final evaluation
    largest = max(member_bytes(_config(plan), 3 if d == "stacked-mnist" else 1, 26_000 if d == "stacked-mnist" else 10_000, "cuda")
                  for d, plan in study.tasks())
    assert sized.population == min(int(100 * 2**30 * sizing.MEMORY_SHARE) // (4 * largest), sizing.LARGEST) > 1
    assert f"{largest / 2**20:,.0f} MiB per member" in sized.line() and "for 4 workers" in sized.line()


def _config(plan):
    from bench.gan import variants

    return variants.get(plan.variant).config(plan.fixed)


@pytest.mark.parametrize("free_gib, per_member_mib, workers, expected", [(100, 100, 10, 64), (10, 1000, 2, 4), (1, 4000, 1, 1)])
def test_a_population_is_what_fits_between_one_and_the_largest_measured(free_gib, per_member_mib, workers, expected):
    assert sizing.size_from(free_gib * 2**30, per_member_mib * 2**20, workers, 1.0).population == expected
