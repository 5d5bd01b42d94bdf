"""How a decoded file becomes a fixed-size training array, with the policy spelled out for the user.

The same `Preprocessing` is saved with a dataset and applied again to images uploaded for prediction, so a
model sees new images exactly the way it saw its training data.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from core.data.medical_image import MedicalImage
from core.data.native import centre_patch, full_range_unit
from core.data.windowing import resolve_window, window_to_unit
from core.errors import UserError

RESIZE_POLICIES = {
    "pad": "padded to a square with black borders, then resized (nothing is cut off)",
    "crop": "centre-cropped to a square, then resized (the edges of non-square images are cut off)",
    "stretch": "resized to a square directly (non-square images are distorted)",
    "tile": "kept at native resolution and cut into square patches of this size, nothing resized (for "
            "restoration; the last patches of a row or column meet the image's edge, so every pixel is kept; "
            "images smaller than a patch are skipped)",
}
INTENSITY_POLICIES = {
    "window": "windowed for display",
    "full_range": "each file's full sample range (0..2^bits-1 for PNG/TIFF/JPEG, the stored bit range through the "
                  "modality LUT for DICOM, min..max for float images) with no window, so restored values map "
                  "back to the file's own units",
}
SIZE_RANGE = (16, 1024)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as Pillow's "L" conversion


@dataclass
class Preprocessing:
    size: int = 128
    channels: int | None = None  # None: 1 when every image is greyscale, else 3 (decided at import)
    resize: str = "pad"
    window: str = "default"      # greyscale windowing: "default" (the file's own, else automatic), a preset, "C,W"
    intensity: str = "window"    # "window" (as above) | "full_range" (the file's own values; for restoration)

    def __post_init__(self) -> None:
        if not SIZE_RANGE[0] <= int(self.size) <= SIZE_RANGE[1]:
            raise UserError(f"Image size {self.size} is out of range; choose {SIZE_RANGE[0]} to {SIZE_RANGE[1]} pixels.")
        if self.channels not in (None, 1, 3):
            raise UserError(f"Channels must be 1 (greyscale) or 3 (RGB), not {self.channels}.")
        if self.resize not in RESIZE_POLICIES:
            raise UserError(f"Unknown resize policy '{self.resize}'; use one of: {', '.join(RESIZE_POLICIES)}.")
        if self.intensity not in INTENSITY_POLICIES:
            raise UserError(f"Unknown intensity policy '{self.intensity}'; use one of: "
                            f"{', '.join(INTENSITY_POLICIES)}.")
        self.size = int(self.size)

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> list[str]:
        """The policy in plain words, as the Dataset page shows it."""
        channel_text = {
            None: "greyscale if every image is greyscale, otherwise RGB (greyscale images repeated over 3 channels)",
            1: "greyscale (colour images converted by luminance)",
            3: "RGB (greyscale images repeated over 3 channels)",
        }[self.channels]
        window_text = ("each DICOM/NIfTI file's own window, or an automatic 0.5-99.5 percentile window when it has "
                       "none; 8-bit images keep their full range") if self.window == "default" else \
            f"window '{self.window}' for greyscale medical images"
        if self.intensity == "full_range":
            window_text = INTENSITY_POLICIES["full_range"]
        size_text = f"{self.size} x {self.size} pixels" if self.resize != "tile" else f"patches of {self.size} px"
        return [
            f"Size: {size_text}, {RESIZE_POLICIES[self.resize]}.",
            f"Channels: {channel_text}.",
            f"Intensity: {window_text}; values scaled to 0-1.",
            "Multi-frame files and volumes: every frame or slice becomes one image; all images of one file "
            "(or one patient) stay in the same split.",
        ]


def frame_to_unit_square(image: MedicalImage, frame: int, prep: Preprocessing) -> np.ndarray:
    """One frame windowed to [0, 1] and resized to (size, size, 1 or 3) float32 (channels not yet decided).

    Intensity "full_range" scales by the file's data range instead of a window (core.data.native); resize "tile"
    takes the central size x size patch at native resolution (the importer cuts every patch instead).
    """
    unit = frame_to_unit(image, frame, prep)
    if prep.resize == "tile":
        return centre_patch(unit, prep.size)
    return resize_square(unit, prep.size, prep.resize)


def frame_to_unit(image: MedicalImage, frame: int, prep: Preprocessing) -> np.ndarray:
    """One frame in [0, 1] by the policy's intensity, at its own resolution, (H, W, 1 or 3) float32."""
    if prep.intensity == "full_range":
        unit = full_range_unit(image, frame)
    else:
        window = None if (image.is_color or prep.window == "default") else resolve_window(image, prep.window)
        unit = window_to_unit(image, frame, window)
    return unit[:, :, None] if unit.ndim == 2 else unit


def resize_square(array: np.ndarray, size: int, policy: str) -> np.ndarray:
    """(H, W, C) float -> (size, size, C) float, by the named policy, with anti-aliasing when shrinking."""
    height, width = array.shape[:2]
    if policy == "pad" and height != width:
        side = max(height, width)
        padded = np.zeros((side, side, array.shape[2]), dtype=np.float32)
        top, left = (side - height) // 2, (side - width) // 2
        padded[top:top + height, left:left + width] = array
        array = padded
    elif policy == "crop" and height != width:
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        array = array[top:top + side, left:left + side]
    if array.shape[0] == size and array.shape[1] == size:
        return array.astype(np.float32, copy=False)
    import torch  # here, not at the top: only resizing needs it, and importing torch takes seconds
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1)[None]
    shrinking = array.shape[0] > size or array.shape[1] > size
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking)
    return resized[0].permute(1, 2, 0).clamp(0, 1).numpy()


def match_channels(array: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, 1 or 3) -> (H, W, channels): luminance for RGB -> grey, repetition for grey -> RGB."""
    if array.shape[-1] == channels:
        return array
    if channels == 1:
        return (array @ LUMA)[..., None].astype(np.float32)
    return np.repeat(array, 3, axis=-1)


def to_storage(unit: np.ndarray, dtype: type) -> np.ndarray:
    """[0, 1] floats -> uint8 or uint16 for the store."""
    top = np.iinfo(dtype).max
    return np.clip(np.rint(unit * top), 0, top).astype(dtype)
