import gzip

import numpy as np
import pytest

from bench.data import idx
from bench.errors import BenchError


def test_encode_parse_round_trip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    digest = idx.write_gz(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(idx.load(tmp_path / "a.gz", digest), array)


def test_gz_and_plain_share_a_checksum(tmp_path):
    array = np.ones((5, 28, 28), dtype=np.uint8)
    digest = idx.write_gz(tmp_path / "a.gz", array)
    (tmp_path / "a").write_bytes(gzip.decompress((tmp_path / "a.gz").read_bytes()))
    np.testing.assert_array_equal(idx.load(tmp_path / "a", digest), array)


def test_truncated_data_is_reported(tmp_path):
    data = idx.encode(np.zeros((10, 28, 28), dtype=np.uint8))
    (tmp_path / "t").write_bytes(data[:-100])
    with pytest.raises(BenchError, match="truncated or corrupt"):
        idx.load(tmp_path / "t", None)


def test_not_idx_is_reported(tmp_path):
    (tmp_path / "x").write_bytes(b"hello world")
    with pytest.raises(BenchError, match="not an unsigned-byte IDX file"):
        idx.load(tmp_path / "x", None)


def test_truncated_gzip_is_reported(tmp_path):
    idx.write_gz(tmp_path / "a.gz", np.zeros((100, 28, 28), dtype=np.uint8))
    raw = (tmp_path / "a.gz").read_bytes()
    (tmp_path / "a.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BenchError, match="unreadable or truncated"):
        idx.load(tmp_path / "a.gz", None)
