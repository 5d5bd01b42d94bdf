"""De-identification on ingest: DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile.

The per-attribute actions (D, Z, X, U, ...) come from dicom-anonymizer's newest Annex E table
(`dicomfields_2026c`). MedLab overrides a few of them so that a workspace stays usable for ML:

* UIDs (action U, PS3.15 E.1.1 "internally consistent") are replaced by `generate_uid` seeded with a
  workspace secret and the old UID: a study keeps one new StudyInstanceUID across files and imports, and
  nobody without the secret can link the new UID back. The file meta Media Storage SOP Instance UID follows.
* PatientID becomes a keyed pseudonym "ANON-" + HMAC-SHA256(secret, ID)[:12], so splits can group by patient.
* Sequences the profile keeps, or whose UIDs it replaces (X/Z/U*), are cleaned item by item with the same
  table, so a name nested in a sequence goes too. Private tags are removed.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import io
import threading
from collections.abc import Callable
from typing import Any

from dicomanonymizer import simpledicomanonymizer as sda
from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

TABLE = "dicomfields_2026c"
METHOD = "PS3.15 E.1 Basic Profile; keyed UIDs and Patient ID (MedLab)"  # LO: at most 64 characters
_BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
_META_AE_TITLES = (0x00020016, 0x00020017, 0x00020018)  # Source/Sending/Receiving AE Title: name a site
_PIXEL_WARNINGS = {
    "BurnedInAnnotation": "its pixels may show patient details as burned-in text, which de-identification "
    "cannot remove",
    "RecognizableVisualFeatures": "it may show the patient's face or other recognisable features",
}
Action = Callable[[Dataset, tuple[int, int]], None]
_STDOUT_LOCK = threading.Lock()  # redirect_stdout swaps a process-wide stream: never interleave two of ours


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, list[tuple[int, ...]]]:
    return dicom_anonymization_database_selector(TABLE)


def _vr(tag: tuple[int, ...]) -> str:
    try:
        return dictionary_VR((tag[0] << 16) | tag[1]) if len(tag) == 2 else ""
    except KeyError:
        return ""


def _delete(dataset: Dataset, tag: tuple[int, int]) -> None:
    if tag in dataset:
        del dataset[tag]


class Deidentifier:
    """Applies the basic profile in place; `secret` keys the new UIDs and the patient pseudonym."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("Deidentifier needs a non-empty secret")
        self._secret = bytes(secret)
        self._rules = self._build_rules()
        # Sequences cleaned by their own action; everything else that is a sequence is walked item by item.
        self._own_sequence_actions = {t for t, a in self._rules.items() if a is not sda.keep and _vr(t) == "SQ"}
        self._group_rules = [(t, a) for t, a in self._rules.items() if len(t) == 4]  # e.g. overlays (60xx,3000)

    # --- pseudonyms -------------------------------------------------------------------------------------
    def new_uid(self, old: str) -> str:
        """The deterministic replacement for `old` under this secret (same input, same output)."""
        return generate_uid(entropy_srcs=[self._secret.hex(), str(old).strip()])

    def pseudonym(self, patient_id: str) -> str:
        digest = hmac.new(self._secret, patient_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()
        return "ANON-" + digest[:12]

    # --- actions ----------------------------------------------------------------------------------------
    def _replace_uid(self, dataset: Dataset, tag: tuple[int, int]) -> None:
        elem = dataset.get(tag)
        if elem is None or elem.value in (None, "", b""):
            return
        value = elem.value
        if isinstance(value, bytes):  # a UID read with VR UN
            value = value.decode("ascii", "replace").strip("\0 ").split("\\")
        if isinstance(value, (list, MultiValue)):
            elem.value = [self.new_uid(v) if v else v for v in value]
        else:
            elem.value = self.new_uid(value)

    def _replace_sequence(self, dataset: Dataset, tag: tuple[int, int]) -> None:
        """D on a sequence: dummy values throughout, UIDs mapped like everywhere else."""
        elem = dataset.get(tag)
        if elem is not None and elem.VR == "SQ":
            for item in elem.value:
                self._dummy_item(item)

    def _dummy_item(self, item: Dataset) -> None:
        for tag in list(item.keys()):
            elem = item[tag]
            if elem.VR == "UI":
                self._replace_uid(item, (tag.group, tag.element))
            elif elem.VR == "SQ":
                for sub in elem.value:
                    self._dummy_item(sub)
            else:
                try:
                    sda.replace_element(elem)
                except NotImplementedError:  # a VR with no dummy in the library (OW, AT, ...): remove
                    del item[tag]

    def _set_patient_id(self, dataset: Dataset, tag: tuple[int, int]) -> None:
        elem = dataset.get(tag)
        if elem is not None:
            original = str(elem.value or "").strip()
            elem.value = self.pseudonym(original) if original else ""

    def _build_rules(self) -> dict[tuple[int, ...], Action]:
        """The library's Annex E actions for TABLE with MedLab's overrides (see the module docstring)."""
        table = _table()
        rules: dict[tuple[int, ...], Action] = sda.initialize_actions(TABLE)
        replacing = {"D_TAGS", "Z_D_TAGS", "X_D_TAGS", "X_Z_D_TAGS"}
        for category in replacing | {"U_TAGS"}:
            for tag in table[category]:
                vr = _vr(tag)
                if vr == "UI" or category == "U_TAGS":
                    rules[tag] = self._replace_uid
                elif vr == "SQ":  # X/D may remove (the sequences are Type 3 in image IODs); D must replace
                    rules[tag] = self._replace_sequence if category in ("D_TAGS", "Z_D_TAGS") else _delete
        for tag in table["X_Z_U_STAR_TAGS"]:
            rules[tag] = sda.keep  # items are walked below: their UIDs mapped, the rest per the table
        rules[(0x0010, 0x0020)] = self._set_patient_id
        return rules

    # --- the walk ---------------------------------------------------------------------------------------
    def _clean_item(self, item: Dataset) -> None:
        """The table applied to one sequence item (the library's `anonymize_dataset` covers the top level)."""
        for tag in list(item.keys()):
            key = (tag.group, tag.element)
            action = self._rules.get(key)
            if action is None:
                for rule, candidate in self._group_rules:
                    if tag.group & rule[2] == rule[0] and tag.element & rule[3] == rule[1]:
                        action = candidate
                        break
            if action is not None:
                action(item, key)
        self._walk_sequences(item)

    def _walk_sequences(self, dataset: Dataset) -> None:
        for tag in list(dataset.keys()):
            elem = dataset.get(tag)
            if elem is None or elem.VR != "SQ" or (tag.group, tag.element) in self._own_sequence_actions:
                continue
            for item in elem.value:
                self._clean_item(item)

    def __call__(self, ds: Dataset, warnings: list[str] | None = None) -> str | None:
        """De-identify `ds` in place and return the patient pseudonym (None when it has no Patient ID).

        Pixel-level risks the header declares (Burned In Annotation, Recognizable Visual Features = YES)
        are appended to `warnings`, since they cannot be cleaned here.
        """
        for keyword, risk in _PIXEL_WARNINGS.items():
            if str(ds.get(keyword, "") or "").strip().upper() == "YES" and warnings is not None:
                warnings.append(f"This image is marked {keyword} = YES: {risk}.")
        original_id = str(ds.get("PatientID", "") or "").strip()
        with _STDOUT_LOCK, contextlib.redirect_stdout(io.StringIO()):  # the library prints about odd tags
            sda.anonymize_dataset(ds, None, True, lambda: dict(self._rules))
        self._walk_sequences(ds)
        ds.PatientName = ""
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = METHOD
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = _BASIC_PROFILE_CODE
        ds.DeidentificationMethodCodeSequence = Sequence([code])
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            for tag in _META_AE_TITLES:
                _delete(meta, tag)
            if "SOPInstanceUID" in ds:
                meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        return self.pseudonym(original_id) if original_id else None


def _short(value: Any, limit: int) -> str:
    if isinstance(value, (bytes, bytearray)):
        text = f"<{len(value)} bytes>"
    elif isinstance(value, Sequence):
        text = f"<sequence of {len(value)} item(s)>"
    elif isinstance(value, (list, MultiValue)):
        text = "\\".join(str(v) for v in value)
    else:
        text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def deidentified_tag_rows(ds: Dataset, limit: int = 80) -> list[dict[str, str]]:
    """The header as rows for the viewer's tag table: file meta first, no pixel data, long values cut."""
    rows: list[dict[str, str]] = []
    meta = getattr(ds, "file_meta", None)
    for source in ([meta] if meta else []) + [ds]:
        for elem in source:
            if elem.tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):  # (float/double) pixel data
                continue
            rows.append({
                "tag": f"({elem.tag.group:04X},{elem.tag.element:04X})",
                "keyword": elem.keyword or elem.name,
                "vr": str(elem.VR),
                "value": _short(elem.value, limit),
            })
    return rows
