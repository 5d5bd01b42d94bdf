"""Real sample images that installed packages ship, so the viewer works offline with nothing uploaded.

DICOM samples are pydicom's own test files (found locally, never downloaded); microscopy and fundus images
come from scikit-image's bundled data. Every sample goes through `read_medical_image`, so DICOM is
de-identified like any upload. The CT samples are first shown at a window chosen from their own values
(`anatomy_window`), so they show anatomy the moment they appear.
"""
from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass

import numpy as np
import tifffile
from PIL import Image
from pydicom.data import get_testdata_file

from core.data.medical_image import MedicalImage, Window
from core.data.readers import read_medical_image
from core.data.windowing import PRESETS, auto_window
from core.errors import UserError


@dataclass(frozen=True)
class Sample:
    title: str
    description: str
    pydicom_file: str = ""   # a pydicom test file name, or
    skimage_name: str = ""   # a skimage.data function that works offline
    window: str = ""         # "anatomy": first shown at `anatomy_window` (the file's own windows stay on offer)


SAMPLES: dict[str, Sample] = {
    "ct_small": Sample("CT slice (small)", "A 128×128 CT slice in Hounsfield units with rescale slope/intercept. "
                       "It names no window, so it opens at the soft-tissue window its values fit.",
                       pydicom_file="CT_small.dcm", window="anatomy"),
    "ct_jpeg2000": Sample("CT slice, JPEG 2000", "A 512×512 head CT slice stored with lossy JPEG 2000 compression. "
                          "At the file's own narrow window (W 100 / L 40) the compression shows as flat blocks, so it "
                          "opens at a window spanning the values inside the scan field; the file's window is on "
                          "the list.", pydicom_file="693_J2KI.dcm", window="anatomy"),
    "mr_small": Sample("MR slice (small)", "A 64×64 MR slice with its own window centre and width.",
                       pydicom_file="MR_small.dcm"),
    "mr_overlay": Sample("MR slice with windows", "A 484×300 MR slice that names three windows of its own.",
                         pydicom_file="examples_overlay.dcm"),
    "us_cine": Sample("Ultrasound cine loop (30 frames)", "A multi-frame ultrasound clip, JPEG baseline in YBR colour.",
                      pydicom_file="examples_ybr_color.dcm"),
    "us_palette": Sample("Ultrasound, palette colour", "An ultrasound image in PALETTE COLOR, turned into RGB.",
                         pydicom_file="examples_palette.dcm"),
    "us_jpeg2000": Sample("Ultrasound, JPEG 2000", "A colour ultrasound image with lossless JPEG 2000 compression.",
                          pydicom_file="examples_jpeg2k.dcm"),
    "retina": Sample("Retina (fundus photo)", "A colour fundus photograph of a human retina (scikit-image).",
                     skimage_name="retina"),
    "ihc": Sample("Immunohistochemistry", "A colour IHC-stained tissue section (scikit-image).",
                  skimage_name="immunohistochemistry"),
    "cell": Sample("Cell (microscopy)", "A greyscale light-microscopy image of a cell (scikit-image).",
                   skimage_name="cell"),
    "microaneurysms": Sample("Retinal microaneurysms", "A small greyscale retina crop showing microaneurysms (scikit-image).",
                             skimage_name="microaneurysms"),
    "shepp_logan": Sample("Shepp-Logan phantom", "The classic CT test phantom, as floating-point values (scikit-image).",
                          skimage_name="shepp_logan_phantom"),
}


AIR_HU = -900.0          # below: air (and nothing of the body) in a CT in Hounsfield units
FIELD_HU = -1024.0       # below: no tissue at all; values outside a CT's reconstruction circle
SOFT_TISSUE_SHARE = 2 / 3


def anatomy_window(image: MedicalImage) -> Window:
    """A window that shows the anatomy of a greyscale image, chosen from its own values.

    A CT in Hounsfield units gets the soft-tissue window (W 400 / L 40) when at least two thirds of the body's
    values (those above air, -900 HU) lie inside it; otherwise, and for other images, the 0.5-99.5 percentile
    range of the values inside the scan field (CT: above -1024 HU, so the region outside the reconstruction
    circle does not stretch the window). Colour images keep their default.
    """
    if image.is_color:
        return image.default_window
    values = np.asarray(image.image_values(), dtype=np.float64)
    values = values[np.isfinite(values)]
    if image.modality == "CT" and values.size:
        soft = PRESETS["soft_tissue"]
        body = values[values > AIR_HU]
        if body.size and np.mean((body >= soft.low) & (body <= soft.high)) >= SOFT_TISSUE_SHARE:
            return soft
        field = values[values >= FIELD_HU]
        values = field if field.size else values
    window = auto_window(values)
    return dataclasses.replace(window, source="auto (scan field)" if image.modality == "CT" else "auto")


def _encoded(array: np.ndarray, name: str) -> tuple[bytes, str]:
    """A skimage array as file bytes: PNG for 8-bit images, float TIFF otherwise (lossless either way)."""
    buffer = io.BytesIO()
    if array.dtype == np.uint8:
        Image.fromarray(array).save(buffer, "PNG", compress_level=1)
        return buffer.getvalue(), f"{name}.png"
    tifffile.imwrite(buffer, array.astype(np.float32))
    return buffer.getvalue(), f"{name}.tif"


def load_sample(sample_id: str) -> MedicalImage:
    """Decode one sample through the ordinary readers (offline)."""
    sample = SAMPLES.get(sample_id)
    if sample is None:
        raise UserError(f"'{sample_id}' is not a sample: choose one of {', '.join(SAMPLES)}.")
    if sample.pydicom_file:
        path = get_testdata_file(sample.pydicom_file, download=False)
        if path is None:
            raise UserError(f"The sample '{sample_id}' is not installed with this copy of pydicom.")
        with open(path, "rb") as handle:
            image = read_medical_image(handle.read(), sample.pydicom_file)
        if sample.window == "anatomy":
            image = dataclasses.replace(image, default_window=anatomy_window(image))
        return image
    import skimage.data  # imported here: it is slow to import and only samples need it

    try:
        array = np.asarray(getattr(skimage.data, sample.skimage_name)())
    except (AttributeError, ModuleNotFoundError, OSError, ValueError):  # missing or needs a download
        raise UserError(f"The sample '{sample_id}' is not available offline with this copy of scikit-image.") from None
    data, name = _encoded(array, sample.skimage_name)
    return read_medical_image(data, name)
