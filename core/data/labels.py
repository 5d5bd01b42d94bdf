"""Where an imported file's class comes from: a CSV of `filename,label` or the folder it sits in.

CSV rules (one clear sentence when they are not met):
- a filename column: filename, file, file_name, image, image_id, path or name;
- the label column: the one the user names, else label/labels/class/target/diagnosis/finding, else the only
  other column; several 0/1 columns instead mean one-hot multi-label data (the column names are the classes);
- a label cell may hold several labels separated by "|" or ";" (multi-label); an empty cell in multi-label
  data means "no finding";
- an optional patient column (patient, patient_id, subject, subject_id) keeps a patient's images in one split.
"""
from __future__ import annotations

import io
import posixpath
import re
from dataclasses import dataclass, field

import pandas as pd

from core.data.sources import SourceFile, Skipped
from core.errors import UserError

FILENAME_COLUMNS = ("filename", "file", "file_name", "image", "image_id", "path", "name")
LABEL_COLUMNS = ("label", "labels", "class", "target", "diagnosis", "finding", "findings")
PATIENT_COLUMNS = ("patient", "patient_id", "patientid", "subject", "subject_id")
_SEPARATOR = re.compile(r"[|;]")


@dataclass
class Labels:
    """Class names per source file. `kind` is "single", "multi" or "none" (an unlabelled dataset)."""

    kind: str
    classes: list[str]
    by_path: dict[str, list[str]] = field(default_factory=dict)  # source path -> class names
    patients: dict[str, str] = field(default_factory=dict)       # source path -> patient id as given
    origin: str = "none"                                         # "csv", "folders" or "none"


def labels_from_folders(sources: list[SourceFile]) -> tuple[Labels, list[SourceFile], list[Skipped]]:
    """Class = the first folder below the common root. No folders at all -> an unlabelled dataset."""
    parts = [s.path.split("/") for s in sources]
    common = 0
    while parts and all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    in_folder = [s for s, p in zip(sources, parts) if len(p) - common >= 2]
    if not in_folder:
        return Labels("none", []), sources, []
    by_path = {s.path: [s.path.split("/")[common]] for s in in_folder}
    outside = [Skipped(s.path, "not inside a class folder") for s in sources if s.path not in by_path]
    classes = sorted({names[0] for names in by_path.values()})
    return Labels("single", classes, by_path, origin="folders"), in_folder, outside


def labels_from_csv(
    data: bytes, csv_name: str, sources: list[SourceFile], label_column: str | None = None
) -> tuple[Labels, list[SourceFile], list[Skipped]]:
    """Match CSV rows to sources by relative path, file name, or file name without extension."""
    table = _read_csv(data, csv_name)
    columns = {c.strip().lower(): c for c in table.columns}
    file_col = next((columns[c] for c in FILENAME_COLUMNS if c in columns), None)
    if file_col is None:
        raise UserError(
            f"{csv_name} has no filename column (expected one of: {', '.join(FILENAME_COLUMNS)}); "
            f"its columns are: {', '.join(table.columns)}."
        )
    patient_col = next((columns[c] for c in PATIENT_COLUMNS if c in columns), None)
    kind, classes, row_labels = _label_columns(table, csv_name, file_col, patient_col, label_column)

    by_key: dict[str, int] = {}
    for row, name in enumerate(table[file_col]):
        by_key.setdefault(name.strip().replace("\\", "/"), row)
    matched: dict[str, int] = {}
    for source in sources:
        row = _match(source.path, by_key)
        if row is not None:
            matched[source.path] = row

    skipped: list[Skipped] = []
    kept: list[SourceFile] = []
    for source in sources:
        row = matched.get(source.path)
        if row is None:
            skipped.append(Skipped(source.path, f"not listed in {csv_name}"))
        elif kind == "single" and not row_labels[row]:
            skipped.append(Skipped(source.path, f"its row in {csv_name} has no label"))
        else:
            kept.append(source)
    used_rows = set(matched.values())
    for key, row in by_key.items():
        if row not in used_rows:
            skipped.append(Skipped(key, f"listed in {csv_name} but not among the uploaded files"))

    by_path = {s.path: row_labels[matched[s.path]] for s in kept}
    patients = {s.path: table[patient_col][matched[s.path]] for s in kept} if patient_col else {}
    return Labels(kind, classes, by_path, patients, origin="csv"), kept, skipped


def _read_csv(data: bytes, csv_name: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"{csv_name} is not a readable CSV file ({str(error).splitlines()[0]}).") from None
    if table.empty:
        raise UserError(f"{csv_name} has a header but no rows.")
    return table


def _label_columns(
    table: pd.DataFrame, csv_name: str, file_col: str, patient_col: str | None, wanted: str | None
) -> tuple[str, list[str], list[list[str]]]:
    """Return (kind, classes, labels per row)."""
    columns = {c.strip().lower(): c for c in table.columns}
    if wanted:
        if wanted.strip().lower() not in columns:
            raise UserError(f"{csv_name} has no column '{wanted}'; its columns are: {', '.join(table.columns)}.")
        label_col = columns[wanted.strip().lower()]
    else:
        label_col = next((columns[c] for c in LABEL_COLUMNS if c in columns), None)
    others = [c for c in table.columns if c not in (file_col, patient_col)]
    if label_col is None and len(others) == 1:
        label_col = others[0]
    if label_col is None:
        if others and all(set(table[c].str.strip()) <= {"0", "1", ""} for c in others):
            rows = [[c for c in others if table[c][i].strip() == "1"] for i in range(len(table))]
            return "multi", list(others), rows
        raise UserError(
            f"{csv_name} has no column named 'label' and MedLab cannot tell which of "
            f"{', '.join(others) or 'its columns'} holds the labels; name it 'label' or choose the column."
        )
    cells = [cell.strip() for cell in table[label_col]]
    multi = any(_SEPARATOR.search(cell) for cell in cells)
    rows = [[part.strip() for part in _SEPARATOR.split(cell) if part.strip()] if cell else [] for cell in cells]
    if not multi:
        rows = [[cell] if cell else [] for cell in cells]
    classes = sorted({name for names in rows for name in names})
    if not classes:
        raise UserError(f"{csv_name} has a '{label_col}' column but every cell in it is empty.")
    return ("multi" if multi else "single"), classes, rows


def _match(path: str, by_key: dict[str, int]) -> int | None:
    name = posixpath.basename(path)
    for key in (path, name, posixpath.splitext(name)[0]):
        if key in by_key:
            return by_key[key]
    # the CSV may name files with a leading folder the upload does not have, or vice versa
    for key, row in by_key.items():
        if key.endswith("/" + name) or path.endswith("/" + key):
            return row
    return None
