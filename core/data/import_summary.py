"""What an import reports, shared by the image importer (core.data.importer) and the sequence importer
(core.data.sequence_import): the summary, the error when nothing could be used, and the pieces both build it from."""
from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.data.labels import Labels
from core.data.readers import sanitize_filename
from core.data.splits import SPLITS
from core.data.sources import Skipped
from core.errors import UserError

Progress = Callable[[float, str], None]


class NothingImported(UserError):
    """No file could be used; `skipped` says why for each."""

    def __init__(self, message: str, skipped: list[Skipped]) -> None:
        super().__init__(message)
        self.skipped = skipped


@dataclass
class ImportSummary:
    dataset_id: str
    name: str
    task: str
    images: int                # stored items: images, or clips for a sequence dataset
    files: int
    classes: list[str]
    counts: dict[str, int]
    class_counts: dict[str, dict[str, int]]
    skipped: list[dict]
    preprocessing: list[str]
    warnings: list[str] = field(default_factory=list)
    grouped_by: str | None = None  # what kept a patient's images in one split: "CSV column 'Patient ID'", ...
    patients_per_split: dict[str, int] = field(default_factory=dict)  # split -> patients ({} when ungrouped)
    synthetic: int = 0  # images from files marked synthetic by MedLab (all put in the train split)
    frames: int = 0     # a sequence dataset: T frames per clip (0 for images)
    frame_time_ms: float | None = None  # a sequence dataset: time between stored frames, when known

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def unique_path(path: str, used: set[str]) -> str:
    """A sanitised relative path (folders kept) that no other file of this import has."""
    parts = [sanitize_filename(part) for part in path.split("/") if part not in ("", ".")]
    candidate = "/".join(parts)
    stem, ext = posixpath.splitext(candidate)
    number = 2
    while candidate in used:
        candidate, number = f"{stem}_{number}{ext}", number + 1
    used.add(candidate)
    return candidate


def missing_class_warnings(class_counts: dict[str, dict[str, int]], split_counts: dict[str, int],
                           item: str = "image") -> list[str]:
    """A sentence for each non-empty validation or test split that holds no `item` (image, clip) of a class (no
    positive of a label): the model cannot be checked on that class there, e.g. its sensitivity cannot be measured."""
    warnings = []
    for split, what in (("val", "validation"), ("test", "test")):
        absent = [name for name, count in class_counts.get(split, {}).items() if count == 0]
        if absent and split_counts.get(split, 0) > 0:
            listed = ", ".join(f"'{name}'" for name in absent)
            warnings.append(f"The {what} split holds no {item} of {listed}, so the model cannot be "
                            f"{'evaluated' if split == 'test' else 'validated'} on "
                            f"{'that class' if len(absent) == 1 else 'those classes'}; import more {item}s of "
                            f"{'it' if len(absent) == 1 else 'them'}.")
    return warnings


def patient_grouping(members: list[tuple[str, str | None]], labels: Labels, groups: np.ndarray, splits: np.ndarray,
                     items: str = "images", units: str = "files", own_prefix: str = "file:"
                     ) -> tuple[str | None, dict[str, int], list[str]]:
    """What kept each patient's `items` in one split, patients per split, and plain warnings where nothing (or not
    every one of the `units`) named a patient. `members` are (source path, DICOM patient key or None) per unit;
    `groups` and `splits` per stored item; a group starting with `own_prefix` is a unit split on its own."""
    by_csv = sum(1 for path, _ in members if path in labels.patients)
    by_dicom = sum(1 for path, key in members if path not in labels.patients and key)
    keys = ([f"CSV column '{labels.patient_column}'"] if by_csv else []) + (["DICOM PatientID"] if by_dicom else [])
    grouped_by = " and ".join(keys) or None
    warnings: list[str] = []
    if grouped_by is None:
        where = f"in {labels.csv_name}" if labels.origin == "csv" else "(no labels CSV with one, no DICOM PatientID)"
        warnings.append(f"No patient column was found {where}, so {items} of one patient may sit in different "
                        "splits; name it with --patient-column (on the Dataset page: Patient column).")
        patients_per_split: dict[str, int] = {}
    else:
        named = np.array([not str(group).startswith(own_prefix) for group in groups])
        patients_per_split = {split: len(set(groups[named & (splits == split)])) for split in SPLITS}
        missing = len(members) - by_csv - by_dicom
        if missing:
            warnings.append(f"{missing} of {len(members)} {units} name no patient ({grouped_by} is empty or absent "
                            f"for them), so each of those {units} is split as a patient of its own.")
    empty = [split for split in SPLITS[1:] if not (splits == split).any()]
    if empty:
        warnings.append(f"The {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty: "
                        f"{len(set(groups))} patients or ungrouped {units} are too few to hold any out.")
    return grouped_by, patients_per_split, warnings
