import math

import torch

from bench import data, metrics


def test_real_stacked_mnist_covers_nearly_all_1000_modes():
    r = metrics.score(data.load("stacked-mnist", "test").images, dataset="stacked-mnist")
    assert r["modes_total"] == 1000
    assert r["modes"] >= 990
    assert r["kl_uniform"] < 0.1  # sampling noise of 10,000 draws over 1000 bins is ~0.05
    assert r["fid"] < 1e-3


def test_collapsed_stacked_mnist_has_few_modes():
    mnist = data.load("mnist", "test")
    ones = mnist.images[mnist.labels == 1][:1000]
    triples = torch.cat([ones, ones.roll(1, 0), ones.roll(2, 0)], dim=1)  # every sample is (1, 1, 1)
    r = metrics.score(triples, dataset="stacked-mnist")
    assert r["modes"] <= 20  # (1,1,1) plus a few misclassified channels
    assert r["kl_uniform"] > math.log(1000) - 0.5


def test_stacked_labels_check_every_channel():
    real = data.load("stacked-mnist", "test")
    right = metrics.score(real.images[:2000], real.labels[:2000], dataset="stacked-mnist")
    swapped = metrics.score(real.images[:2000], (real.labels[:2000] + 1) % 1000, dataset="stacked-mnist")
    assert right["label_accuracy"] > 0.95
    assert swapped["label_accuracy"] < 0.05
