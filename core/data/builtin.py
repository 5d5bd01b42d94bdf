"""Built-in datasets: generated from a seed on first use, so the app works offline with nothing to download.

They are written once into the shared built-in folder (see core.settings.builtin_dir) in the same format as
any stored dataset, and every workspace reads them from there.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.phantom import PHANTOM_SIZES, describe_phantom, generate_phantom
from core.data.splits import assign_splits
from core.data.store import Dataset, DatasetInfo, count_by_split, write_dataset
from core.settings import builtin_dir

PHANTOM_SEED = 0
GENERATOR_VERSION = "phantom-1"  # bump when the generator changes, so stale copies are regenerated
BUILTIN_IDS = tuple(f"phantom-{size}" for size in PHANTOM_SIZES)
DEFAULT_DATASET_ID = "phantom-64"


def is_builtin(dataset_id: str) -> bool:
    return dataset_id in BUILTIN_IDS


def builtin_path(dataset_id: str) -> Path:
    """The folder of a built-in dataset, generating it first if it is missing or stale."""
    folder = builtin_dir() / dataset_id
    if _is_current(folder):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    try:
        _generate(dataset_id, folder)
    except OSError:
        if not _is_current(folder):  # another process finishing first is fine; anything else is not
            raise
    return folder


def builtin_infos() -> list[DatasetInfo]:
    return [Dataset(builtin_path(dataset_id)).info for dataset_id in BUILTIN_IDS]


def _is_current(folder: Path) -> bool:
    try:
        return Dataset(folder).info.preprocessing.get("generator") == GENERATOR_VERSION
    except (OSError, ValueError, TypeError):
        return False


def _generate(dataset_id: str, folder: Path) -> None:
    size = int(dataset_id.split("-")[1])
    phantom = generate_phantom(size=size, seed=PHANTOM_SEED)
    splits = assign_splits(phantom.labels, phantom.patients, seed=PHANTOM_SEED)
    classes = list(phantom.classes)
    split_counts, class_counts = count_by_split("classification", classes, phantom.labels, splits)
    items = pd.DataFrame({
        "name": [f"{patient}-{i % 2 + 1}" for i, patient in enumerate(phantom.patients)],
        "file": "", "frame": 0, "label": [classes[label] for label in phantom.labels], "split": splits,
        "group": phantom.patients, "format": "phantom", "width": size, "height": size,
    })
    info = DatasetInfo(
        id=dataset_id, name=f"Chest phantom {size} px", task="classification", classes=classes, size=size,
        channels=1, num_images=len(phantom.images), split_counts=split_counts, class_counts=class_counts,
        source="builtin", builtin=True, description=describe_phantom(),
        preprocessing={"size": size, "channels": 1, "resize": "generated at size", "window": "generated",
                       "dtype": "uint8", "labels_from": "generator", "split_seed": PHANTOM_SEED,
                       "generator": GENERATOR_VERSION},
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(folder, info, phantom.images[..., None], phantom.labels.astype(np.int64), items)
