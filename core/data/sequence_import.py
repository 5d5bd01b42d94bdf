"""Import sequences into a workspace dataset of clips: the path `import_paths` / `import_uploads` take when given a
frame policy (Dataset page: "Sequences"; `python -m core import PATH --sequences`).

Steps: collect sources -> read and de-identify each file and group them into clips (core.data.clips: multi-frame
DICOM, DICOM series, NIfTI 4D, videos, folders of numbered frames) -> the frame policy picks T frames of each clip
(core.data.frame_policy) -> each kept frame goes through the same per-frame preprocessing images get
(core.data.preprocess: window, resize, channels) -> labels by class folder or CSV naming the clip -> seeded split
grouped by patient -> the dataset written atomically with info.frames = T. Files that cannot be used are listed with
the reason; if no clip can be used, nothing is written. De-identified DICOM and frame images are kept under files/;
the bytes of videos (which may carry metadata and burned-in details) and NIfTI volumes are not.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.data.clips import Clip, iter_clips, natural_key
from core.data.deid import Deidentifier
from core.data.frame_policy import FrameChoice, FramePolicy, choose_frames
from core.data.import_summary import (ImportSummary, NothingImported, Progress, missing_class_warnings, patient_grouping,
                                      unique_path)
from core.data.labels import Labels, column_key, csv_columns, labels_from_csv, labels_from_folders
from core.data.medical_image import MedicalImage
from core.data.preprocess import Preprocessing, frame_to_unit_square, match_channels, to_storage
from core.data.sources import Skipped, SourceFile
from core.data.splits import assign_splits, stratum_of
from core.data.store import SYNTHETIC_COLUMN, DatasetInfo, count_by_split, datasets_dir, new_dataset_id, write_dataset
from core.errors import UserError
from core.settings import workspace_secret
from core.text import counted

CLIP_COLUMNS = ("clip", "clip_name", "clip_id", "video", "video_name", "sequence_name", "series")  # besides filename, ...
_SPREAD = 1.05  # clips whose frame times differ by more than this factor are reported


def clip_units(image: MedicalImage, policy: FramePolicy, prep: Preprocessing) -> tuple[np.ndarray, FrameChoice]:
    """The frames `policy` keeps, each windowed and resized as an image would be (`frame_to_unit_square`):
    (T, S, S, 1 or 3) float32 in [0, 1], channels as the file has them (`match_channels` decides), and the choice."""
    choice = choose_frames(image.frames, policy, image.frame_time_ms)
    done: dict[int, np.ndarray] = {}
    units = []
    for index in (int(i) for i in choice.indices):
        if index not in done:  # a looped or upsampled clip repeats frames: prepare each once
            done[index] = frame_to_unit_square(image, index, prep)
        units.append(done[index])
    return np.stack(units), choice


@dataclass
class _Prepared:
    clip: Clip
    units: np.ndarray        # (T, S, S, 1 or 3) float32 in [0, 1]
    choice: FrameChoice
    bits: int
    width: int
    height: int
    format: str


def import_sequence_sources(workspace: str, sources: list[SourceFile], skipped: list[Skipped], name: str,
                            prep: Preprocessing, policy: FramePolicy, labels_csv: tuple[str, bytes] | None = None,
                            label_column: str | None = None, seed: int = 0, progress: Progress | None = None, *,
                            file_column: str | None = None, patient_column: str | None = None) -> ImportSummary:
    """Import `sources` as a dataset of clips of `policy.frames` frames each (see the module docstring).

    The CSV (name, bytes) names clips by file name, with or without extension (a video, a multi-frame DICOM), or
    folder name (a folder of frames, a DICOM series' folder); its columns are found as for images
    (core.data.labels), the clip column also under CLIP_COLUMNS ("clip", "video", ...), e.g. EchoNet-Dynamic's
    FileList.csv (FileName without ".avi"). Raises NothingImported when no clip can be used, UserError for a
    preprocessing that does not apply to sequences or columns named without a CSV.
    """
    report = progress or (lambda fraction, message: None)
    if prep.resize == "tile":
        raise UserError("Sequences are stored as whole frames resized to a square: choose pad, crop or stretch, not "
                        "tile (native-resolution patches are for restoration).")
    name = name.strip() or "imported"
    skipped = list(skipped)
    csv_sources = [s for s in sources if s.path.lower().endswith(".csv")]
    sources = [s for s in sources if not s.path.lower().endswith(".csv")]
    if labels_csv is None and len(csv_sources) == 1:  # a labels.csv packed next to the clips
        labels_csv = (csv_sources[0].name, csv_sources[0].read())
    else:
        skipped += [Skipped(s.path, "a CSV file that was not used as the label table") for s in csv_sources]
    if not sources:
        raise NothingImported("There are no sequence files to import.", skipped)
    named = [f"--{flag}-column" for flag, value in (("file", file_column), ("label", label_column),
                                                   ("patient", patient_column)) if value]
    if named and not labels_csv:
        raise UserError(f"{' and '.join(named)} name columns of a labels CSV, but no labels CSV was given.")

    deidentifier = Deidentifier(workspace_secret(workspace))
    prepared: list[_Prepared] = []
    for clip in iter_clips(sources, deidentifier, skipped, lambda f, m: report(0.85 * f, m)):
        units, choice = clip_units(clip.image, policy, prep)
        image = clip.image
        prepared.append(_Prepared(clip, units, choice, image.bits, image.width, image.height, image.format))
        clip.image = _released(image)  # the full-resolution frames are not needed any more
    if not prepared:
        raise NothingImported(_nothing(skipped), skipped)

    labels, prepared = _labels(prepared, labels_csv, label_column, file_column, patient_column, skipped)
    if not prepared:
        raise NothingImported(_nothing(skipped), skipped)
    prepared.sort(key=lambda item: natural_key(item.clip.path))
    report(0.9, "Splitting and saving")
    summary = _store(workspace, name, prepared, labels, prep, policy, seed, skipped, deidentifier)
    report(1.0, f"Imported {counted(summary.images, 'clip')}")
    return summary


def _nothing(skipped: list[Skipped]) -> str:
    reason = f"{skipped[0].file}: {skipped[0].reason}".rstrip(".") if skipped else "no files were given"
    return f"None of the files made a usable sequence (first problem: {reason})."


def _released(image: MedicalImage) -> MedicalImage:
    image.frames = image.frames[:1]
    image.padding, image.frame_vois = None, []
    return image


def _labels(prepared: list[_Prepared], labels_csv: tuple[str, bytes] | None, label_column: str | None,
            file_column: str | None, patient_column: str | None, skipped: list[Skipped]
            ) -> tuple[Labels, list[_Prepared]]:
    """Labels per clip, by the CSV row naming it or the class folder it sits in; clips without one are skipped
    (with the reason the label rules give) unless the whole dataset is unlabelled."""
    if labels_csv:
        keyed = {item.clip.path: item for item in prepared}
        file_column = file_column or _clip_column(labels_csv)
        labels, kept, label_skips = labels_from_csv(labels_csv[1], labels_csv[0], _pseudo(keyed), label_column,
                                                    file_column=file_column, patient_column=patient_column)
    else:
        keyed = {item.clip.label_path or item.clip.path: item for item in prepared}
        labels, kept, label_skips = labels_from_folders(_pseudo(keyed))
    skipped += label_skips
    # Labels are keyed by the clip's path from here on
    chosen = [keyed[source.path] for source in kept]
    labels.by_path = {keyed[path].clip.path: names for path, names in labels.by_path.items()}
    labels.patients = {keyed[path].clip.path: patient for path, patient in labels.patients.items()}
    return labels, chosen


def _clip_column(labels_csv: tuple[str, bytes]) -> str | None:
    """A column naming clips ("clip", "video", ...) when the table has none of the names images use."""
    found = csv_columns(labels_csv[1], labels_csv[0])
    if found.file is not None:
        return None
    by_key = {column_key(column): column for column in found.columns}
    return next((by_key[column_key(name)] for name in CLIP_COLUMNS if column_key(name) in by_key), None)


def _pseudo(keyed: dict[str, _Prepared]) -> list[SourceFile]:
    return [SourceFile(path, lambda: b"") for path in keyed]


def _store(workspace: str, name: str, prepared: list[_Prepared], labels: Labels, prep: Preprocessing,
           policy: FramePolicy, seed: int, skipped: list[Skipped], deidentifier: Deidentifier) -> ImportSummary:
    channels = prep.channels or (3 if any(item.units.shape[-1] == 3 for item in prepared) else 1)
    dtype = np.uint16 if any(item.bits > 8 for item in prepared) else np.uint8
    clips = np.stack([to_storage(match_channels_clip(item.units, channels), dtype) for item in prepared])
    names: set[str] = set()
    stored: set[str] = set()
    rows, files, per_item_labels = [], {}, []
    for item in prepared:
        clip = item.clip
        kept = {unique_path(path, stored): read for path, read in clip.originals.items()}
        files.update({path: read() for path, read in kept.items()})
        patient = labels.patients.get(clip.path)
        item_name = unique_path(clip.path, names)
        group = deidentifier.pseudonym(patient) if patient else clip.patient_key or f"clip:{item_name}"
        rows.append({"name": item_name, "file": next(iter(kept), ""), "frame": 0,
                     "label": "|".join(labels.by_path.get(clip.path, [])), "group": group, "format": item.format,
                     "width": item.width, "height": item.height, SYNTHETIC_COLUMN: False})
        per_item_labels.append(labels.by_path.get(clip.path, []))
    class_index = {c: i for i, c in enumerate(labels.classes)}
    if labels.kind == "single":
        task, label_array = "classification", np.array([class_index[n[0]] for n in per_item_labels], dtype=np.int64)
    elif labels.kind == "multi":
        task = "multilabel"
        label_array = np.zeros((len(rows), len(labels.classes)), dtype=np.uint8)
        for i, names_of in enumerate(per_item_labels):
            label_array[i, [class_index[n] for n in names_of]] = 1
    else:
        task, label_array = "unlabelled", np.full(len(rows), -1, dtype=np.int64)
    groups = np.array([row["group"] for row in rows])
    splits = assign_splits(stratum_of(label_array), groups, seed=seed)
    items = pd.DataFrame(rows)
    items.insert(4, "split", splits)
    split_counts, class_counts = count_by_split(task, labels.classes, label_array, splits)
    grouped_by, patients_per_split, warnings = patient_grouping(
        [(item.clip.path, item.clip.patient_key) for item in prepared], labels, groups, splits, items="clips",
        units="clips", own_prefix="clip:")
    warnings += missing_class_warnings(class_counts, split_counts, item="clip")
    frame_time, time_warnings = _frame_time(prepared)
    warnings += time_warnings + _policy_notes(prepared)
    for item in prepared:
        warnings += item.clip.warnings

    used = Preprocessing(prep.size, channels, prep.resize, prep.window, prep.intensity)
    dataset_id = new_dataset_id(name)
    source_files = sum(len(item.clip.files) for item in prepared)
    info = DatasetInfo(
        id=dataset_id, name=name, task=task, classes=labels.classes, size=prep.size, channels=channels,
        num_images=len(rows), split_counts=split_counts, class_counts=class_counts, source="upload",
        preprocessing={**used.as_dict(), "frame_policy": policy.as_dict(), "dtype": np.dtype(dtype).name,
                       "labels_from": labels.origin, "split_seed": seed, "grouped_by": grouped_by,
                       "patients_per_split": patients_per_split},
        skipped=[s.as_dict() for s in skipped],
        description=f"Imported {counted(len(rows), 'clip')} of {policy.frames} frames from "
                    f"{counted(source_files, 'file')}.",
        frames=policy.frames, frame_time_ms=frame_time,
    )
    name = write_dataset(datasets_dir(workspace) / dataset_id, info, clips, label_array, items, files).info.name
    return ImportSummary(dataset_id, name, task, len(rows), source_files, labels.classes, split_counts, class_counts,
                         [s.as_dict() for s in skipped], describe(used, policy), warnings, grouped_by=grouped_by,
                         patients_per_split=patients_per_split, frames=policy.frames, frame_time_ms=frame_time)


def match_channels_clip(units: np.ndarray, channels: int) -> np.ndarray:
    """(T, S, S, 1 or 3) -> (T, S, S, channels), frame by frame as `match_channels` does for an image."""
    if units.shape[-1] == channels:
        return units
    return np.stack([match_channels(frame, channels) for frame in units])


def describe(prep: Preprocessing, policy: FramePolicy) -> list[str]:
    """The import's policy in plain words: the frame policy first, then each frame's size, channels and intensity."""
    return [policy.describe(), *prep.describe()[:3],
            "Each sequence becomes one clip; all clips of one patient stay in the same split."]


def _frame_time(prepared: list[_Prepared]) -> tuple[float | None, list[str]]:
    """The dataset's time between stored frames (the median over the clips that state one) and what to warn."""
    times = [item.choice.frame_time_ms for item in prepared]
    known = np.array([t for t in times if t is not None], dtype=float)
    if not known.size:
        return None, []
    warnings = []
    missing = len(times) - known.size
    if missing:
        warnings.append(f"{counted(missing, 'clip')} of {len(times)} state no frame time; the dataset records the "
                        "others' median.")
    median = float(np.median(known))
    if known.max() > _SPREAD * known.min():
        warnings.append(f"The clips' stored frames are {known.min():.3g} to {known.max():.3g} ms apart (their frame "
                        f"rates or cycle lengths differ); the dataset records the median, {median:.3g} ms.")
    return median, warnings


def _policy_notes(prepared: list[_Prepared]) -> list[str]:
    """The frame policy's notes as warnings: one sentence per kind of note (its numbers aside), naming the clips."""
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for item in prepared:
        if item.choice.note:
            kind = re.sub(r"\d+(\.\d+)?", "#", item.choice.note)
            by_kind.setdefault(kind, []).append((item.clip.path, item.choice.note.rstrip(".")))
    sentences = []
    for pairs in by_kind.values():
        paths = [path for path, _ in pairs]
        listed = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        notes = {note for _, note in pairs}
        if len(notes) == 1:
            sentences.append(f"{counted(len(paths), 'clip')} ({listed}): {notes.pop()}.")
        else:
            sentences.append(f"{counted(len(paths), 'clip')} ({listed}): as for {pairs[0][0]}, {pairs[0][1]}.")
    return sentences
