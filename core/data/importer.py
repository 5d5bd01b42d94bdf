"""Import files into a workspace dataset: the one path used by the Dataset page and `python -m core import`.

Steps: collect sources (folders, ZIPs, uploads) -> labels (CSV or class folders) -> decode and de-identify each
file -> window and resize every frame (for restoration: keep each file's full range and cut native-resolution
patches, see core.data.native) -> seeded grouped split -> write the dataset atomically. Each file that cannot be
used is listed in the summary with the reason; if none can be used, nothing is written. Files carrying MedLab's
synthetic mark (core.data.synthetic_marker: a PNG text chunk, a DICOM ImageType) are kept as synthetic items in
the train split only, and the summary says so.
"""
from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom

from core.data.deid import Deidentifier
from core.data.frame_policy import FramePolicy
from core.data.import_summary import (ImportSummary, NothingImported, Progress, missing_class_warnings, patient_grouping,
                                      unique_path)
from core.data.labels import Labels, labels_from_csv, labels_from_folders
from core.data.medical_image import MedicalImage
from core.data.medmnist import fetch_medmnist, is_medmnist_npz, store_medmnist_npz
from core.data.native import data_range, native_patches
from core.data.preprocess import Preprocessing, frame_to_unit, frame_to_unit_square, match_channels, to_storage
from core.data.readers import read_medical_image
from core.data.sources import Skipped, SourceFile, expand_uploads, path_sources
from core.data.splits import assign_splits, stratum_of
from core.data.store import SYNTHETIC_COLUMN, DatasetInfo, count_by_split, datasets_dir, new_dataset_id, write_dataset
from core.data.synthetic_marker import is_synthetic_file
from core.errors import UserError
from core.settings import workspace_secret
from core.text import counted

# ImportSummary, NothingImported, Progress and missing_class_warnings live in core.data.import_summary (shared with
# the sequence importer) and are imported from here as before.
__all__ = ["ImportSummary", "NothingImported", "Progress", "import_medmnist", "import_paths", "import_sources",
           "import_uploads", "missing_class_warnings", "suggested_name"]


@dataclass
class _Decoded:
    source: SourceFile
    stored_as: str          # path under files/, "" when the original is not kept
    image: MedicalImage
    labels: list[str]
    group: str
    synthetic: bool = False  # the file carries MedLab's synthetic mark


def import_paths(workspace: str, paths: list[Path], name: str | None = None, prep: Preprocessing | None = None,
                 labels_csv: Path | None = None, label_column: str | None = None, seed: int = 0,
                 progress: Progress | None = None, *, file_column: str | None = None,
                 patient_column: str | None = None, frame_policy: FramePolicy | None = None) -> ImportSummary:
    """Command-line import of folders, ZIPs and single files (DICOM, NIfTI, images, a MedMNIST .npz).

    The column arguments name the labels CSV's columns (see `core.data.labels.labels_from_csv`). With
    `frame_policy` the files are imported as sequences (core.data.sequence_import), one clip per sequence.
    """
    if frame_policy is None and len(paths) == 1 and is_medmnist_npz(paths[0]):
        return _medmnist_summary(store_medmnist_npz(workspace, paths[0], name=name))
    sources, skipped = path_sources(paths)
    csv = (labels_csv.name, labels_csv.read_bytes()) if labels_csv else None
    name = name or suggested_name([path.name for path in paths])
    if frame_policy is not None:
        from core.data.sequence_import import import_sequence_sources

        return import_sequence_sources(workspace, sources, skipped, name, prep or Preprocessing(), frame_policy, csv,
                                       label_column, seed, progress, file_column=file_column,
                                       patient_column=patient_column)
    return import_sources(workspace, sources, skipped, name, prep or Preprocessing(), csv, label_column, seed,
                          progress, file_column=file_column, patient_column=patient_column)


_ARCHIVE_SUFFIXES = (".nii.gz", ".tar.gz", ".tgz", ".zip", ".nii", ".dcm", ".dicom", ".npz", ".tar")


def _stem(name: str) -> str:
    """A file name without its folder and its (double) extension: "scans/twoclass.zip" -> "twoclass"."""
    base = posixpath.basename(name.replace("\\", "/").rstrip("/"))
    lower = base.lower()
    for suffix in _ARCHIVE_SUFFIXES:
        if lower.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return posixpath.splitext(base)[0] or base


