"""Import keeps what the raster reader keeps: 16-bit grey with alpha is stored 1-channel and 16-bit."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from core.data.catalog import open_dataset
from core.data.importer import import_paths
from core.data.preprocess import Preprocessing

PREP = Preprocessing(size=16)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png16(array: np.ndarray, colour_type: int) -> bytes:
    """A hand-written 16-bit PNG (Pillow cannot write grey+alpha at 16 bits)."""
    height, width = array.shape[:2]
    samples = array.astype(">u2").reshape(height, -1)
    rows = b"".join(b"\0" + samples[row].tobytes() for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))


def _folder(root: Path, with_alpha: bool) -> Path:
    """Two classes of six 16x16 images each, values 0..4095 (12-bit data in 16-bit samples)."""
    rng = np.random.default_rng(7)
    for label in ("normal", "nodule"):
        (root / label).mkdir(parents=True)
        for number in range(6):
            grey = rng.integers(0, 4096, (16, 16)).astype(np.uint16)
            grey[0, 0], grey[0, 1] = 0, 4095
            array = np.stack([grey, np.full_like(grey, 65535)], axis=-1) if with_alpha else grey
            (root / label / f"{number}.png").write_bytes(_png16(array, 4 if with_alpha else 0))
    return root


def test_grey_alpha_16bit_pngs_import_as_one_channel_16bit(tmp_path: Path) -> None:
    summary = import_paths("ws", [_folder(tmp_path / "la", with_alpha=True)], name="la16", prep=PREP)
    assert summary.images == 12 and summary.skipped == []
    assert not any(".png" in warning for warning in summary.warnings)  # opaque alpha: nothing to say per file
    dataset = open_dataset("ws", summary.dataset_id)
    assert dataset.images.shape == (12, 16, 16, 1) and dataset.images.dtype == np.uint16
    assert dataset.info.channels == 1 and dataset.info.preprocessing["dtype"] == "uint16"
    assert int(dataset.images.max()) == 65535  # the 4095 of each file reaches the top: not the high byte (15/255)


def test_grey_alpha_import_stores_the_same_arrays_as_plain_16bit_grey(tmp_path: Path) -> None:
    with_alpha = import_paths("ws", [_folder(tmp_path / "la", with_alpha=True)], name="la", prep=PREP)
    plain = import_paths("ws", [_folder(tmp_path / "grey", with_alpha=False)], name="grey", prep=PREP)
    la_set, grey_set = open_dataset("ws", with_alpha.dataset_id), open_dataset("ws", plain.dataset_id)
    order_la = np.argsort(la_set.items["name"].to_numpy())
    order_grey = np.argsort(grey_set.items["name"].to_numpy())
    np.testing.assert_array_equal(la_set.images[order_la], grey_set.images[order_grey])
