"""Small files for tests: PNGs, DICOMs carrying identifying data, ZIPs, a MedMNIST-format npz."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file

PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "MRN-0042-SECRET"
INSTITUTION = "St Example Hospital"


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def blob_png(size: int = 24, seed: int = 0, bright: bool = True, rgb: bool = False, height: int | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 60, (height or size, size), dtype=np.uint8)
    if bright:
        array[size // 4: size // 2, size // 4: size // 2] = 220
    if rgb:
        array = np.stack([array, array // 2, 255 - array], axis=-1)
    return png_bytes(array)


def identified_ct(patient_id: str = PATIENT_ID, name: str = PATIENT_NAME) -> bytes:
    """pydicom's CT_small with identifying attributes filled in, as bytes."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.InstitutionName = INSTITUTION
    ds.PatientBirthDate = "19700101"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def class_folder_zip(per_class: int = 6, classes: tuple[str, ...] = ("normal", "nodule")) -> bytes:
    members = {}
    for c, name in enumerate(classes):
        for i in range(per_class):
            members[f"study/{name}/img{i}.png"] = blob_png(seed=c * 100 + i, bright=c == 1)
    return zip_bytes(members)


def write_medmnist_npz(path: Path, n: int = 6, size: int = 28, channels: int = 1, multilabel: int = 0) -> Path:
    """A tiny file with MedMNIST's keys (train/val/test _images/_labels)."""
    rng = np.random.default_rng(0)
    shape = (n, size, size) if channels == 1 else (n, size, size, channels)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 255, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = (rng.integers(0, 2, (n, multilabel)) if multilabel
                                     else (np.arange(n) % 2).reshape(n, 1)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path
