"""Small sequence files for tests and benchmarks: videos written with PyAV, cine DICOM (multi-frame and single-frame
series), 4D NIfTI and folders of numbered PNG frames. Frame k shows a bright square `step` pixels further right than
frame k - 1, so the order of stored frames can be read back from the square's position."""
from __future__ import annotations

import io

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from tests.fixtures import PATIENT_ID, PATIENT_NAME, png_bytes

DARK, BRIGHT = 30, 220


def moving_square(frames: int, height: int = 32, width: int = 32, step: int = 2, side: int = 8,
                  dark: int = DARK, bright: int = BRIGHT, top: int | None = None) -> np.ndarray:
    """(F, H, W) uint8: a `side` px bright square moving `step` px right per frame (wrapping at the edge)."""
    top = (height - side) // 2 if top is None else top
    out = np.full((frames, height, width), dark, dtype=np.uint8)
    for k in range(frames):
        left = (2 + k * step) % (width - side)
        out[k, top:top + side, left:left + side] = bright
    return out


def square_column(frame: np.ndarray) -> float:
    """The column of the bright square's centre in a (H, W[, C]) frame (any scale): the centroid of bright pixels."""
    grey = frame.mean(axis=-1) if frame.ndim == 3 else frame
    grey = grey.astype(float)
    mask = grey > (grey.min() + grey.max()) / 2
    return float(np.nonzero(mask)[1].mean())


def video_bytes(frames: np.ndarray, container: str = "mp4", codec: str = "libx264", fps: int = 25,
                pix_fmt: str | None = None, metadata: dict[str, str] | None = None) -> bytes:
    """(F, H, W) grey or (F, H, W, 3) RGB uint8 frames encoded with PyAV into an in-memory file."""
    import av

    rgb = frames if frames.ndim == 4 else np.repeat(frames[..., None], 3, axis=-1)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        for key, value in (metadata or {}).items():
            out.metadata[key] = value
        options = {"crf": "10"} if codec == "libx264" else {"qmin": "1", "qmax": "2"}  # near-lossless for tests
        stream = out.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height = rgb.shape[2], rgb.shape[1]
        stream.pix_fmt = pix_fmt or ("yuvj420p" if codec == "mjpeg" else "yuv420p")
        for frame in rgb:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def _mr(rows: int, cols: int, patient_id: str, series_uid: str, study_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.PatientID, ds.PatientName, ds.PatientBirthDate = patient_id, PATIENT_NAME, "19700101"
    ds.InstitutionName = "St Example Hospital"
    ds.Modality = "MR"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2000, 4000
    return ds


def _save(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def cine_series(frames: int = 8, size: int = 32, patient_id: str = PATIENT_ID, trigger_step_ms: float = 40.0,
                use_trigger: bool = True, positions: int = 1) -> list[tuple[int, bytes]]:
    """Single-frame MR files of one series, (frame index, bytes) in frame order: TriggerTime = k * step with
    scrambled Instance Numbers (or only InstanceNumber = k + 1 when `use_trigger` is False). Pixel values are the moving square times 16 (12-bit). With
    `positions` > 1 the series holds that many slice positions, each with its own frames (a cine stack)."""
    series, study = generate_uid(), generate_uid()
    pixels = moving_square(frames, size, size).astype(np.uint16) * 16
    out = []
    for position in range(positions):
        for k in range(frames):
            ds = _mr(size, size, patient_id, series, study)
            if use_trigger:  # Instance Numbers scrambled: the order must come from the Trigger Times
                ds.TriggerTime = round(k * trigger_step_ms, 3)
                ds.InstanceNumber = 1 + position * frames + (k * 7) % frames
            else:
                ds.InstanceNumber = 1 + position * frames + k
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.ImagePositionPatient = [0, 0, 8.0 * position]
            ds.PixelData = (pixels[k] + position).tobytes()
            out.append((k, _save(ds)))
    return out


def multiframe_dicom(frames: int = 8, size: int = 32, patient_id: str = PATIENT_ID, frame_time_ms: float | None = 33.3,
                     cine_rate: int | None = None) -> bytes:
    """One multi-frame MR file of the moving square (x16), with Frame Time and/or Cine Rate as given."""
    ds = _mr(size, size, patient_id, generate_uid(), generate_uid())
    ds.NumberOfFrames = frames
    if frame_time_ms is not None:
        ds.FrameTime = frame_time_ms
    if cine_rate is not None:
        ds.CineRate = cine_rate
    ds.PixelData = (moving_square(frames, size, size).astype(np.uint16) * 16).tobytes()
    return _save(ds)


def nifti_4d(frames: int = 8, size: int = 24, slices: int = 5, step_ms: float | None = 50.0,
             unit: str = "msec") -> bytes:
    """A 4D NIfTI (x, y, z, t) whose middle z slice holds the moving square over time (other slices dark), with an
    identity affine (already RAS+), pixdim[4] = step in `unit`."""
    squares = moving_square(frames, size, size).astype(np.int16)     # (T, rows, cols) as displayed
    # displayed (row r, col c) = data[x = size-1-c, y = size-1-r] (radiological, anterior up)
    volume = np.zeros((size, size, slices, frames), dtype=np.int16)
    volume[:, :, slices // 2, :] = np.flip(np.transpose(squares, (2, 1, 0)), axis=(0, 1))
    image = nib.Nifti1Image(volume, np.eye(4))
    image.header.set_xyzt_units("mm", unit)
    if step_ms is not None:
        image.header["pixdim"][4] = step_ms
    return image.to_bytes()


def frame_pngs(frames: int = 8, size: int = 32, prefix: str = "frame") -> dict[str, bytes]:
    """{name: PNG bytes} of the moving square, named prefix1.png ... prefixN.png (no zero padding)."""
    return {f"{prefix}{k + 1}.png": png_bytes(frame) for k, frame in enumerate(moving_square(frames, size, size))}
