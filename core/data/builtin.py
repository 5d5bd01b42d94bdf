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
GENERATOR_VERSION = "builtin-3"  # bump when a generator changes, so stale copies are regenerated
TILES_ID = "real-tiles-128"
BUILTIN_IDS = (*(f"phantom-{size}" for size in PHANTOM_SIZES), TILES_ID)
DEFAULT_DATASET_ID = "phantom-64"
TILE, TILES_PER_SOURCE, MIN_TILE_STD = 128, 40, 0.03


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
    if dataset_id == TILES_ID:
        return _generate_tiles(folder)
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


def _generate_tiles(folder: Path) -> None:
    """Greyscale 128 px tiles of the real images installed packages ship (fundus, histology, microscopy, CT, MR,
    ultrasound), for training and judging restoration on real texture. Tiles do not overlap, and the tiles of
    one position in a cine loop form one group, so no test pixel was ever seen in training while every split
    holds every kind of image (as held-out images of one's own data would)."""
    from core.data.preprocess import match_channels, to_storage
    from core.data.samples import SAMPLES, load_sample
    from core.data.windowing import to_unit

    tiles, groups = [], []
    for sample_id in SAMPLES:
        image = load_sample(sample_id)
        found: list[tuple[np.ndarray, str]] = []
        for frame in range(0, image.frame_count, 3):
            unit = to_unit(image, frame)
            grey = match_channels(unit if unit.ndim == 3 else unit[..., None], 1)[..., 0]
            if min(grey.shape) > 4 * TILE:  # very large photographs: halve, so a tile shows structure
                grey = grey[: grey.shape[0] // 2 * 2, : grey.shape[1] // 2 * 2]
                grey = grey.reshape(grey.shape[0] // 2, 2, grey.shape[1] // 2, 2).mean(axis=(1, 3))
            for top in range(0, grey.shape[0] - TILE + 1, TILE):
                for left in range(0, grey.shape[1] - TILE + 1, TILE):
                    tile = grey[top:top + TILE, left:left + TILE]
                    if tile.std() >= MIN_TILE_STD:  # skip empty background
                        found.append((tile, f"{sample_id}-{top}-{left}"))
        step = max(1, len(found) // TILES_PER_SOURCE)
        for tile, group in found[::step][:TILES_PER_SOURCE]:
            tiles.append(to_storage(tile[..., None], np.uint8))
            groups.append(group)
    groups_array = np.array(groups)
    splits = assign_splits(np.full(len(tiles), -1), groups_array, seed=PHANTOM_SEED)
    split_counts, class_counts = count_by_split("unlabelled", [], np.full(len(tiles), -1), splits)
    items = pd.DataFrame({"name": [f"{g}-{i}" for i, g in enumerate(groups)], "file": "", "frame": 0, "label": "",
                          "split": splits, "group": groups_array, "format": "tile", "width": TILE, "height": TILE})
    info = DatasetInfo(
        id=TILES_ID, name="Real image tiles 128 px", task="unlabelled", classes=[], size=TILE, channels=1,
        num_images=len(tiles), split_counts=split_counts, class_counts=class_counts, source="builtin", builtin=True,
        description="Greyscale tiles of the real sample images that installed packages ship: a fundus photograph, "
                    "histology, microscopy, CT, MR and ultrasound. Unlabelled: for denoising and super-resolution "
                    "on real texture. Tiles of one source image stay in one split.",
        preprocessing={"size": TILE, "channels": 1, "resize": "tiles", "window": "default", "dtype": "uint8",
                       "labels_from": "none", "split_seed": PHANTOM_SEED, "generator": GENERATOR_VERSION},
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(folder, info, np.stack(tiles), np.full(len(tiles), -1, dtype=np.int64), items)
