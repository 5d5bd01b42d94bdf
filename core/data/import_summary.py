"""What an import reports, shared by the image importer (core.data.importer) and the sequence importer
(core.data.sequence_import): the summary, the error when nothing could be used, and the pieces both build it from."""
from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from core.data.readers import sanitize_filename
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
