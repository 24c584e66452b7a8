"""MNIST-family data sets as uint8 tensors ready to live on the GPU.

``load(name, split)`` returns images [N, C, 28, 28] uint8 and int64 labels. Every
file is checked against ``SHA256SUMS``; nothing is silently downloaded or rebuilt.
Sources, in order: a torchvision-layout ``root`` given by the user (optionally
downloaded by torchvision), else the copy bundled with bench (MNIST) or Debian's
``dataset-fashion-mnist`` package (Fashion-MNIST).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.data import idx, stacked
from bench.errors import BenchError

DATASETS = ("mnist", "fashion-mnist", "stacked-mnist")
SPLITS = ("train", "test")

_HERE = Path(__file__).parent
_BUNDLED_MNIST = _HERE / "mnist"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_TORCHVISION_DIR = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_FILES = {  # split -> (images, labels)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class Dataset:
    name: str
    split: str
    images: torch.Tensor  # uint8 [N, C, 28, 28]
    labels: torch.Tensor  # int64 [N]
    num_classes: int
    source: str

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def __len__(self) -> int:
        return len(self.labels)


def checksums() -> dict[str, str]:
    """``"<dataset>/<file>" -> SHA-256`` of the decompressed IDX files."""
    lines = (_HERE / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def split_checksums(name: str, split: str) -> dict[str, str]:
    """``"<dataset>/<file>" -> SHA-256`` of the IDX files a split is read from (stacked
    MNIST: the MNIST files it draws from)."""
    check_name(name, split)
    base, splits = ("mnist", SPLITS if split == "train" else (split,)) if name == "stacked-mnist" else (name, (split,))
    sums = checksums()
    return {f"{base}/{file}": sums[f"{base}/{file}"] for s in splits for file in _FILES[s]}


def recipe(name: str, split: str) -> str:
    """How a split is built from its files beyond reading them: stacked MNIST's draw."""
    if name != "stacked-mnist":
        return ""
    size, seed = (stacked.TRAIN_SIZE, stacked.TRAIN_SEED) if split == "train" else (stacked.TEST_SIZE, stacked.TEST_SEED)
    return f"stacked: {size} images drawn with seed {seed}"


def check_name(name: str, split: str = "train") -> None:
    if name not in DATASETS:
        raise BenchError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise BenchError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")


def load(name: str, split: str = "train", root: str | Path | None = None, download: bool = False) -> Dataset:
    """Load a data set split; ``root`` is a torchvision-layout folder (``ROOT/MNIST/raw``)."""
    check_name(name, split)
    if name == "stacked-mnist":
        return _load_stacked(split, root, download)
    directory = source_dir(name, root, download)
    images, labels = _read_split(name, directory, split)
    return Dataset(name, split, images, labels, 10, str(directory))


def source_dir(name: str, root: str | Path | None = None, download: bool = False) -> Path:
    """The folder holding ``name``'s IDX files; a one-line error when there is none."""
    if root is not None:
        directory = Path(root) / _TORCHVISION_DIR[name] / "raw"
        if not Path(root).is_dir() and not download:
            raise BenchError(f"--data-root {root}: no such folder; give a torchvision-layout folder (ROOT/{_TORCHVISION_DIR[name]}/raw)")
        if download:
            _torchvision_download(name, Path(root))
        if not directory.is_dir():
            raise BenchError(
                f"{directory}: not found; --data-root must be a torchvision-layout folder"
                f" (ROOT/{_TORCHVISION_DIR[name]}/raw), or fetch it with 'bench data --data-root ROOT --download' on a machine with a network"
            )
        return directory
    if download:
        raise BenchError("--download needs --data-root: the folder torchvision downloads into")
    if name == "mnist":
        return _BUNDLED_MNIST
    if not DEBIAN_FASHION_MNIST.is_dir():
        raise BenchError(
            f"Fashion-MNIST not found in {DEBIAN_FASHION_MNIST}; install it with"
            " 'apt-get install dataset-fashion-mnist' or pass --data-root DIR (torchvision layout)"
        )
    return DEBIAN_FASHION_MNIST


