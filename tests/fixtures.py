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


def tiny_dataset(workspace: str = "default", per_class: tuple[int, ...] = (24, 24), size: int = 16,
                 name: str = "tiny", seed: int = 0) -> str:
    """A stored classification dataset of bright-square vs dark-square vs ... images; returns its id.
    Class k has a bright square in a class-specific corner, so a small CNN learns it in a few epochs."""
    import pandas as pd

    from core.data.splits import assign_splits
    from core.data.store import DatasetInfo, count_by_split, datasets_dir, new_dataset_id, write_dataset

    rng = np.random.default_rng(seed)
    images, labels = [], []
    corners = [(0, 0), (0, size // 2), (size // 2, 0), (size // 2, size // 2)]
    for label, count in enumerate(per_class):
        for _ in range(count):
            image = rng.integers(0, 40, (size, size), dtype=np.uint8)
            top, left = corners[label % 4]
            image[top:top + size // 2, left:left + size // 2] += 150
            images.append(image)
            labels.append(label)
    images = np.stack(images)[..., None]
    labels = np.array(labels, dtype=np.int64)
    classes = [f"class{k}" for k in range(len(per_class))]
    groups = np.array([f"g{i}" for i in range(len(labels))])
    splits = assign_splits(labels, groups, seed=seed)
    split_counts, class_counts = count_by_split("classification", classes, labels, splits)
    dataset_id = new_dataset_id(name)
    items = pd.DataFrame({"name": [f"img{i}" for i in range(len(labels))], "file": "", "frame": 0,
                          "label": [classes[k] for k in labels], "split": splits, "group": groups,
                          "format": "array", "width": size, "height": size})
    info = DatasetInfo(id=dataset_id, name=name, task="classification", classes=classes, size=size, channels=1,
                       num_images=len(labels), split_counts=split_counts, class_counts=class_counts, source="upload")
    write_dataset(datasets_dir(workspace) / dataset_id, info, images, labels, items)
    return dataset_id


def wait_for(predicate, timeout: float = 180.0, every: float = 0.2):
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout` seconds: tests
    wait on a condition, never for a fixed time."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not reached in time")


def wait_until_serving(url: str, process, log_path: Path, timeout: float = 120.0) -> None:
    """Wait until the Streamlit server `process` answers its health check at `url` (http://host:port).

    Raises RuntimeError with the end of its log when it exits or is not up within `timeout` seconds (and kills it).
    Used by tests/e2e/conftest.py and the bench scripts that start a server."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"streamlit did not start; log:\n{Path(log_path).read_text()[-3000:]}")
        time.sleep(0.3)
