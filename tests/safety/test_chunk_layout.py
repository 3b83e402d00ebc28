"""The action-chunk wire layout and its stamp-pairing checksum."""

from __future__ import annotations

import zlib

import numpy as np

from robot_rl.wire.chunk_layout import chunk_checksum, chunk_dims, decode_chunk


def test_checksum_is_crc32_of_little_endian_float32_row_major():
    chunk = np.arange(6, dtype=np.float64).reshape(2, 3)
    expected = zlib.crc32(np.array([0, 1, 2, 3, 4, 5], dtype="<f4").tobytes())
    assert chunk_checksum(chunk) == f"crc32:{expected:08x}"
    assert chunk_checksum(chunk) != chunk_checksum(chunk.T)


def test_decode_checks_labels_sizes_strides_and_length():
    data = np.arange(8 * 7, dtype=np.float32)
    chunk, why = decode_chunk(chunk_dims(8, 7), 0, data, (8, 7))
    assert why == "" and chunk.shape == (8, 7) and chunk[2, 3] == 2 * 7 + 3
    assert decode_chunk(chunk_dims(7, 8), 0, data, (8, 7))[0] is None
    assert decode_chunk([("h", 8, 56), ("action", 7, 7)], 0, data, (8, 7))[0] is None
    assert "data_offset" in decode_chunk(chunk_dims(8, 7), 1, data, (8, 7))[1]
    assert "expected 56 values" in decode_chunk(chunk_dims(8, 7), 0, data[:-1], (8, 7))[1]
    assert "no dimensions" in decode_chunk([], 0, data, (8, 7))[1]