def check_available(name: str, root: str | Path | None = None) -> None:
    """A one-line error when ``name``'s files are not there: commands call it before
    they write anything (the checksums are checked when the files are read)."""
    check_name(name)
    base = "mnist" if name == "stacked-mnist" else name
    directory = source_dir(base, root)
    missing = [file for files in _FILES.values() for file in files if not idx_path(directory, file).exists()]
    if missing:
        raise BenchError(f"{directory}: {', '.join(missing)} missing (plain or .gz); copy them there, or see 'bench data'")


def idx_path(directory: Path, file: str) -> Path:
    """``file`` or ``file.gz`` in ``directory`` (the plain file when both exist)."""
    plain = directory / file
    return plain if plain.exists() else directory / f"{file}.gz"


@functools.lru_cache(maxsize=8)
def _read_split(name: str, directory: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    sums = checksums()
    image_file, label_file = _FILES[split]
    images = idx.load(idx_path(directory, image_file), sums[f"{name}/{image_file}"])
    labels = idx.load(idx_path(directory, label_file), sums[f"{name}/{label_file}"])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (len(images),):
        raise BenchError(f"{directory}: {image_file} has shape {images.shape}, labels {labels.shape}; expected [N,28,28] and [N]")
    images_t = torch.from_numpy(images.copy()).unsqueeze(1)
    labels_t = torch.from_numpy(labels.astype("int64"))
    return images_t, labels_t  # cached and shared: callers copy before editing in place


def _load_stacked(split: str, root, download) -> Dataset:
    if split == "train":  # VEEGAN/PacGAN draw from all 70k MNIST images
        parts = [load("mnist", s, root, download) for s in SPLITS]
        images = torch.cat([p.images for p in parts])
        labels = torch.cat([p.labels for p in parts])
        seed, size = stacked.TRAIN_SEED, stacked.TRAIN_SIZE
    else:
        test = load("mnist", "test", root, download)
        images, labels = test.images, test.labels
        seed, size = stacked.TEST_SEED, stacked.TEST_SIZE
    images, labels = stacked.build(images, labels, size, seed)
    source = f"MNIST {'train+test' if split == 'train' else 'test'} in {source_dir('mnist', root)}, stacked with seed {seed}"
    return Dataset("stacked-mnist", split, images, labels, 1000, source)


def _torchvision_download(name: str, root: Path) -> None:
    import torchvision.datasets

    cls = {"mnist": torchvision.datasets.MNIST, "fashion-mnist": torchvision.datasets.FashionMNIST}[name]
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as e:  # network errors come in many types
        raise BenchError(f"download of {name} into {root} failed ({e}); check the network or drop --download") from None


def verify(name: str, root: str | Path | None = None, download: bool = False) -> list[tuple[Path, str]]:
    """(file, 'ok' | 'MISMATCH' | 'missing' | 'unreadable') for each IDX file behind ``name``."""
    base = "mnist" if name == "stacked-mnist" else name
    directory = source_dir(base, root, download)
    sums, status = checksums(), []
    for files in _FILES.values():
        for file in files:
            path = idx_path(directory, file)
            try:
                ok = hashlib.sha256(idx.read_bytes(path)).hexdigest() == sums[f"{base}/{file}"]
                status.append((path, "ok" if ok else "MISMATCH"))
            except BenchError:
                status.append((path, "missing" if not path.exists() else "unreadable"))
    return status


def describe(name: str, root: str | Path | None = None, download: bool = False) -> Iterator[str]:
    """Lines for ``bench data``: file checksums first (then an error if any failed), counts per split and class."""
    check_name(name)
    status = verify(name, root, download)
    yield f"{name}:"
    yield from (f"  {state:<10} {path}" for path, state in status)
    bad = [str(path) for path, state in status if state != "ok"]
    if bad:
        raise BenchError(f"{name}: checksum check failed for {', '.join(bad)}; replace those files with intact copies")
    for split in SPLITS:
        ds = load(name, split, root)
        counts = torch.bincount(ds.labels, minlength=ds.num_classes).tolist()
        shape = "x".join(map(str, ds.images.shape[1:]))
        yield f"  {split:<5} {len(ds):>7,} images {shape} uint8  from {ds.source}"
        if ds.num_classes <= 10:
            yield "        per class: " + " ".join(f"{c}:{k}" for c, k in enumerate(counts))
        else:
            seen = sum(k > 0 for k in counts)
            yield f"        {seen}/{ds.num_classes} classes present, {min(counts)}..{max(counts)} images per class"
