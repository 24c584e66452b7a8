import hashlib
import shutil

import pytest
import torch

from bench import data
from bench.data import idx, stacked
from bench.errors import BenchError

needs_fashion = pytest.mark.skipif(
    not data.DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist"
)


def test_mnist_counts_and_first_labels():
    train, test = data.load("mnist", "train"), data.load("mnist", "test")
    assert train.images.shape == (60_000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10_000, 1, 28, 28)
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert train.images.max() == 255 and train.images.min() == 0


def test_bundled_files_match_recorded_checksums():
    sums = data.checksums()
    for file in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        raw = idx.read_bytes(data.idx_path(data.source_dir("mnist"), file))
        assert hashlib.sha256(raw).hexdigest() == sums[f"mnist/{file}"]
    assert all(state == "ok" for _, state in data.verify("mnist"))


@needs_fashion
def test_fashion_mnist_counts_and_first_labels():
    train, test = data.load("fashion-mnist", "train"), data.load("fashion-mnist", "test")
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.labels[:5].tolist() == [9, 0, 0, 3, 0]
    assert torch.bincount(train.labels).tolist() == [6000] * 10


def test_stacked_mnist_is_deterministic_and_decodes():
    a, b = data.load("stacked-mnist", "test"), data.load("stacked-mnist", "train")
    assert a.images.shape == (10_000, 3, 28, 28) and b.images.shape == (128_000, 3, 28, 28)
    assert a.num_classes == 1000
    mnist = data.load("mnist", "test")
    again_images, again_labels = stacked.build(mnist.images, mnist.labels, 10_000, stacked.TEST_SEED)
    assert torch.equal(again_images, a.images) and torch.equal(again_labels, a.labels)
    # each channel is a real MNIST test digit whose label is the matching decimal digit
    digits = stacked.decode(a.labels[:50])
    for i in range(50):
        for c in range(3):
            matches = (mnist.images[:, 0] == a.images[i, c]).flatten(1).all(1)
            assert digits[i, c].item() in mnist.labels[matches].tolist()
    assert len(torch.unique(b.labels)) == 1000


def test_stacked_label_coding_round_trip():
    labels = torch.arange(1000)
    digits = stacked.decode(labels)
    assert digits[123].tolist() == [1, 2, 3] and digits[7].tolist() == [0, 0, 7]
    assert torch.equal(stacked.encode(digits), labels)


def _torchvision_copy(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in data.source_dir("mnist").glob("*.gz"):
        shutil.copy(f, raw / f.name)
    return raw


def test_torchvision_layout_root_loads(tmp_path):
    _torchvision_copy(tmp_path)
    ds = data.load("mnist", "test", root=tmp_path)
    assert torch.equal(ds.labels, data.load("mnist", "test").labels)
    assert "MNIST/raw" in ds.source


def test_corrupted_file_names_file_and_fix(tmp_path):
    raw = _torchvision_copy(tmp_path)
    target = raw / "t10k-labels-idx1-ubyte.gz"
    decoded = bytearray(idx.read_bytes(target))
    decoded[100] = (decoded[100] + 1) % 10  # one label changed, still a valid IDX file
    target.unlink()
    (raw / "t10k-labels-idx1-ubyte").write_bytes(bytes(decoded))
    with pytest.raises(BenchError, match=r"t10k-labels-idx1-ubyte: SHA-256 mismatch.*replace the file"):
        data.load("mnist", "test", root=tmp_path)


def test_missing_file_names_file(tmp_path):
    raw = _torchvision_copy(tmp_path)
    (raw / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(BenchError, match=r"t10k-images-idx3-ubyte.gz: file not found"):
        data.load("mnist", "test", root=tmp_path)


def test_missing_root_says_which_layout(tmp_path):
    with pytest.raises(BenchError, match=r"torchvision-layout folder \(ROOT/FashionMNIST/raw\)"):
        data.load("fashion-mnist", "train", root=tmp_path)


def test_missing_fashion_mnist_says_which_package(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    with pytest.raises(BenchError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist")


def test_unknown_names_list_choices():
    with pytest.raises(BenchError, match="mnist, fashion-mnist, stacked-mnist"):
        data.load("cifar10")
    with pytest.raises(BenchError, match="train, test"):
        data.load("mnist", "valid")
