"""Raster reader: bit depths, colour models, alpha, palettes, TIFF pages, and bad files, on tiny images."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from core.data.raster import raster_kind, read_raster
from core.data.windowing import render_8bit
from core.errors import UserError


def _pillow(array: np.ndarray, fmt: str = "PNG", mode: str | None = None, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array, mode) if mode else Image.fromarray(array)
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_claiming(width: int, height: int, depth: int = 8, colour_type: int = 0, rows: bytes = b"\0" * 16) -> bytes:
    """A PNG whose header says width x height, without the memory such an image would need."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


def test_8bit_grey_png_keeps_values_and_full_range_window() -> None:
    array = np.arange(20, dtype=np.uint8).reshape(4, 5) * 12
    image = read_raster(_pillow(array), "grey.png")
    assert image.format == "png" and image.frames.shape == (1, 4, 5) and image.frames.dtype == np.float32
    np.testing.assert_array_equal(image.frames[0], array)
    assert (image.bits, image.is_color, image.value_range) == (8, False, (0.0, 255.0))
    assert (image.default_window.center, image.default_window.width, image.default_window.source) == (127.5, 255.0, "full-range")
    np.testing.assert_array_equal(render_8bit(image), array)


def test_16bit_grey_png_keeps_depth_and_gets_an_auto_window() -> None:
    array = np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000
    image = read_raster(_pillow(array), "grey16.png")
    np.testing.assert_array_equal(image.frames[0], array)
    assert image.bits == 16 and image.value_range == (0.0, 57000.0)
    assert image.default_window.source == "auto" and 0 < image.default_window.width <= 57000


def test_rgb_png_and_rgba_with_alpha_dropped() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    image = read_raster(_pillow(rgb), "rgb.png")
    assert image.is_color and image.frames.shape == (1, 3, 4, 3) and image.photometric == "RGB"
    np.testing.assert_array_equal(image.frames[0], rgb)
    rgba = np.concatenate([rgb, np.full((3, 4, 1), 7, np.uint8)], axis=-1)
    dropped = read_raster(_pillow(rgba), "rgba.png")
    assert dropped.frames.shape == (1, 3, 4, 3)
    np.testing.assert_array_equal(dropped.frames[0], rgb)  # straight alpha: colour values untouched


def test_grey_with_alpha_becomes_grey() -> None:
    la = np.stack([np.full((2, 3), 90, np.uint8), np.full((2, 3), 10, np.uint8)], axis=-1)
    image = read_raster(_pillow(la, mode="LA"), "la.png")
    assert not image.is_color and image.frames.shape == (1, 2, 3)
    assert np.all(image.frames == 90)


def test_palette_png_becomes_rgb() -> None:
    indices = np.array([[0, 1], [2, 1]], dtype=np.uint8)
    picture = Image.fromarray(indices, "P")
    picture.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    image = read_raster(buffer.getvalue(), "palette.png")
    assert image.is_color and image.photometric == "PALETTE COLOR" and image.bits == 8
    np.testing.assert_array_equal(image.frames[0, 0], [[255, 0, 0], [0, 255, 0]])
    np.testing.assert_array_equal(image.frames[0, 1, 0], [0, 0, 255])


def test_jpeg_and_bmp() -> None:
    grey = np.full((8, 8), 100, np.uint8)
    jpeg = read_raster(_pillow(grey, "JPEG", quality=95), "photo.jpg")
    assert jpeg.format == "jpeg" and not jpeg.is_color and np.abs(jpeg.frames - 100).max() <= 2
    rgb = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    bmp = read_raster(_pillow(rgb, "BMP"), "image.bmp")
    assert bmp.format == "bmp"
    np.testing.assert_array_equal(bmp.frames[0], rgb)


