"""Where an imported file's class comes from: a CSV of `filename,label` or the folder it sits in.

CSV rules (one clear sentence when they are not met). Column names are matched ignoring case, spaces, "_" and
"-", so "Patient ID", "PatientID" and "patient_id" are the same column:
- the filename column: the one the user names, else one of FILENAME_COLUMNS ("filename", "Image Index" as in
  the NIH ChestX-ray14 table, "path", ...);
- the label column: the one the user names, else one of LABEL_COLUMNS ("label", "Finding Labels", "class",
  "diagnosis", ...), else the only other column; several 0/1 columns instead mean one-hot multi-label data
  (the column names are the classes);
- a label cell may hold several labels separated by "|" or ";" (multi-label); an empty cell in multi-label
  data means "no finding";
- the patient column: the one the user names ("" for none), else one of PATIENT_COLUMNS ("Patient ID",
  "subject", "case_id", ...); it keeps a patient's images in one split. Rows with an empty patient cell have no
  patient.
"""
from __future__ import annotations

import io
import posixpath
import re
from dataclasses import dataclass, field

import pandas as pd

from core.data.sources import SourceFile, Skipped
from core.errors import UserError

# Known spellings, most specific first; compared by `column_key` (case, spaces, "_" and "-" ignored).
FILENAME_COLUMNS = ("filename", "file", "image_index", "image_file", "image_name", "image_path", "file_path",
                    "image", "image_id", "path", "name")
LABEL_COLUMNS = ("label", "labels", "finding_labels", "class", "class_name", "target", "diagnosis", "dx",
                 "finding", "findings", "category")
PATIENT_COLUMNS = ("patient_id", "patient", "subject_id", "subject", "participant_id", "participant", "case_id",
                   "case", "lesion_id")
_SEPARATOR = re.compile(r"[|;]")


@dataclass
class Labels:
    """Class names per source file. `kind` is "single", "multi" or "none" (an unlabelled dataset)."""

    kind: str
    classes: list[str]
    by_path: dict[str, list[str]] = field(default_factory=dict)  # source path -> class names
    patients: dict[str, str] = field(default_factory=dict)       # source path -> patient id as given
    origin: str = "none"                                         # "csv", "folders" or "none"
    csv_name: str = ""                                           # the label table, when origin is "csv"
    file_column: str | None = None                               # CSV headers as written in the file
    label_column: str | None = None                              # None for one-hot 0/1 columns
    patient_column: str | None = None                            # None when no column names patients


@dataclass(frozen=True)
class CsvColumns:
    """The columns a label table's header offers, and which of them MedLab would use by itself."""

    columns: list[str]
    file: str | None
    label: str | None      # None: one-hot 0/1 columns, or nothing recognisable
    patient: str | None


def column_key(name: str) -> str:
    """A column name compared loosely: "Patient ID", "patient_id" and "PatientID" all give "patientid"."""
    return re.sub(r"[\s_\-]+", "", str(name).strip().lower())


