"""Sequences from files: which files make one clip, in which order.

A clip is one of:
    - a multi-frame file: a multi-frame DICOM (cine MR, ultrasound, XA), a video (core.data.video), a NIfTI 4D
      volume (the middle slice over time, core.data.nifti.read_nifti_sequence), a multi-page TIFF;
    - single-frame DICOM files sharing a SeriesInstanceUID, ordered by TriggerTime, else InstanceNumber (how cine
      MR is usually stored), whatever the order of the files; a series holding several slice positions (a cine
      stack) gives the middle position's images over time, as for NIfTI 4D;
    - a folder of numbered frames (PNG, JPEG, TIFF, BMP, single-frame DICOM without a series), ordered by the
      number in their names ("frame2" before "frame10").
DICOM is de-identified on reading, as for images; the SeriesInstanceUID it groups by is the keyed replacement
(the same for every file of a series under one workspace secret), and TriggerTime and InstanceNumber are kept by
the basic profile.
"""
from __future__ import annotations

import io
import posixpath
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from core.data.deid import Deidentifier
from core.data.dicom import series_frame_time_ms, trigger_time_ms
from core.data.medical_image import MedicalImage, Window
from core.data.nifti import read_nifti_sequence
from core.data.readers import SUFFIX_FORMATS, read_medical_image, sanitize_filename, sniff_format, suffix_of
from core.data.sources import Skipped, SourceFile, is_zip, zip_sources
from core.data.windowing import auto_window
from core.errors import UserError
from core.text import counted

Progress = Callable[[float, str], None]
SEQUENCE_TEXT = "a multi-frame DICOM, a video (MP4, AVI, ...), a 4D NIfTI or a ZIP of numbered frames or of a DICOM series"


@dataclass
class Clip:
    path: str                  # what names the clip for labels: the file's path, the frames' folder, or a
    # series' folder (its first file when that folder holds other clips too)
    image: MedicalImage        # every frame of the clip in order, with frame_time_ms when known
    files: list[str]           # the source paths it was made of, in frame order
    patient_key: str | None    # pseudonymous patient key from DICOM, else None
    label_path: str = ""       # the path its class folder is read from ("" = path): a series' first file
    originals: dict[str, Callable[[], bytes]] = field(default_factory=dict)  # source path -> bytes kept under
    # files/ (the de-identified DICOM, the frame images); none for videos and NIfTI, whose bytes are not kept
    warnings: list[str] = field(default_factory=list)  # the files' warnings and how the clip was put together
    kind: str = "file"         # "file" (one multi-frame file), "series" (a DICOM series), "frames" (a folder)


def natural_key(path: str) -> list:
    """Sort key that puts "frame2" before "frame10": digit runs compare as numbers, the rest ignoring case."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path)]


@dataclass
class _Read:
    source: SourceFile
    image: MedicalImage
    keep: Callable[[], bytes] | None


def _dicom_bytes(ds) -> Callable[[], bytes]:
    def write() -> bytes:
        import pydicom

        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=False)
        return buffer.getvalue()

    return write


def _read_one(data: bytes, name: str, deidentifier: Deidentifier) -> MedicalImage:
    """A file's frames: NIfTI as a slice over time (a 4D volume), everything else as read_medical_image reads it."""
    if sniff_format(data) == "nifti" and SUFFIX_FORMATS.get(suffix_of(name)) in (None, "nifti"):
        return read_nifti_sequence(data, sanitize_filename(name))
    return read_medical_image(data, name, deidentifier=deidentifier)


def group_clips(sources: list[SourceFile], deidentifier: Deidentifier, skipped: list[Skipped],
                progress: Progress | None = None) -> list[Clip]:
    """The clips the files make; files that cannot be read or belong to no clip are appended to `skipped`.

    `progress(fraction, message)` is told about each file read. Clips come in the natural order of their paths.
    """
    return sorted(iter_clips(sources, deidentifier, skipped, progress), key=lambda clip: natural_key(clip.path))


