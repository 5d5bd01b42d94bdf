"""Every Pillow and tifffile mode read at full depth, with its channel count and upright: exact values each."""
from __future__ import annotations

import io
import struct
import zlib

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from core.data.raster import _pillow_array, read_raster, upright
from core.errors import UserError

RAMP = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 372 + 3)  # 3 .. 4095, 12-bit values in 16-bit samples
TRANSPARENT = "has transparent pixels; the transparency was ignored and the stored values kept."


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(array: np.ndarray, colour_type: int, depth: int = 16, chunks: bytes = b"") -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit grey+alpha or colour): rows unfiltered, big-endian."""
    height, width = array.shape[:2]
    samples = array.astype(">u2" if depth == 16 else "u1").reshape(height, -1)
    rows = b"".join(b"\0" + samples[row].tobytes() for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + chunks + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))


def _save(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _tiff(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


# --- the file: 16-bit grey with alpha --------------------------------------------------------------------

def test_16bit_grey_alpha_png_is_one_channel_at_full_depth() -> None:
    alpha = np.full(RAMP.shape, 65535, np.uint16)
    alpha[0, 0] = 0
    image = read_raster(_png(np.stack([RAMP, alpha], axis=-1), colour_type=4), "la16.png")
    assert not image.is_color and image.frames.shape == (1, 3, 4) and image.frames.dtype == np.float32
    np.testing.assert_array_equal(image.frames[0], RAMP)
    assert image.bits == 16 and image.frames.max() == 4095 and image.value_range == (3.0, 4095.0)
    assert image.photometric == "MONOCHROME2" and image.warnings == [f"la16.png {TRANSPARENT}"]


def test_opaque_alpha_gives_no_warning() -> None:
    opaque = np.stack([RAMP, np.full(RAMP.shape, 65535, np.uint16)], axis=-1)
    assert read_raster(_png(opaque, colour_type=4), "opaque.png").warnings == []


@pytest.mark.parametrize("colour_type, alpha", [(2, False), (6, True)])
def test_16bit_rgb_and_rgba_png_keep_16_bits(colour_type: int, alpha: bool) -> None:
    rgb = np.stack([RAMP, RAMP * 2, 65535 - RAMP], axis=-1).astype(np.uint16)
    array = np.concatenate([rgb, np.full((3, 4, 1), 65535, np.uint16)], axis=-1) if alpha else rgb
    image = read_raster(_png(array, colour_type), "rgb16.png")
    assert image.is_color and image.bits == 16 and image.value_range == (0.0, 65535.0) and image.warnings == []
    np.testing.assert_array_equal(image.frames[0], rgb)


def test_16bit_grey_png_with_a_transparent_value_stays_grey() -> None:
    trns = _chunk(b"tRNS", struct.pack(">H", int(RAMP[1, 1])))
    image = read_raster(_png(RAMP, colour_type=0, chunks=trns), "trns16.png")
    assert not image.is_color and image.bits == 16 and image.warnings == [f"trns16.png {TRANSPARENT}"]
    np.testing.assert_array_equal(image.frames[0], RAMP)


@pytest.mark.parametrize("depth, top", [(1, 1), (2, 3), (4, 15)])
def test_low_depth_grey_png_is_scaled_to_8_bits(depth: int, top: int) -> None:
    row = bytes([top << (8 - 2 * depth)])  # two pixels, 0 then the top value, packed from the high bit
    header = struct.pack(">IIBBBBB", 2, 1, depth, 0, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" + row))
            + _chunk(b"IEND", b""))
    image = read_raster(data, "low.png")
    assert not image.is_color and image.bits == 8
    np.testing.assert_array_equal(image.frames[0], [[0, 255]])


# --- Pillow's modes ----------------------------------------------------------------------------------------------

def test_bilevel_becomes_0_and_255() -> None:
    bits = np.array([[True, False, True]])
    for fmt in ("PNG", "BMP"):
        image = read_raster(_save(Image.fromarray(bits), fmt), f"mask.{fmt.lower()}")
        assert not image.is_color and image.bits == 8
        np.testing.assert_array_equal(image.frames[0], [[255, 0, 255]])


def test_grey_with_8bit_alpha_stays_one_channel_and_warns() -> None:
    la = np.stack([np.array([[10, 200]], np.uint8), np.array([[255, 40]], np.uint8)], axis=-1)
    image = read_raster(_save(Image.fromarray(la, "LA"), "PNG"), "la8.png")
    assert not image.is_color and image.bits == 8 and image.warnings == [f"la8.png {TRANSPARENT}"]
    np.testing.assert_array_equal(image.frames[0], [[10, 200]])


@pytest.mark.parametrize("mode, dtype", [("I;16", "<u2"), ("I;16L", "<u2"), ("I;16B", ">u2")])
def test_pillow_16bit_modes_in_either_byte_order(mode: str, dtype: str) -> None:
    image = Image.frombytes(mode, (4, 3), RAMP.astype(dtype).tobytes())
    array, photometric = _pillow_array(image, "deep", [])
    assert array.dtype == np.uint16 and photometric == "MONOCHROME2"
    np.testing.assert_array_equal(array, RAMP)


@pytest.mark.parametrize("mode, values", [("I", np.array([[-70000, 0, 123456]], np.int32)),
                                          ("F", np.array([[-1.5, 0.25, 3.0e6]], np.float32))])
def test_pillow_int32_and_float_keep_their_values(mode: str, values: np.ndarray) -> None:
    array, photometric = _pillow_array(Image.fromarray(values, mode), "deep", [])
    assert array.dtype == values.dtype and photometric == "MONOCHROME2"
    np.testing.assert_array_equal(array, values)


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I", "F"])
def test_deep_grey_tiff_written_by_pillow_keeps_depth(mode: str) -> None:
    values = {"I": np.array([[-5, 0, 70000]], np.int32), "F": np.array([[-0.5, 0.0, 2.5]], np.float32)}.get(
        mode, np.array([[0, 4095, 65535]], np.uint16))
    source = Image.frombytes(mode, (3, 1), values.astype(">u2" if mode == "I;16B" else values.dtype).tobytes())
    image = read_raster(_save(source, "TIFF"), "deep.tif")
    assert not image.is_color and image.bits == {"I": 32, "F": 32}.get(mode, 16)
    np.testing.assert_array_equal(image.frames[0], values)


def _palette(colours: list[tuple[int, int, int]], transparency: int | None = None) -> bytes:
    picture = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), "P")
    picture.putpalette([value for colour in colours for value in colour])
    return _save(picture, "PNG", **({} if transparency is None else {"transparency": transparency}))


def test_palette_of_greys_becomes_greyscale() -> None:
    image = read_raster(_palette([(0, 0, 0), (128, 128, 128), (255, 255, 255)]), "grey-palette.png")
    assert not image.is_color and image.bits == 8 and image.warnings == []
    np.testing.assert_array_equal(image.frames[0], [[0, 128], [255, 128]])


def test_colour_palette_with_transparency_is_rgb_and_warns() -> None:
    image = read_raster(_palette([(255, 0, 0), (0, 255, 0), (0, 0, 255)], transparency=0), "p.png")
    assert image.is_color and image.photometric == "PALETTE COLOR" and image.warnings == [f"p.png {TRANSPARENT}"]
    np.testing.assert_array_equal(image.frames[0], [[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [0, 255, 0]]])


def test_palette_with_alpha_mode_pa() -> None:
    picture = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    picture.putpalette([30, 30, 30, 90, 90, 90])
    pa = picture.convert("PA")
    notes: list[str] = []
    array, _ = _pillow_array(pa, "pa", notes)
    np.testing.assert_array_equal(array, [[30, 90]])
    assert notes == []


def test_rgba_with_transparent_pixels_warns_and_keeps_colour_values() -> None:
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[..., :3], rgba[0, 0, 3], rgba[0, 1, 3] = 60, 0, 255
    image = read_raster(_save(Image.fromarray(rgba), "PNG"), "rgba.png")
    assert image.frames.shape == (1, 1, 2, 3) and np.all(image.frames == 60)
    assert image.warnings == [f"rgba.png {TRANSPARENT}"]


def test_cmyk_jpeg_becomes_rgb_with_a_warning() -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red ink-wise
    image = read_raster(_save(cmyk, "JPEG", quality=100), "print.jpg")
    assert image.is_color and image.bits == 8 and image.frames.shape == (1, 8, 8, 3)
    assert np.abs(image.frames[0] - [255, 0, 0]).max() <= 3
    assert any("CMYK" in note and "colour profile" in note for note in image.warnings)


def test_ycbcr_jpeg_becomes_rgb() -> None:
    colour = Image.new("RGB", (16, 16), (200, 40, 90)).convert("YCbCr")
    image = read_raster(_save(colour, "JPEG", quality=100, subsampling=0), "ycc.jpg")
    assert image.is_color and np.abs(image.frames[0] - [200, 40, 90]).max() <= 3 and image.warnings == []


def test_grey_jpeg_stays_one_channel() -> None:
    image = read_raster(_save(Image.new("L", (8, 8), 77), "JPEG", quality=100), "grey.jpg")
    assert not image.is_color and image.bits == 8 and np.all(image.frames == 77)


@pytest.mark.parametrize("mode", ["YCbCr", "HSV"])
def test_other_colour_models_become_rgb(mode: str) -> None:
    source = Image.new("RGB", (2, 2), (10, 200, 30)).convert(mode)
    array, photometric = _pillow_array(source, "x", [])
    assert photometric == "RGB" and array.shape == (2, 2, 3)
    np.testing.assert_array_equal(array, np.asarray(source.convert("RGB")))


def test_unreadable_colour_model_is_refused_in_one_sentence() -> None:
    with pytest.raises(UserError, match=r"^lab.tif holds LAB pixels, which MedLab does not read: save it as"):
        _pillow_array(Image.new("LAB", (2, 2)), "lab.tif", [])


# --- TIFF through tifffile ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_16bit_tiff_in_either_byte_order(byteorder: str) -> None:
    image = read_raster(_tiff(RAMP, byteorder=byteorder), "deep.tif")
    assert not image.is_color and image.bits == 16 and image.value_range == (3.0, 4095.0)
    np.testing.assert_array_equal(image.frames[0], RAMP)


def test_float_and_int32_tiff_keep_values() -> None:
    floats = np.array([[-1024.5, 0.0], [np.pi, 3e4]], np.float32)
    image = read_raster(_tiff(floats), "float.tif")
    assert image.bits == 32 and image.value_range == (-1024.5, 3e4)
    np.testing.assert_array_equal(image.frames[0], floats)
    ints = np.array([[-100000, 5], [7, 100000]], np.int32)
    image = read_raster(_tiff(ints), "int.tif")
    assert image.bits == 32 and image.frames.dtype == np.float32
    np.testing.assert_array_equal(image.frames[0], ints)


@pytest.mark.parametrize("compression", [None, "zlib", "lzw", "packbits", "lzma", "zstd"])
@pytest.mark.parametrize("tiled", [False, True])
def test_tiled_and_compressed_tiffs_are_exact(compression: str | None, tiled: bool) -> None:
    array = (np.arange(32 * 48, dtype=np.uint16).reshape(32, 48) * 40)
    data = _tiff(array, compression=compression, **({"tile": (16, 16)} if tiled else {}))
    image = read_raster(data, "packed.tif")
    assert image.bits == 16 and image.warnings == []
    np.testing.assert_array_equal(image.frames[0], array)


@pytest.mark.parametrize("compression", ["tiff_lzw", "tiff_adobe_deflate", "packbits", "group4"])
def test_tiffs_compressed_by_libtiff_through_pillow(compression: str) -> None:
    array = np.zeros((16, 24), np.uint8)
    array[4:12, 6:18] = 255
    source = Image.fromarray(array).convert("1") if compression == "group4" else Image.fromarray(array)
    image = read_raster(_save(source, "TIFF", compression=compression), "scan.tif")
    assert not image.is_color and image.bits == 8 and image.warnings == []
    shown = 255 - image.frames[0] if image.invert else image.frames[0]  # group 4 is stored min-is-white
    np.testing.assert_array_equal(shown, array)


def test_jpeg_compressed_tiff_in_ycbcr_and_grey() -> None:
    flat = np.zeros((16, 16, 3), np.uint8)
    flat[...] = (200, 40, 90)
    ycbcr = np.asarray(Image.fromarray(flat).convert("YCbCr"))  # tifffile writes the samples it is given
    data = _tiff(ycbcr, photometric="ycbcr", compression="jpeg")
    image = read_raster(data, "ycc.tif")
    assert image.is_color and np.abs(image.frames[0] - flat).max() <= 3
    libtiff = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.abs(image.frames[0] - libtiff).max() <= 1
    grey = read_raster(_tiff(np.full((16, 16), 100, np.uint8), compression="jpeg"), "grey.tif")
    assert not grey.is_color and np.abs(grey.frames[0] - 100).max() <= 2


def test_uncompressed_ycbcr_tiff_is_converted_to_rgb() -> None:
    rgb = np.array([[[200, 40, 90], [0, 128, 255]]], np.uint8)
    data = _save(Image.fromarray(rgb).convert("YCbCr"), "TIFF")
    image = read_raster(data, "ycc.tif")
    assert image.is_color and np.abs(image.frames[0] - rgb).max() <= 3


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_cmyk_tiff_becomes_rgb_at_its_depth(dtype: type) -> None:
    top = np.iinfo(dtype).max
    cmyk = np.array([[[0, top, top, 0], [0, 0, 0, top], [0, 0, 0, 0]]], dtype)  # red, black, white
    image = read_raster(_tiff(cmyk, photometric="separated"), "cmyk.tif")
    assert image.is_color and image.bits == np.dtype(dtype).itemsize * 8
    np.testing.assert_array_equal(image.frames[0], [[[top, 0, 0], [0, 0, 0], [top, top, top]]])
    assert any("CMYK" in note for note in image.warnings)
    if dtype == np.uint8:  # the same numbers as Pillow's CMYK -> RGB
        pillow = np.asarray(Image.open(io.BytesIO(_tiff(cmyk, photometric="separated"))).convert("RGB"))
        np.testing.assert_array_equal(image.frames[0], pillow)


def test_grey_palette_tiff_becomes_greyscale_and_colour_palette_rgb() -> None:
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    greys = np.zeros((3, 256), np.uint16)
    greys[:, :3] = np.array([0, 1000, 65535])
    image = read_raster(_tiff(indices, photometric="palette", colormap=greys), "grey-palette.tif")
    assert not image.is_color and image.bits == 16
    np.testing.assert_array_equal(image.frames[0], [[0, 1000], [65535, 1000]])
    colours = np.zeros((3, 256), np.uint16)
    colours[0, 0], colours[1, 1], colours[2, 2] = 65535, 65535, 65535
    image = read_raster(_tiff(indices, photometric="palette", colormap=colours), "palette.tif")
    assert image.is_color and image.bits == 8  # a colormap of multiples of 257 is 8-bit
    np.testing.assert_array_equal(image.frames[0], [[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [0, 255, 0]]])


def test_grey_tiff_with_alpha_stays_grey_and_warns() -> None:
    la = np.stack([RAMP, np.where(RAMP > 2000, 65535, 0).astype(np.uint16)], axis=-1)
    image = read_raster(_tiff(la, photometric="minisblack", extrasamples=["unassalpha"]), "la.tif")
    assert not image.is_color and image.bits == 16 and image.warnings == [f"la.tif {TRANSPARENT}"]
    np.testing.assert_array_equal(image.frames[0], RAMP)


def test_extra_unnamed_samples_are_said() -> None:
    stack = np.stack([RAMP, RAMP + 1, RAMP + 2], axis=-1)
    image = read_raster(_tiff(stack, photometric="minisblack", planarconfig="contig"), "channels.tif")
    assert not image.is_color
    np.testing.assert_array_equal(image.frames[0], RAMP)
    assert image.warnings == [
        "channels.tif has 2 extra sample(s) per pixel besides the image; only the image was read."]


def test_multipage_tiff_pages_are_frames_and_thumbnails_and_odd_pages_are_skipped() -> None:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        for value in (100, 2000, 4000):
            writer.write(np.full((3, 4), value, np.uint16))
        writer.write(np.zeros((2, 2), np.uint16), subfiletype=1)  # a reduced-resolution thumbnail
        writer.write(np.zeros((5, 5), np.uint16))  # another size
    image = read_raster(buffer.getvalue(), "stack.tif")
    assert image.frame_count == 3 and image.bits == 16 and image.frames[:, 0, 0].tolist() == [100, 2000, 4000]
    assert image.warnings == ["stack.tif: 1 reduced-resolution page(s) (thumbnails) were skipped.",
                              "stack.tif: 1 page(s) of another size or kind were skipped."]


def test_12bit_tiff_reports_12_bits_and_its_colour_range() -> None:
    image = read_raster(_tiff(RAMP, bitspersample=12), "twelve.tif")
    assert image.bits == 12 and not image.is_color
    np.testing.assert_array_equal(image.frames[0], RAMP)
    rgb = np.stack([RAMP, RAMP, 4095 - RAMP], axis=-1)
    image = read_raster(_tiff(rgb, photometric="rgb", bitspersample=12), "twelve-rgb.tif")
    assert image.is_color and image.bits == 12 and image.value_range == (0.0, 4095.0)
    np.testing.assert_array_equal(image.frames[0], rgb)


# --- orientation -------------------------------------------------------------------------------------------------

ASYMMETRIC = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40  # [[0, 40, 80], [120, 160, 200]]
UPRIGHT = {  # what each EXIF orientation shows, by the EXIF 2.3 definitions
    1: [[0, 40, 80], [120, 160, 200]],
    2: [[80, 40, 0], [200, 160, 120]],
    3: [[200, 160, 120], [80, 40, 0]],
    4: [[120, 160, 200], [0, 40, 80]],
    5: [[0, 120], [40, 160], [80, 200]],
    6: [[120, 0], [160, 40], [200, 80]],
    7: [[200, 80], [160, 40], [120, 0]],
    8: [[80, 200], [40, 160], [0, 120]],
}


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_matches_exif_definitions_and_pillow(orientation: int) -> None:
    np.testing.assert_array_equal(upright(ASYMMETRIC, orientation), UPRIGHT[orientation])
    tagged = Image.open(io.BytesIO(_save(Image.fromarray(ASYMMETRIC), "PNG", exif=_exif(orientation))))
    np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(tagged)), UPRIGHT[orientation])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_8bit_png_follows_exif_orientation(orientation: int) -> None:
    image = read_raster(_save(Image.fromarray(ASYMMETRIC), "PNG", exif=_exif(orientation)), "o.png")
    np.testing.assert_array_equal(image.frames[0], UPRIGHT[orientation])
    rgb = np.repeat(ASYMMETRIC[..., None], 3, axis=-1)
    image = read_raster(_save(Image.fromarray(rgb), "PNG", exif=_exif(orientation)), "o.png")
    np.testing.assert_array_equal(image.frames[0, ..., 1], UPRIGHT[orientation])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_png_follows_exif_orientation(orientation: int) -> None:
    exif = _chunk(b"eXIf", _exif(orientation).tobytes())
    grey_alpha = np.stack([ASYMMETRIC.astype(np.uint16) * 20, np.full((2, 3), 65535, np.uint16)], axis=-1)
    image = read_raster(_png(grey_alpha, colour_type=4, chunks=exif), "o16.png")
    np.testing.assert_array_equal(image.frames[0], np.array(UPRIGHT[orientation]) * 20)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_follows_exif_orientation(orientation: int) -> None:
    blocks = np.kron(ASYMMETRIC, np.ones((8, 8), np.uint8))  # 8x8 blocks survive JPEG almost exactly
    image = read_raster(_save(Image.fromarray(blocks), "JPEG", quality=100, exif=_exif(orientation)), "o.jpg")
    shown = image.frames[0][4::8, 4::8]
    assert np.abs(shown - np.array(UPRIGHT[orientation])).max() <= 2


@pytest.mark.parametrize("orientation", range(1, 9))
def test_tiff_orientation_tag_is_applied_to_every_page(orientation: int) -> None:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        for scale in (1, 2):
            writer.write(ASYMMETRIC.astype(np.uint16) * scale, extratags=[(274, "H", 1, orientation, True)])
    image = read_raster(buffer.getvalue(), "o.tif")
    assert image.frame_count == 2
    np.testing.assert_array_equal(image.frames[0], UPRIGHT[orientation])
    np.testing.assert_array_equal(image.frames[1], np.array(UPRIGHT[orientation]) * 2)
    pillow = ImageOps.exif_transpose(Image.open(io.BytesIO(buffer.getvalue())))
    np.testing.assert_array_equal(np.asarray(pillow), UPRIGHT[orientation])  # the same as Pillow's reading


def test_unknown_orientation_is_shown_as_stored_with_a_warning() -> None:
    image = read_raster(_tiff(ASYMMETRIC, extratags=[(274, "H", 1, 9, True)]), "odd.tif")
    np.testing.assert_array_equal(image.frames[0], ASYMMETRIC)
    assert image.warnings == ["odd.tif has an orientation tag of 9, which is not one of 1-8; it is shown as stored."]


# --- JPEG beyond 8 bits (Pillow cannot identify these) ------------------------------------------------------------

def _with_exif(jpeg: bytes, orientation: int) -> bytes:
    payload = _exif(orientation).tobytes()
    payload = payload if payload.startswith(b"Exif\0\0") else b"Exif\0\0" + payload
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_12bit_jpeg_keeps_12_bits() -> None:
    blocks = np.kron(RAMP, np.ones((8, 8), np.uint16))
    image = read_raster(imagecodecs.jpeg8_encode(blocks, level=100, bitspersample=12), "deep.jpg")
    assert image.format == "jpeg" and not image.is_color and image.bits == 12 and image.warnings == []
    assert np.abs(image.frames[0] - blocks).max() <= 8  # lossy, on a 0..4095 scale


@pytest.mark.parametrize("bits", [12, 16])
def test_lossless_jpeg_is_exact_at_its_depth(bits: int) -> None:
    grey = (RAMP.astype(np.uint32) * (16 if bits == 16 else 1)).astype(np.uint16)
    image = read_raster(imagecodecs.jpeg8_encode(grey, lossless=True, bitspersample=bits), "lossless.jpg")
    assert not image.is_color and image.bits == bits
    np.testing.assert_array_equal(image.frames[0], grey)
    rgb = np.stack([grey, grey // 2, grey // 3], axis=-1)
    image = read_raster(imagecodecs.jpeg8_encode(rgb, lossless=True, bitspersample=bits), "lossless-rgb.jpg")
    assert image.is_color and image.bits == bits and image.value_range == (0.0, float(2**bits - 1))
    np.testing.assert_array_equal(image.frames[0], rgb)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_lossless_jpeg_follows_exif_orientation(orientation: int) -> None:
    encoded = imagecodecs.jpeg8_encode(ASYMMETRIC.astype(np.uint16) * 20, lossless=True, bitspersample=12)
    image = read_raster(_with_exif(encoded, orientation), "o12.jpg")
    np.testing.assert_array_equal(image.frames[0], np.array(UPRIGHT[orientation]) * 20)


def test_damaged_deep_jpeg_is_one_sentence() -> None:
    encoded = imagecodecs.jpeg8_encode(np.kron(RAMP, np.ones((8, 8), np.uint16)), bitspersample=12)
    for damaged in (encoded[: len(encoded) // 2], b"\xff\xd8\xff" + b"\0" * 40):
        with pytest.raises(UserError, match=r"^bad.jpg is damaged: it starts like a JPEG image but cannot be read"):
            read_raster(damaged, "bad.jpg")