def suggested_name(names: list[str]) -> str:
    """The dataset name an import of these files or paths suggests, as a person would name it.

    One file or folder: its name without extension ("twoclass.zip" -> "twoclass", "head.nii.gz" -> "head").
    A folder upload ("study/a/1.png", ...): the folder ("study"). Many files (a DICOM series "IM0001.dcm",
    "IM0002.dcm", ...): what their names share, less trailing numbers and separators ("IM"), else the first
    file's name and how many more ("scan and 11 more"). No names: "imported".
    """
    names = [n.replace("\\", "/").strip("/") for n in names if n and n.strip("/")]
    names = [n for n in names if not n.lower().endswith(".csv")] or names  # a labels table names no dataset
    if not names:
        return "imported"
    if len(names) == 1:
        return _stem(names[0]) or "imported"
    tops = {n.split("/")[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):  # one folder
        return tops.pop()
    stems = [_stem(n) for n in names]
    shared = posixpath.commonprefix(stems).rstrip("0123456789 ._-(")
    if len(shared) >= 2:
        return shared
    return f"{stems[0]} and {len(stems) - 1} more"


def import_medmnist(workspace: str, flag: str, size: int) -> ImportSummary:
    """Fetch (or reuse the cached) MedMNIST subset and store it with its official split."""
    return _medmnist_summary(store_medmnist_npz(workspace, fetch_medmnist(flag, size), flag=flag))


def _medmnist_summary(info: DatasetInfo) -> ImportSummary:
    return ImportSummary(info.id, info.name, info.task, info.num_images, 1, info.classes, info.split_counts,
                         info.class_counts, [], ["Images kept as published by MedMNIST, with its official split."])


def import_uploads(workspace: str, uploads: list[tuple[str, bytes]], name: str, prep: Preprocessing,
                   labels_csv: tuple[str, bytes] | None = None, label_column: str | None = None, seed: int = 0,
                   progress: Progress | None = None, *, file_column: str | None = None,
                   patient_column: str | None = None, frame_policy: FramePolicy | None = None) -> ImportSummary:
    """Browser uploads: files, ZIPs of class folders or a folder upload, optionally with a labels CSV.
    With `frame_policy` they are imported as sequences (core.data.sequence_import)."""
    if not uploads:
        raise UserError("Choose at least one file to import.")
    sources, skipped = expand_uploads(uploads)
    if frame_policy is not None:
        from core.data.sequence_import import import_sequence_sources

        return import_sequence_sources(workspace, sources, skipped, name, prep, frame_policy, labels_csv,
                                       label_column, seed, progress, file_column=file_column,
                                       patient_column=patient_column)
    return import_sources(workspace, sources, skipped, name, prep, labels_csv, label_column, seed, progress,
                          file_column=file_column, patient_column=patient_column)


def import_sources(workspace: str, sources: list[SourceFile], skipped: list[Skipped], name: str,
                   prep: Preprocessing, labels_csv: tuple[str, bytes] | None = None,
                   label_column: str | None = None, seed: int = 0, progress: Progress | None = None, *,
                   file_column: str | None = None, patient_column: str | None = None) -> ImportSummary:
    report = progress or (lambda fraction, message: None)
    name = name.strip() or "imported"
    skipped = list(skipped)
    csv_sources = [s for s in sources if s.path.lower().endswith(".csv")]
    sources = [s for s in sources if not s.path.lower().endswith(".csv")]
    if labels_csv is None and len(csv_sources) == 1:  # a labels.csv packed next to the images
        labels_csv = (csv_sources[0].name, csv_sources[0].read())
    else:
        skipped += [Skipped(s.path, "a CSV file that was not used as the label table") for s in csv_sources]
    if not sources:
        raise NothingImported("There are no image files to import.", skipped)

    named = [f"--{flag}-column" for flag, value in (("file", file_column), ("label", label_column),
                                                   ("patient", patient_column)) if value]
    if named and not labels_csv:
        raise UserError(f"{' and '.join(named)} name columns of a labels CSV, but no labels CSV was given.")
    if labels_csv:
        labels, sources, label_skips = labels_from_csv(labels_csv[1], labels_csv[0], sources, label_column,
                                                       file_column=file_column, patient_column=patient_column)
    else:
        labels, sources, label_skips = labels_from_folders(sources)
    skipped += label_skips

    secret = workspace_secret(workspace)
    decoded, warnings = _decode_all(sources, labels, secret, skipped, report)
    if not decoded:
        reason = f"{skipped[0].file}: {skipped[0].reason}".rstrip(".") if skipped else "no files were given"
        raise NothingImported(f"None of the files could be imported (first problem: {reason}).", skipped)

    report(0.9, "Splitting and saving")
    summary = _store(workspace, name, decoded, labels, prep, seed, skipped, warnings)
    report(1.0, f"Imported {counted(summary.images, 'image')}")
    return summary


def _decode_all(sources: list[SourceFile], labels: Labels, secret: bytes, skipped: list[Skipped],
                report: Progress) -> tuple[list[_Decoded], list[str]]:
    deidentifier = Deidentifier(secret)
    decoded: list[_Decoded] = []
    warnings: list[str] = []
    used_names: set[str] = set()
    for number, source in enumerate(sources):
        report(0.85 * number / max(len(sources), 1), f"Reading {source.name}")
        try:
            data = source.read()
            image = read_medical_image(data, source.name, deidentifier=deidentifier)
        except UserError as error:
            skipped.append(Skipped(source.path, error.message))
            continue
        except Exception as error:  # a library choking on a malformed file must not stop the import
            skipped.append(Skipped(source.path, f"could not be decoded ({type(error).__name__})"))
            continue
        warnings += [f"{source.path}: {w}" for w in image.warnings]
        stored_as = _unique_path(source.path, used_names)
        # CSV patient ids are identifying and get a keyed pseudonym; DICOM keys come pseudonymised already
        csv_patient = labels.patients.get(source.path)
        group = deidentifier.pseudonym(csv_patient) if csv_patient else image.patient_key
        decoded.append(_Decoded(source, stored_as, image, labels.by_path.get(source.path, []),
                                group or f"file:{stored_as}", synthetic=is_synthetic_file(data)))
    return decoded, warnings


def _store(workspace: str, name: str, decoded: list[_Decoded], labels: Labels, prep: Preprocessing, seed: int,
           skipped: list[Skipped], warnings: list[str]) -> ImportSummary:
    decoded = _large_enough(decoded, prep, skipped)
    channels = prep.channels or (3 if any(d.image.is_color for d in decoded) else 1)
    dtype = np.uint16 if any(d.image.bits > 8 for d in decoded) else np.uint8
    arrays, rows, per_item_labels = [], [], []
    for item in decoded:
        for frame in range(item.image.frame_count):
            for unit, at in _frame_units(item.image, frame, prep):
                arrays.append(to_storage(match_channels(unit, channels), dtype))
                suffix = f"#{frame + 1}" if item.image.frame_count > 1 else ""
                rows.append({"name": item.stored_as + suffix + at, "file": item.stored_as, "frame": frame,
                             "label": "|".join(item.labels), "group": item.group, "format": item.image.format,
                             "width": item.image.width, "height": item.image.height,
                             SYNTHETIC_COLUMN: item.synthetic})
                per_item_labels.append(item.labels)
    images = np.stack(arrays)
    class_index = {c: i for i, c in enumerate(labels.classes)}
    if labels.kind == "single":
        task, label_array = "classification", np.array([class_index[names[0]] for names in per_item_labels])
    elif labels.kind == "multi":
        task = "multilabel"
        label_array = np.zeros((len(rows), len(labels.classes)), dtype=np.uint8)
        for i, names in enumerate(per_item_labels):
            label_array[i, [class_index[n] for n in names]] = 1
    else:
        task, label_array = "unlabelled", np.full(len(rows), -1, dtype=np.int64)
    groups = np.array([row["group"] for row in rows])
    synthetic = np.array([row[SYNTHETIC_COLUMN] for row in rows], dtype=bool)
    splits = assign_splits(stratum_of(label_array), groups, seed=seed, keep_in_train=synthetic)
    items = pd.DataFrame(rows)
    items.insert(4, "split", splits)
    split_counts, class_counts = count_by_split(task, labels.classes, label_array, splits)
    grouped_by, patients_per_split, group_warnings = patient_grouping(
        [(d.source.path, d.image.patient_key) for d in decoded], labels, groups, splits)
    group_warnings += missing_class_warnings(class_counts, split_counts)
    synthetic_files = sum(item.synthetic for item in decoded)
    if synthetic_files:
        group_warnings.insert(0, f"{counted(synthetic_files, 'file')} carr{'ies' if synthetic_files == 1 else 'y'} "
                                 "MedLab's synthetic mark (made by a generative model), so "
                                 f"{'its' if synthetic_files == 1 else 'their'} {counted(int(synthetic.sum()), 'image')} "
                                 "went to the train split only: synthetic images never validate or test a model.")

    dataset_id = new_dataset_id(name)
    policy = Preprocessing(prep.size, channels, prep.resize, prep.window, prep.intensity)
    info = DatasetInfo(
        id=dataset_id, name=name, task=task, classes=labels.classes, size=prep.size, channels=channels,
        num_images=len(rows), split_counts=split_counts, class_counts=class_counts,
        source="upload" if not synthetic.any() else "synthetic" if synthetic.all() else "real+synthetic",
        preprocessing={**policy.as_dict(), "dtype": np.dtype(dtype).name, "labels_from": labels.origin,
                       "split_seed": seed, "grouped_by": grouped_by, "patients_per_split": patients_per_split,
                       **({"synthetic_images": int(synthetic.sum())} if synthetic.any() else {}),
                       **_value_ranges(decoded, prep)},
        skipped=[s.as_dict() for s in skipped],
        description=f"Imported from {counted(len(decoded), 'file')}.",
    )
    files = {item.stored_as: _original_bytes(item) for item in decoded if item.image.format != "nifti"}
    name = write_dataset(datasets_dir(workspace) / dataset_id, info, images, label_array, items, files).info.name
    return ImportSummary(dataset_id, name, task, len(rows), len(decoded), labels.classes, split_counts,
                         class_counts, [s.as_dict() for s in skipped], policy.describe(), group_warnings + warnings,
                         grouped_by=grouped_by, patients_per_split=patients_per_split,
                         synthetic=int(synthetic.sum()))


def _large_enough(decoded: list[_Decoded], prep: Preprocessing, skipped: list[Skipped]) -> list[_Decoded]:
    """Native-resolution patches ("tile") need images at least one patch wide: smaller ones are skipped."""
    if prep.resize != "tile":
        return decoded
    kept = [d for d in decoded if min(d.image.height, d.image.width) >= prep.size]
    for d in decoded:
        if min(d.image.height, d.image.width) < prep.size:
            skipped.append(Skipped(d.source.path, f"is {d.image.width}x{d.image.height} pixels, smaller than the "
                                                  f"{prep.size}-pixel patches; choose a smaller patch size"))
    if not kept:
        raise NothingImported(f"No image is at least {prep.size}x{prep.size} pixels, the patch size chosen: "
                              "choose a smaller size.", skipped)
    return kept


def _frame_units(image: MedicalImage, frame: int, prep: Preprocessing) -> list[tuple[np.ndarray, str]]:
    """One frame as stored arrays in [0, 1] with a name suffix: one resized square, or every native patch."""
    if prep.resize != "tile":
        return [(frame_to_unit_square(image, frame, prep), "")]
    return [(patch, f"@{top},{left}") for patch, top, left in native_patches(frame_to_unit(image, frame, prep),
                                                                             prep.size)]


def _value_ranges(decoded: list[_Decoded], prep: Preprocessing) -> dict:
    """For intensity "full_range": each distinct data range the files were scaled by (how outputs map back)."""
    if prep.intensity != "full_range":
        return {}
    counts: dict[tuple, int] = {}
    for item in decoded:
        rng = data_range(item.image)
        key = (rng.low, rng.high, rng.basis)
        counts[key] = counts.get(key, 0) + 1
    return {"value_ranges": [{"low": low, "high": high, "basis": basis, "files": n}
                             for (low, high, basis), n in counts.items()]}


def _original_bytes(item: _Decoded) -> bytes:
    """What is kept of the original: the de-identified DICOM (never the uploaded bytes) or the image file."""
    if item.image.dicom is not None:
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, item.image.dicom, enforce_file_format=False)
        return buffer.getvalue()
    return item.source.read()


_unique_path = unique_path