def test_multipage_tiff_gives_one_frame_per_page() -> None:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        for value in (0, 10, 20):
            writer.write(np.full((4, 5), value, np.uint8), photometric="minisblack")
    image = read_raster(buffer.getvalue(), "stack.tif")
    assert image.format == "tiff" and image.frame_count == 3 and image.frames.shape == (3, 4, 5)
    assert image.frames[:, 0, 0].tolist() == [0.0, 10.0, 20.0]


def test_16bit_rgb_tiff_keeps_all_16_bits() -> None:
    rgb = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 1000 + 7).astype(np.uint16)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, rgb, photometric="rgb")
    image = read_raster(buffer.getvalue(), "rgb16.tif")
    assert image.is_color and image.bits == 16 and image.value_range == (0.0, 65535.0)
    np.testing.assert_array_equal(image.frames[0], rgb)
    assert render_8bit(image).dtype == np.uint8


def test_tiff_with_extra_alpha_and_miniswhite() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, rgba, photometric="rgb", extrasamples=["unassalpha"])
    image = read_raster(buffer.getvalue(), "rgba.tif")
    assert image.frames.shape == (1, 2, 2, 3) and np.all(image.frames[..., 0] == 200)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.zeros((2, 2), np.uint8), photometric="miniswhite")
    white = read_raster(buffer.getvalue(), "film.tif")
    assert white.invert and white.photometric == "MONOCHROME1"
    assert np.all(render_8bit(white) == 255)  # value 0 is white in MINISWHITE


@pytest.mark.parametrize("width, height", [(20000, 20000), (10000, 10000)])
def test_image_above_pillows_pixel_limit_is_refused(width: int, height: int) -> None:
    with pytest.raises(UserError) as info:
        read_raster(_png_claiming(width, height), "huge.png")
    message = str(info.value)
    assert message.startswith("huge.png is larger than the limit of")
    assert f"{width * height:,} pixels" in message and "\n" not in message


def test_tiff_above_the_pixel_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.zeros((4, 5), np.uint8))
    with pytest.raises(UserError, match="big.tif is larger than the limit of 10 pixels: it has 20 pixels"):
        read_raster(buffer.getvalue(), "big.tif")


def test_corrupt_and_truncated_files_raise_user_errors() -> None:
    noise = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    png = _pillow(noise)
    for damaged in (png[: len(png) // 2], png[:8] + b"\0" * 40, png[:40] + b"\xff" * 200 + png[240:]):
        with pytest.raises(UserError) as info:
            read_raster(damaged, "broken.png")
        assert str(info.value).startswith("broken.png is damaged")
    tiff = io.BytesIO()
    tifffile.imwrite(tiff, noise)
    with pytest.raises(UserError, match="broken.tif is damaged or truncated"):
        read_raster(tiff.getvalue()[:300], "broken.tif")
    with pytest.raises(UserError, match="notes.txt is not a PNG, JPEG, TIFF or BMP image"):
        read_raster(b"hello world", "notes.txt")


def test_16bit_colour_png_keeps_all_16_bits() -> None:
    rows = b"".join(b"\0" + np.full((2, 3), 0x1234, ">u2").tobytes() for _ in range(2))
    image = read_raster(_png_claiming(2, 2, depth=16, colour_type=2, rows=rows), "deep.png")
    assert image.is_color and image.bits == 16 and image.value_range == (0.0, 65535.0) and image.warnings == []
    assert image.frames.shape == (1, 2, 2, 3) and np.all(image.frames == 0x1234)


def test_raster_kind_sniffs_magic_numbers() -> None:
    assert raster_kind(_pillow(np.zeros((2, 2), np.uint8))) == "png"
    assert raster_kind(_pillow(np.zeros((2, 2), np.uint8), "JPEG")) == "jpeg"
    assert raster_kind(_pillow(np.zeros((2, 2), np.uint8), "BMP")) == "bmp"
    assert raster_kind(_pillow(np.zeros((2, 2), np.uint8), "TIFF")) == "tiff"
    assert raster_kind(b"BM but not a bitmap") is None and raster_kind(b"") is None
