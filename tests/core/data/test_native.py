"""Data ranges and native-resolution patches: what restoration datasets and enhancement scale by."""
from __future__ import annotations

import io
import json

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from core.cli import main
from core.data.catalog import open_dataset
from core.data.importer import NothingImported, import_uploads
from core.data.native import data_range, from_data_unit, native_patches, to_data_unit
from core.data.preprocess import Preprocessing, frame_to_unit_square
from core.data.readers import read_medical_image
from core.errors import UserError
from tests.fixtures import blob_png

RESTORATION = Preprocessing(size=32, resize="tile", intensity="full_range")


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _ct12(modality_lut: bool = False) -> bytes:
    """A 12-bit unsigned CT ramp with rescale intercept -1024 (or the same mapping as a Modality LUT Sequence)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.Modality, ds.PatientID = "CT", "P1"
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if modality_lut:
        item = Dataset()
        item.LUTDescriptor, item.ModalityLUTType = [4096, 0, 16], "HU"
        item.add_new(0x00283006, "US", list(range(4096)))  # LUT Data: identity on stored values, 0..4095
        ds.ModalityLUTSequence = [item]
    else:
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.PixelData = np.tile(np.linspace(900, 1400, 32).astype("<u2"), (32, 1)).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("array, expected", [
    (np.full((8, 8), 100, np.uint8), (0.0, 255.0, 8)),
    (np.full((8, 8), 20000, np.uint16), (0.0, 65535.0, 16)),
    (np.full((8, 8, 3), 7, np.uint8), (0.0, 255.0, 8)),
])
def test_raster_data_range_is_the_full_range_of_its_samples(array, expected):
    rng = data_range(read_medical_image(_png(array), "a.png"))
    assert (rng.low, rng.high, rng.bits) == expected


def test_dicom_data_range_is_the_stored_range_through_the_modality_lut():
    rng = data_range(read_medical_image(_ct12(), "ct.dcm"))
    assert (rng.low, rng.high, rng.bits) == (-1024.0, 3071.0, 12) and "(HU)" in rng.basis
    lut = data_range(read_medical_image(_ct12(modality_lut=True), "lut.dcm"))
    assert (lut.low, lut.high) == (0.0, 4095.0)
    signed = data_range(read_medical_image(open(get_testdata_file("CT_small.dcm"), "rb").read(), "CT_small.dcm"))
    assert (signed.low, signed.high) == (-32768.0 - 1024.0, 32767.0 - 1024.0)


def test_float_images_use_their_own_minimum_and_maximum_and_units_round_trip():
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.linspace(-2.0, 6.0, 64, dtype=np.float32).reshape(8, 8))
    image = read_medical_image(buffer.getvalue(), "f.tif")
    rng = data_range(image)
    assert (rng.low, rng.high, rng.bits) == (-2.0, 6.0, None)
    assert np.allclose(from_data_unit(to_data_unit(image.frames[0], rng), rng), image.frames[0], atol=1e-5)


def test_native_patches_cover_the_image_without_resizing():
    array = np.arange(70 * 40, dtype=np.float32).reshape(70, 40, 1)
    patches = native_patches(array, 32)
    assert [(top, left) for _, top, left in patches] == [(0, 0), (0, 8), (32, 0), (32, 8), (38, 0), (38, 8)]
    assert all(np.array_equal(p, array[t:t + 32, left:left + 32]) for p, t, left in patches)
    assert native_patches(array, 64) == []


def test_restoration_import_keeps_16_bit_values_and_native_resolution():
    rng = np.random.default_rng(0)
    images = [(rng.integers(19660, 36045, (64, 96))).astype(np.uint16) for _ in range(6)]  # 0.30-0.55 of 65535
    uploads = [(f"img{i}.png", _png(a)) for i, a in enumerate(images)]
    summary = import_uploads("ws", uploads, "native", RESTORATION)
    assert summary.images == 6 * 2 * 3 and summary.files == 6  # 64x96 -> 2 x 3 patches of 32 px each
    assert any("native resolution" in line and "patches of 32 px" in line for line in summary.preprocessing)
    assert any("full sample range" in line for line in summary.preprocessing)
    dataset = open_dataset("ws", summary.dataset_id)
    assert dataset.images.dtype == np.uint16 and dataset.images.shape[1:] == (32, 32, 1)
    first = dataset.items.iloc[0]
    source = images[int(first["file"][3])]
    top, left = (int(v) for v in first["name"].split("@")[1].split(","))
    assert np.array_equal(dataset.images[0][..., 0], source[top:top + 32, left:left + 32])  # values kept exactly
    prep = dataset.info.preprocessing
    assert (prep["resize"], prep["intensity"]) == ("tile", "full_range")
    assert prep["value_ranges"] == [{"low": 0.0, "high": 65535.0, "basis": "16-bit samples", "files": 6}]
    assert all(len(set(dataset.items[dataset.items["file"] == f]["split"])) == 1 for f in dataset.items["file"])


def test_images_smaller_than_a_patch_are_skipped_with_the_reason():
    uploads = [("big.png", blob_png(size=40)), ("small.png", blob_png(size=24))]
    summary = import_uploads("ws", uploads, "mixed", RESTORATION)
    assert [s["file"] for s in summary.skipped] == ["small.png"] and "smaller than the 32-pixel" in \
        summary.skipped[0]["reason"]
    with pytest.raises(NothingImported, match="choose a smaller size"):
        import_uploads("ws", [("small.png", blob_png(size=24))], "small", RESTORATION)


def test_classification_keeps_its_size_policy_and_prediction_takes_a_native_centre_patch():
    summary = import_uploads("ws", [(f"{i}.png", blob_png(size=24, seed=i)) for i in range(4)], "cls",
                             Preprocessing(size=16))
    assert open_dataset("ws", summary.dataset_id).images.shape[1:] == (16, 16, 1)  # resized, as before
    image = read_medical_image(_png(np.arange(48 * 48, dtype=np.uint16).reshape(48, 48)), "r.png")
    patch = frame_to_unit_square(image, 0, RESTORATION)
    assert patch.shape == (32, 32, 1) and patch[0, 0, 0] == pytest.approx((8 * 48 + 8) / 65535)


def test_cli_import_for_restoration(tmp_path, capsys):
    for i in range(4):
        (tmp_path / f"{i}.png").write_bytes(_png(np.full((40, 40), 1000 * (i + 1), np.uint16)))
    assert main(["import", str(tmp_path), "--for", "restoration", "--size", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 4 * 9 and any("native resolution" in line for line in out["preprocessing"])
    assert main(["import", str(tmp_path), "--for", "restoration", "--resize", "pad"]) == 2
    assert "--for restoration keeps native resolution" in capsys.readouterr().err
    with pytest.raises(UserError):
        Preprocessing(intensity="stretched")
