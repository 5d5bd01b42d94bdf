"""MedMNIST v2 (Yang et al., "MedMNIST v2", Scientific Data 2023): downloaded into a cache, imported with
its official train/val/test split.

The file names, URLs, checksums and label names come from the `medmnist` package's INFO table. Offline, the
user is told which file to place in the cache folder; a file already there is used without a download.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from medmnist.info import INFO

from core.data.splits import SPLITS
from core.data.store import DatasetInfo, count_by_split, datasets_dir, new_dataset_id, write_dataset
from core.errors import UserError
from core.settings import cache_dir

MEDMNIST_FLAGS = ("pneumoniamnist", "breastmnist", "bloodmnist", "dermamnist", "organamnist", "chestmnist")
MEDMNIST_SIZES = (28, 64, 128, 224)
NPZ_KEYS = tuple(f"{split}_{kind}" for split in ("train", "val", "test") for kind in ("images", "labels"))
DOWNLOAD_TIMEOUT_S = 60


def medmnist_filename(flag: str, size: int) -> str:
    _check(flag, size)
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def medmnist_cache_path(flag: str, size: int) -> Path:
    return cache_dir("medmnist") / medmnist_filename(flag, size)


def fetch_medmnist(flag: str, size: int) -> Path:
    """The cached .npz for (flag, size), downloading and checksumming it first if it is not there yet."""
    path = medmnist_cache_path(flag, size)
    if path.exists():
        return path
    suffix = "" if size == 28 else f"_{size}"
    url, md5 = INFO[flag][f"url{suffix}"], INFO[flag][f"MD5{suffix}"]
    partial = path.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, partial.open("wb") as out:
            digest = hashlib.md5()
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError):
        partial.unlink(missing_ok=True)
        raise UserError(
            f"Could not download {path.name} (is this machine offline?); download it from {url} and place it "
            f"in {path.parent} as {path.name}."
        ) from None
    if digest.hexdigest() != md5:
        partial.unlink(missing_ok=True)
        raise UserError(f"The download of {path.name} was damaged (checksum mismatch); please try again.")
    os.replace(partial, path)
    return path


def is_medmnist_npz(path: Path) -> bool:
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as archive:
            return all(key in archive.files for key in NPZ_KEYS)
    except (OSError, ValueError, zipfile.BadZipFile):
        return False


def store_medmnist_npz(workspace: str, path: Path, flag: str | None = None, name: str | None = None
                       ) -> DatasetInfo:
    """Store a MedMNIST-format .npz (keys train_images, train_labels, val_..., test_...) as a dataset, keeping
    its official split. The subset (label names, task) is recognised from the file name when it can be."""
    flag = flag or next((f for f in INFO if path.name.split("_")[0].split(".")[0] == f), None)
    try:
        with np.load(path, allow_pickle=False) as archive:
            parts = {key: archive[key] for key in NPZ_KEYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise UserError(f"{path.name} is not a readable MedMNIST file ({error}).") from None
    images = np.concatenate([parts[f"{s}_images"] for s in SPLITS])
    labels = np.concatenate([parts[f"{s}_labels"] for s in SPLITS])
    splits = np.concatenate([np.full(len(parts[f"{s}_images"]), s) for s in SPLITS])
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[1] != images.shape[2]:
        raise UserError(f"{path.name} does not hold square uint8 images as MedMNIST files do.")
    if images.ndim == 3:
        images = images[..., None]
    channels = images.shape[-1]
    if channels not in (1, 3):
        raise UserError(f"{path.name} holds {channels}-channel images; MedLab reads 1 (grey) or 3 (RGB) channels.")

    multilabel = flag is not None and INFO[flag]["task"].startswith("multi-label")
    multilabel = multilabel or (labels.ndim == 2 and labels.shape[1] > 1)
    n_classes = labels.shape[1] if multilabel else int(labels.max()) + 1
    names = INFO[flag]["label"] if flag else {}
    classes = [names.get(str(i), str(i)) for i in range(n_classes)]
    task = "multilabel" if multilabel else "classification"
    label_array = labels.astype(np.uint8) if multilabel else labels.reshape(-1).astype(np.int64)
    split_counts, class_counts = count_by_split(task, classes, label_array, splits)

    title = name or (f"{INFO[flag]['python_class']} {images.shape[1]} px" if flag else path.stem)
    dataset_id = new_dataset_id(title)
    items = pd.DataFrame({
        "name": [f"{s}-{i:05d}" for s in SPLITS for i in range(len(parts[f"{s}_images"]))],
        "file": "", "frame": 0,
        "label": ["|".join(classes[j] for j in np.flatnonzero(row)) if multilabel else classes[int(row)]
                  for row in label_array],
        "split": splits, "group": [f"item-{i}" for i in range(len(images))], "format": "medmnist",
        "width": images.shape[2], "height": images.shape[1],
    })
    info = DatasetInfo(
        id=dataset_id, name=title, task=task, classes=classes, size=int(images.shape[1]), channels=channels,
        num_images=len(images), split_counts=split_counts, class_counts=class_counts, source="medmnist",
        preprocessing={"size": int(images.shape[1]), "channels": channels, "resize": "as published",
                       "window": "as published", "dtype": "uint8", "labels_from": "medmnist", "split_seed": None},
        description=INFO[flag]["description"] if flag else f"Imported from {path.name}.",
    )
    return write_dataset(datasets_dir(workspace) / dataset_id, info, images, label_array, items).info


def _check(flag: str, size: int) -> None:
    if flag not in MEDMNIST_FLAGS:
        raise UserError(f"Unknown MedMNIST subset '{flag}'; choose one of: {', '.join(MEDMNIST_FLAGS)}.")
    if size not in MEDMNIST_SIZES:
        raise UserError(f"MedMNIST comes in {', '.join(map(str, MEDMNIST_SIZES))} px, not {size}.")
