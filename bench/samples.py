"""The sample file format shared by ``bench sample`` and ``bench evaluate``.

An ``.npz`` with ``images``: uint8 [N,28,28], [N,1,28,28] or [N,3,28,28] (stacked),
and optionally ``labels``: integer [N] (the class each sample was asked to show).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError
from bench.files import atomic_write


def read(path: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    how = "write one with numpy.savez(path, images=..., labels=...)"
    try:
        loaded = np.load(path, allow_pickle=False)  # never unpickle: a sample file must not run code
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise BenchError(f"{path}: a single .npy array, not an .npz; {how}")
        with loaded as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise BenchError(f"{path}: file not found") from None
    except ValueError as e:
        if "pickle" not in str(e):
            raise BenchError(f"{path}: not a readable .npz file ({e}); {how}") from None
        if not _starts_with(path, (b"PK", b"\x93NUMPY")):  # numpy takes any other file for a pickle
            raise BenchError(f"{path}: not an .npz file (neither a zip archive nor a .npy array); {how}") from None
        raise BenchError(f"{path}: holds object arrays, which would need unpickling and are refused; {how} from plain arrays") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise BenchError(f"{path}: not a readable .npz file ({e}); {how}") from None
    if "images" not in arrays:
        raise BenchError(f"{path}: no 'images' array (found: {', '.join(arrays) or 'nothing'}); save the samples under the key 'images'")
    images, labels = arrays["images"], arrays.get("labels")
    if images.dtype != np.uint8:
        raise BenchError(f"{path}: 'images' is {images.dtype}; it must be uint8 (0..255)")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.shape[2:] != (28, 28) or len(images) == 0:
        raise BenchError(f"{path}: 'images' has shape {list(arrays['images'].shape)}; expected a non-empty [N,28,28], [N,1,28,28] or [N,3,28,28]")
    if labels is not None and (labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer)):
        raise BenchError(f"{path}: 'labels' must be an integer array of shape [{len(images)}], got {labels.dtype} {list(labels.shape)}")
    return torch.from_numpy(images), None if labels is None else torch.from_numpy(labels.astype(np.int64))


def _starts_with(path: Path, magics: tuple[bytes, ...]) -> bool:
    with open(path, "rb") as f:
        return f.read(8).startswith(magics)


def write(path: Path, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
    arrays = {"images": images.cpu().numpy().astype(np.uint8)}
    if labels is not None:
        arrays["labels"] = labels.cpu().numpy().astype(np.int64)
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
