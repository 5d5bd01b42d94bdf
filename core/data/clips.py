"""Sequences from files: which files make one clip, in which order.

A clip is one of:
    - a multi-frame file: a multi-frame DICOM (cine MR, ultrasound, XA), a video (core.data.video), a NIfTI 4D
      volume (the middle slice over time);
    - single-frame DICOM files sharing a SeriesInstanceUID, ordered by TriggerTime, else InstanceNumber (how cine
      MR is usually stored), whatever the order of the files;
    - a folder of numbered frames (PNG, JPEG, TIFF, BMP, single-frame DICOM without a series), ordered by the
      number in their names ("frame2" before "frame10").
DICOM is de-identified on reading, as for images.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.data.deid import Deidentifier
from core.data.medical_image import MedicalImage
from core.data.sources import Skipped, SourceFile


@dataclass
class Clip:
    path: str                  # what names the clip for labels: the file's path, or the frames' folder
    image: MedicalImage        # every frame of the clip in order, with frame_time_ms when known
    files: list[str]           # the source paths it was made of, in frame order
    patient_key: str | None    # pseudonymous patient key from DICOM, else None


def group_clips(sources: list[SourceFile], deidentifier: Deidentifier, skipped: list[Skipped]) -> list[Clip]:
    """The clips the files make; files that cannot be read or belong to no clip are appended to `skipped`."""
    raise NotImplementedError


def read_clip(data: bytes, name: str, deidentifier: Deidentifier | None = None) -> MedicalImage:
    """One uploaded sequence: a multi-frame DICOM, a video, a NIfTI 4D volume or a ZIP of numbered frames (or of a
    single-frame DICOM series). Raises UserError with one sentence when it holds no sequence."""
    raise NotImplementedError
