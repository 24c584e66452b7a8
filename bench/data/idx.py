"""Read and write IDX files (the MNIST container format), verified by SHA-256.

Checksums are taken over the *decompressed* IDX bytes, so a ``.gz`` file and its
unpacked twin verify against the same entry.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from bench.errors import BenchError

_UBYTE = 0x08


def read_bytes(path: Path) -> bytes:
    """Raw IDX bytes of ``path`` (gunzipped when it ends in .gz)."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except FileNotFoundError:
        raise BenchError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as e:
        raise BenchError(f"{path}: unreadable or truncated ({e}); replace the file") from None


def parse(data: bytes, path: Path) -> np.ndarray:
    """Decode IDX bytes into a uint8 array, checking header and length."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _UBYTE:
        raise BenchError(f"{path}: not an unsigned-byte IDX file; replace the file")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise BenchError(
            f"{path}: holds {len(data) - header} bytes of data but its header says shape {shape};"
            " the file is truncated or corrupt, replace it"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load(path: Path, sha256: str | None) -> np.ndarray:
    """Read one IDX file; verify its checksum when one is known."""
    data = read_bytes(path)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise BenchError(
            f"{path}: SHA-256 mismatch (corrupt or a different data set); replace the file"
            " with an intact copy"
        )
    return parse(data, path)


def encode(array: np.ndarray) -> bytes:
    """IDX bytes for a uint8 array."""
    if array.dtype != np.uint8:
        raise ValueError("IDX encoding here is for uint8 arrays")
    header = bytes([0, 0, _UBYTE, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + np.ascontiguousarray(array).tobytes()


def write_gz(path: Path, array: np.ndarray) -> str:
    """Write ``array`` as gzipped IDX (reproducible: no timestamp); return its SHA-256."""
    data = encode(array)
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return hashlib.sha256(data).hexdigest()