def csv_columns(data: bytes, csv_name: str) -> CsvColumns:
    """The header of a label table and the file, label and patient columns recognised in it.

    Raises UserError when the CSV cannot be read or has no rows.
    """
    table = _read_csv(data, csv_name)
    columns = list(table.columns)
    file_col = _known(columns, FILENAME_COLUMNS)
    patient_col = _known(columns, PATIENT_COLUMNS, exclude=(file_col,))
    label_col = _known(columns, LABEL_COLUMNS, exclude=(file_col, patient_col))
    others = [c for c in columns if c not in (file_col, patient_col)]
    if label_col is None and len(others) == 1:
        label_col = others[0]
    return CsvColumns(columns, file_col, label_col, patient_col)


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
    data: bytes, csv_name: str, sources: list[SourceFile], label_column: str | None = None, *,
    file_column: str | None = None, patient_column: str | None = None,
) -> tuple[Labels, list[SourceFile], list[Skipped]]:
    """Match CSV rows to sources by relative path, file name, or file name without extension.

    `file_column`, `label_column` and `patient_column` name columns (matched as `column_key` does); None lets
    MedLab recognise them, and `patient_column=""` says the table has no patient column. Raises UserError
    (one sentence naming the columns that exist) for a named column the table lacks or an unusable table.
    """
    table = _read_csv(data, csv_name)
    columns = list(table.columns)
    file_col = _named(columns, file_column, "filename", csv_name) if file_column else _known(columns, FILENAME_COLUMNS)
    if file_col is None:
        raise UserError(
            f"{csv_name} has no filename column (expected one of: {', '.join(FILENAME_COLUMNS)}, or name it); "
            f"its columns are: {', '.join(columns)}."
        )
    if patient_column == "":
        patient_col = None
    elif patient_column:
        patient_col = _named(columns, patient_column, "patient", csv_name)
    else:
        patient_col = _known(columns, PATIENT_COLUMNS, exclude=(file_col,))
    if patient_col is not None and patient_col == file_col:
        raise UserError(f"In {csv_name}, '{patient_col}' cannot be both the filename and the patient column.")
    kind, classes, row_labels, label_col = _label_columns(table, csv_name, file_col, patient_col, label_column)

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
    patients: dict[str, str] = {}
    if patient_col:
        cells = {s.path: table[patient_col][matched[s.path]].strip() for s in kept}
        patients = {path: cell for path, cell in cells.items() if cell}  # an empty cell names no patient
    return Labels(kind, classes, by_path, patients, origin="csv", csv_name=csv_name, file_column=file_col,
                  label_column=label_col, patient_column=patient_col), kept, skipped


def _known(columns: list[str], spellings: tuple[str, ...], exclude: tuple[str | None, ...] = ()) -> str | None:
    """The first column (in the order of `spellings`) whose loose key matches a known spelling."""
    by_key: dict[str, str] = {}
    for column in columns:
        if column not in exclude:
            by_key.setdefault(column_key(column), column)
    return next((by_key[column_key(s)] for s in spellings if column_key(s) in by_key), None)


def _named(columns: list[str], wanted: str, role: str, csv_name: str) -> str:
    """The column the user named: the exact header, else the one equal up to case, spaces and underscores."""
    for same in (lambda c: c == wanted, lambda c: c.strip() == wanted.strip(),
                 lambda c: column_key(c) == column_key(wanted)):
        found = [c for c in columns if same(c)]
        if found:
            return found[0]
    raise UserError(f"{csv_name} has no column '{wanted}' to use as the {role} column; "
                    f"its columns are: {', '.join(columns)}.")


def _read_csv(data: bytes, csv_name: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"{csv_name} is not a readable CSV file ({str(error).splitlines()[0]}).") from None
    if table.empty:
        raise UserError(f"{csv_name} has a header but no rows.")
    table.columns = [str(column).strip() for column in table.columns]  # "Label " in a header is "Label"
    return table


def _label_columns(
    table: pd.DataFrame, csv_name: str, file_col: str, patient_col: str | None, wanted: str | None
) -> tuple[str, list[str], list[list[str]], str | None]:
    """Return (kind, classes, labels per row, the label column or None for one-hot columns)."""
    columns = list(table.columns)
    if wanted:
        label_col = _named(columns, wanted, "label", csv_name)
        if label_col in (file_col, patient_col):
            role = "filename" if label_col == file_col else "patient"
            raise UserError(f"In {csv_name}, '{label_col}' cannot be both the {role} and the label column.")
    else:
        label_col = _known(columns, LABEL_COLUMNS, exclude=(file_col, patient_col))
    others = [c for c in columns if c not in (file_col, patient_col)]
    if label_col is None and len(others) == 1:
        label_col = others[0]
    if label_col is None:
        if others and all(set(table[c].str.strip()) <= {"0", "1", ""} for c in others):
            rows = [[c for c in others if table[c][i].strip() == "1"] for i in range(len(table))]
            return "multi", list(others), rows, None
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
    return ("multi" if multi else "single"), classes, rows, label_col


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
