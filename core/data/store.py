"""The dataset store: each dataset is a folder written once and read by every page, run and session.

    <dataset folder>/
        dataset.json    DatasetInfo: name, task, classes, size, channels, counts, source, preprocessing, skipped
        items.csv       one row per image (or clip): name, file, label, split, group, original size, synthetic
                        (True for images a generative model made; they are only ever in the train split)
        images.npy      uint8 or uint16 (N, H, W, C), read memory-mapped; a sequence dataset (info.frames = T > 0)
                        holds clips, (N, T, H, W, C), every clip resampled to T frames by its frame policy
        labels.npy      int64 (N,) class index (-1 unlabelled), or uint8 (N, K) multi-hot
        files/          the de-identified originals (DICOM, PNG, ...) for the viewer, when there were any

Stored datasets live in the workspace (datasets/<id>/); built-in ones are generated into a shared folder
(see core.data.builtin). A dataset is written into a temporary folder and renamed into place, so a failed
import leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.data.splits import SPLITS
from core.errors import UserError
from core.settings import CLASS_WORKSPACE, workspace_dir

if TYPE_CHECKING:  # pandas is imported where items are read, so listing datasets does not load it
    import pandas as pd

TASKS = ("classification", "multilabel", "unlabelled")
SYNTHETIC_COLUMN = "synthetic"


@dataclass
class DatasetInfo:
    """What a dataset is; saved as dataset.json and listed by `python -m core datasets --json`."""

    id: str
    name: str
    task: str                         # "classification" | "multilabel" | "unlabelled"
    classes: list[str]
    size: int                         # images are size x size
    channels: int                     # 1 (greyscale) or 3 (RGB)
    num_images: int
    split_counts: dict[str, int]      # split -> images
    class_counts: dict[str, dict[str, int]]  # split -> class -> images (multi-label: positives per label)
    source: str                       # "builtin" | "upload" | "medmnist" | "synthetic" (every training image is
                                      # synthetic) | "real+synthetic" (real images plus synthetic training images)
    preprocessing: dict = field(default_factory=dict)  # how files became arrays (shown to users, reused for prediction)
    skipped: list[dict] = field(default_factory=list)  # files left out at import, with the reason
    description: str = ""
    created: str = ""
    builtin: bool = False
    frames: int = 0                   # 0: a dataset of images; T > 0: a dataset of clips of T frames each
    frame_time_ms: float | None = None  # a sequence dataset's time between stored frames, when the files said

    @property
    def is_sequence(self) -> bool:
        return self.frames > 0

    def public_dict(self) -> dict:
        """The JSON summary for listings (the CLI's `datasets --json`)."""
        return {
            "id": self.id, "name": self.name, "task": self.task, "classes": self.classes,
            "counts": self.split_counts, "class_counts": self.class_counts, "images": self.num_images,
            "size": self.size, "channels": self.channels, "source": self.source, "builtin": self.builtin,
            "frames": self.frames, "frame_time_ms": self.frame_time_ms,
        }


class Dataset:
    """A stored dataset opened for reading. Arrays are memory-mapped; treat them as read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.info = DatasetInfo(**json.loads((path / "dataset.json").read_text()))
        self._items: pd.DataFrame | None = None

    @property
    def images(self) -> np.ndarray:
        return np.load(self.path / "images.npy", mmap_mode="r")

    @property
    def labels(self) -> np.ndarray:
        return np.load(self.path / "labels.npy")

    @property
    def items(self) -> pd.DataFrame:
        if self._items is None:
            import pandas as pd

            items = pd.read_csv(self.path / "items.csv", dtype={"label": str, "group": str, "file": str},
                                keep_default_na=False)
            if SYNTHETIC_COLUMN not in items.columns:  # a dataset stored before the column existed: all real
                items[SYNTHETIC_COLUMN] = False
            items[SYNTHETIC_COLUMN] = _flags(items[SYNTHETIC_COLUMN])
            self._items = items
        return self._items

    @property
    def synthetic(self) -> np.ndarray:
        """(N,) bool: which items a generative model made (all False for a dataset of real images)."""
        return self.items[SYNTHETIC_COLUMN].to_numpy(dtype=bool)

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.items["split"].to_numpy() == split)

    def original_file(self, index: int) -> Path | None:
        """The stored de-identified original an item came from, if the dataset kept one."""
        name = self.items["file"].iloc[index]
        return self.path / "files" / name if name else None

    def unit_images(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Images as float32 in [0, 1], (N, H, W, C) (clips: (N, T, H, W, C))."""
        images = self.images if indices is None else self.images[indices]
        return images.astype(np.float32) / np.iinfo(images.dtype).max


def _flags(column: pd.Series) -> pd.Series:
    """A column of True/False (bools, or "True"/"False"/"1"/"0" as text) as bools."""
    return column.astype(str).str.strip().str.lower().isin(("true", "1"))


def unique_name(name: str, taken: Iterable[str]) -> str:
    """`name`, else `name (2)`, `name (3)`, ...: the first that no name in `taken` equals (ignoring case and
    surrounding spaces), so two datasets of a workspace never share the name the pages and the CLI show."""
    used = {other.strip().casefold() for other in taken}
    base = name.strip()
    candidate, number = base, 2
    while candidate.casefold() in used:
        candidate, number = f"{base} ({number})", number + 1
    return candidate


@contextlib.contextmanager
def _names_locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder`'s dataset names while one is chosen and its dataset renamed into place,
    so two imports finishing at once cannot both take `name`. (Without fcntl, e.g. on Windows: no lock.)"""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(folder / ".names.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _names_in(folder: Path) -> list[str]:
    """The names of the datasets stored in `folder` (unreadable entries are skipped)."""
    names = []
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.name.startswith("."):
            try:
                names.append(str(json.loads((entry / "dataset.json").read_text())["name"]))
            except (OSError, ValueError, KeyError):
                continue
    return names


def new_dataset_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "dataset"
    return f"{slug}-{secrets.token_hex(3)}"


def datasets_dir(workspace: str) -> Path:
    path = workspace_dir(workspace) / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_dataset(
    folder: Path,
    info: DatasetInfo,
    images: np.ndarray,
    labels: np.ndarray,
    items: pd.DataFrame,
    files: dict[str, bytes] | None = None,
) -> Dataset:
    """Write a complete dataset into `folder` atomically (temporary sibling folder, then rename).

    A stored (not built-in) dataset gets a name no other dataset in the same parent folder has: `info.name`
    becomes e.g. "twoclass (2)" when "twoclass" is taken; read it from the returned dataset.

    `items` may carry a boolean "synthetic" column (absent: every item is real). A synthetic item outside the
    train split is a programming error (ValueError): synthetic images never validate or test a model."""
    dims = 5 if info.frames else 4
    if images.ndim != dims or images.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"images must be uint8/uint16 {'(N, T, H, W, C)' if info.frames else '(N, H, W, C)'}, "
                         f"got {images.dtype} {images.shape}")
    if info.frames and images.shape[1] != info.frames:
        raise ValueError(f"clips hold {images.shape[1]} frames but info.frames is {info.frames}")
    if not (len(images) == len(labels) == len(items) == info.num_images):
        raise ValueError("images, labels, items and info.num_images disagree")
    items = items.copy()
    synthetic = (_flags(items[SYNTHETIC_COLUMN]).to_numpy() if SYNTHETIC_COLUMN in items.columns
                 else np.zeros(len(items), dtype=bool))
    misplaced = synthetic & (items["split"].to_numpy() != "train")
    if misplaced.any():
        raise ValueError(f"programming error: {int(misplaced.sum())} synthetic items are in a val or test split; "
                         "synthetic images may only be in train")
    items[SYNTHETIC_COLUMN] = synthetic
    tmp = folder.parent / f".tmp-{folder.name}-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    try:
        info.created = info.created or datetime.now(timezone.utc).isoformat(timespec="seconds")
        np.save(tmp / "images.npy", np.ascontiguousarray(images))
        np.save(tmp / "labels.npy", labels)
        items.to_csv(tmp / "items.csv", index=False)
        for relative, data in (files or {}).items():
            target = tmp / "files" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        with contextlib.nullcontext() if info.builtin else _names_locked(folder.parent):
            if not info.builtin:  # built-in datasets have fixed names; an import never shares one with another
                info.name = unique_name(info.name, _names_in(folder.parent))
            (tmp / "dataset.json").write_text(json.dumps(asdict(info), indent=1))
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Dataset(folder)


def count_by_split(task: str, classes: list[str], labels: np.ndarray, splits: np.ndarray
                   ) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Images per split, and images per class per split (positives per label for multi-label data)."""
    split_counts = {s: int((splits == s).sum()) for s in SPLITS}
    class_counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        chosen = labels[splits == split]
        if task == "classification":
            class_counts[split] = {c: int((chosen == i).sum()) for i, c in enumerate(classes)}
        elif task == "multilabel":
            class_counts[split] = {c: int(chosen[:, i].sum()) for i, c in enumerate(classes)}
        else:
            class_counts[split] = {}
    return split_counts, class_counts


def stored_datasets(workspace: str) -> list[DatasetInfo]:
    infos = []
    for folder in sorted(datasets_dir(workspace).iterdir()):
        if folder.is_dir() and not folder.name.startswith(".") and (folder / "dataset.json").exists():
            infos.append(Dataset(folder).info)
    return sorted(infos, key=lambda info: info.created, reverse=True)


def stored_dataset_path(workspace: str, dataset_id: str) -> Path | None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", dataset_id):
        return None
    path = datasets_dir(workspace) / dataset_id
    return path if (path / "dataset.json").exists() else None


def delete_dataset(workspace: str, dataset_id: str) -> None:
    """Delete a dataset stored in `workspace`. A class-workspace dataset seen from another workspace ("class:<id>",
    core.data.catalog.SHARED_PREFIX) is refused: only the teacher, in the class workspace, deletes it."""
    if dataset_id.startswith(f"{CLASS_WORKSPACE}:"):
        raise UserError(f"Dataset '{dataset_id}' belongs to the class workspace: you can use it but not delete it.")
    path = stored_dataset_path(workspace, dataset_id)
    if path is None:
        raise UserError(f"There is no stored dataset '{dataset_id}' in workspace '{workspace}'.")
    trash = path.parent / f".deleted-{path.name}-{secrets.token_hex(4)}"
    os.replace(path, trash)  # disappears at once for readers; the bytes go after
    shutil.rmtree(trash, ignore_errors=True)