def iter_clips(sources: list[SourceFile], deidentifier: Deidentifier, skipped: list[Skipped],
               progress: Progress | None = None) -> Iterator[Clip]:
    """`group_clips` one clip at a time, so an import holds one decoded video at once: each multi-frame file as
    soon as it is read, then the DICOM series and the frame folders (their single frames are small)."""
    report = progress or (lambda fraction, message: None)
    series: dict[str, list[_Read]] = {}
    folders: dict[str, list[_Read]] = {}
    seen: set[str] = set()
    for number, source in enumerate(sources):
        report(number / max(len(sources), 1), f"Reading {source.name}")
        try:
            data = source.read()
            image = _read_one(data, source.name, deidentifier)
        except UserError as error:
            skipped.append(Skipped(source.path, error.message))
            continue
        except Exception as error:  # noqa: BLE001 - a library choking on a malformed file must not stop the import
            skipped.append(Skipped(source.path, f"could not be decoded ({type(error).__name__})"))
            continue
        keep = _dicom_bytes(image.dicom) if image.dicom is not None else \
            source.read if image.format not in ("video", "nifti") else None
        if image.frame_count > 1:
            seen.add(source.path)
            yield Clip(source.path, _plain(image), [source.path], image.patient_key,
                       originals={source.path: keep} if keep else {},
                       warnings=[f"{source.path}: {w}" for w in image.warnings])
            continue
        uid = str(image.dicom.get("SeriesInstanceUID") or "").strip() if image.dicom is not None else ""
        if uid:
            series.setdefault(uid, []).append(_Read(source, image, keep))
        else:
            folders.setdefault(posixpath.dirname(source.path), []).append(_Read(source, image, keep))
    made = [_series_clip(reads, skipped) for reads in series.values()]
    made += [_frames_clip(folder, reads, skipped) for folder, reads in folders.items()]
    for clip in made:
        if clip is not None:
            if clip.path in seen:  # a folder named like a clip file ("a.mp4/"): name it by its first file
                clip.path = clip.files[0]
            seen.add(clip.path)
            yield clip


def _plain(image: MedicalImage) -> MedicalImage:
    """The image without its pydicom dataset (the clip keeps the bytes to store, not the decoded header)."""
    image.dicom = None
    return image


def _position(image: MedicalImage) -> float | None:
    """Where a single-frame DICOM image lies along its slice normal (mm), else its Slice Location, else None."""
    ds = image.dicom
    try:
        orientation = np.array([float(v) for v in ds.ImageOrientationPatient], dtype=float)
        position = np.array([float(v) for v in ds.ImagePositionPatient], dtype=float)
        if orientation.shape == (6,) and position.shape == (3,):
            return round(float(np.dot(np.cross(orientation[:3], orientation[3:]), position)), 2)
    except (AttributeError, TypeError, ValueError):
        pass
    try:
        return round(float(ds.SliceLocation), 2)
    except (AttributeError, TypeError, ValueError):
        return None


def _instance(image: MedicalImage) -> int | None:
    try:
        return int(image.dicom.InstanceNumber)
    except (AttributeError, TypeError, ValueError):
        return None


def _series_clip(reads: list[_Read], skipped: list[Skipped]) -> Clip | None:
    """Single-frame DICOM images of one series as a clip, in acquisition order (see the module docstring)."""
    notes: list[str] = []
    folder = posixpath.commonpath([posixpath.dirname(r.source.path) for r in reads]) if reads else ""
    where = f"the DICOM series in {folder or 'the upload'}"
    positions = {_position(r.image) for r in reads}
    if len(positions) > 1 and None not in positions:
        ordered = sorted(positions)
        middle = ordered[len(ordered) // 2]
        left = [r for r in reads if _position(r.image) != middle]
        reads = [r for r in reads if _position(r.image) == middle]
        notes.append(f"{where} holds {len(ordered)} slice positions; the middle one ({len(reads)} images over time) "
                     "was used, as for a 4D NIfTI")
        for r in left:
            skipped.append(Skipped(r.source.path, f"another slice position of {where}, of which the middle one "
                                                  "was used"))
    if len(reads) < 2:
        skipped += [Skipped(r.source.path, "a single image, not a sequence: a DICOM series needs at least 2 images "
                                           "sharing its SeriesInstanceUID") for r in reads]
        return None
    triggers = [trigger_time_ms(r.image.dicom) for r in reads]
    instances = [_instance(r.image) for r in reads]
    by_path = sorted(range(len(reads)), key=lambda i: natural_key(reads[i].source.path))
    if None not in triggers and len(set(triggers)) == len(triggers):
        order = sorted(by_path, key=lambda i: (triggers[i], instances[i] if instances[i] is not None else 0))
    elif None not in instances and len(set(instances)) == len(instances):
        order = sorted(by_path, key=lambda i: instances[i])
    else:
        order = by_path
        notes.append(f"{where} gives neither distinct Trigger Times nor distinct Instance Numbers, so its images "
                     "were ordered by file name")
    reads = [reads[i] for i in order]
    frame_time = series_frame_time_ms([triggers[i] for i in order])
    unique = len({posixpath.dirname(r.source.path) for r in reads}) == 1
    path = folder if folder and unique else reads[0].source.path
    return _stacked(reads, path, "dicom", frame_time, skipped, notes, label_path=reads[0].source.path)


def _frames_clip(folder: str, reads: list[_Read], skipped: list[Skipped]) -> Clip | None:
    """The single-frame images of one folder as a clip, ordered by the numbers in their names."""
    if len(reads) < 2:
        skipped += [Skipped(r.source.path, "a single image, not a sequence: a folder of numbered frames needs at "
                                           "least 2") for r in reads]
        return None
    reads = sorted(reads, key=lambda r: natural_key(r.source.name))
    path = folder or "frames"
    return _stacked(reads, path, "frames", None, skipped, [])


def _stacked(reads: list[_Read], path: str, fmt: str, frame_time: float | None, skipped: list[Skipped],
             notes: list[str], label_path: str = "") -> Clip | None:
    """One MedicalImage of the frames of `reads` (in order), each frame keeping its own VOI and padding."""
    images = [r.image for r in reads]
    shapes = {im.frames.shape[1:3] for im in images}
    if len(shapes) > 1:
        sizes = ", ".join(sorted(f"{w}x{h}" for h, w in shapes))
        reason = f"its frames differ in size ({sizes}), so they do not make one sequence"
        skipped += [Skipped(r.source.path, reason) for r in reads]
        return None
    colour = any(im.is_color for im in images)
    frames = np.stack([np.repeat(im.frames[0][..., None], 3, axis=-1) if colour and not im.is_color else im.frames[0]
                       for im in images]).astype(np.float32, copy=False)
    first = images[0]
    padding = None
    if not colour and any(im.frame_padding(0) is not None for im in images):
        padding = np.stack([im.frame_padding(0) if im.frame_padding(0) is not None
                            else np.zeros(im.frames.shape[1:3], dtype=bool) for im in images])
    bits = max(im.bits for im in images)
    if colour:
        top = float(2 ** bits - 1)
        value_range, default = (0.0, top), Window(top / 2, top, "full-range")
    else:
        finite = frames[np.isfinite(frames)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        value_range = (low, high if high > low else low + 1.0)
        own = first.default_window.source.startswith("file") or (bits == 8 and first.default_window.source == "full-range")
        default = first.default_window if own else auto_window(finite)
    warnings = [f"{path}: {note}" for note in notes]
    for r in reads:
        warnings += [f"{r.source.path}: {w}" for w in r.image.warnings if f"{r.source.path}: {w}" not in warnings]
    image = MedicalImage(
        name=sanitize_filename(posixpath.basename(path)), format=fmt, frames=frames, is_color=colour, bits=bits,
        value_range=value_range, default_window=default, file_windows=[] if colour else list(first.file_windows),
        invert=first.invert and not colour, modality=first.modality, photometric="RGB" if colour else first.photometric,
        spacing=first.spacing, patient_key=next((im.patient_key for im in images if im.patient_key), None),
        tags=first.tags, voi_lut=None if colour else first.voi_lut,
        frame_vois=[] if colour else [im.frame_voi(0) for im in images], padding=padding, frame_time_ms=frame_time,
    )
    originals = {r.source.path: r.keep for r in reads if r.keep is not None}
    return Clip(path, image, [r.source.path for r in reads], image.patient_key, label_path=label_path,
                originals=originals, warnings=warnings, kind="series" if fmt == "dicom" else "frames")


def read_clip(data: bytes, name: str, deidentifier: Deidentifier | None = None) -> MedicalImage:
    """One uploaded sequence: a multi-frame DICOM, a video, a NIfTI 4D volume or a ZIP of numbered frames (or of a
    single-frame DICOM series). Raises UserError with one sentence when it holds no sequence."""
    deidentifier = deidentifier or Deidentifier(secrets.token_bytes(32))
    clean = sanitize_filename(name)
    if not data:
        raise UserError(f"{clean} is empty.")
    if is_zip(name, data[:4]):
        sources, skipped = zip_sources(data, clean)
        sources = [s for s in sources if not s.path.lower().endswith(".csv")]
        clips = group_clips(sources, deidentifier, skipped)
        if not clips:
            first = f" (first problem: {skipped[0].file}: {skipped[0].reason.rstrip('.')})" if skipped else ""
            raise UserError(f"{clean} holds no sequence{first}; upload {SEQUENCE_TEXT}.")
        if len(clips) > 1:
            names = ", ".join(clip.path for clip in clips[:3]) + (" ..." if len(clips) > 3 else "")
            raise UserError(f"{clean} holds {counted(len(clips), 'sequence')} ({names}); upload one at a time.")
        image = clips[0].image
        image.name = clean
        image.warnings = list(clips[0].warnings)
        return image
    image = _read_one(data, name, deidentifier)
    if image.frame_count < 2:
        raise UserError(f"{clean} holds a single frame, not a sequence: upload {SEQUENCE_TEXT}.")
    return image
