"""NIfTI reader: small synthetic volumes written with nibabel, as .nii and .nii.gz."""
from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from core.data.nifti import gunzip, nifti_kind, read_nifti
from core.data.windowing import render_8bit
from core.errors import UserError


def _volume(affine: np.ndarray | None = None) -> nib.Nifti1Image:
    data = np.zeros((4, 5, 6), np.int16)
    data[0, 4, 2] = 1000  # x=0 is the patient's left in RAS, y=4 the most anterior row, slice z=2
    image = nib.Nifti1Image(data, np.diag([0.8, 0.9, 2.5, 1]) if affine is None else affine)
    image.header.set_slope_inter(1.0, -1024.0)  # stored + intercept: CT-like HU
    return image


@pytest.mark.parametrize("compress", [False, True])
def test_volume_reads_as_axial_slices_with_spacing(compress: bool) -> None:
    data = _volume().to_bytes()
    name = "head.nii.gz" if compress else "head.nii"
    image = read_nifti(gzip.compress(data) if compress else data, name)
    assert image.format == "nifti" and image.frame_count == 6 and image.frames.shape == (6, 5, 4)
    assert image.spacing == pytest.approx((0.9, 0.8))  # (row, column) = (y, x) zooms
    assert image.value_range == (-1024.0, -24.0)  # scl_inter applied: HU kept
    assert image.default_window.source == "auto" and not image.is_color
    assert render_8bit(image, frame=2).shape == (5, 4)


def test_slices_show_anterior_up_and_patient_right_on_the_left() -> None:
    expected = [[2, 0, 3]]  # slice 2, top row (anterior), right-most column (patient's left)
    assert np.argwhere(read_nifti(_volume().to_bytes(), "ras.nii").frames == -24).tolist() == expected
    flipped = nib.Nifti1Image(np.asarray(_volume().dataobj)[::-1].copy(), np.diag([-0.8, 0.9, 2.5, 1]))
    flipped.header.set_slope_inter(1.0, -1024.0)  # the same anatomy stored left-right flipped (LAS)
    assert np.argwhere(read_nifti(flipped.to_bytes(), "las.nii").frames == -24).tolist() == expected


def test_4d_keeps_the_first_volume_with_a_warning() -> None:
    data = np.stack([np.full((3, 3, 2), t, np.float32) for t in range(4)], axis=-1)
    image = read_nifti(nib.Nifti1Image(data, np.eye(4)).to_bytes(), "fmri.nii")
    assert image.frames.shape == (2, 3, 3) and np.all(image.frames == 0)
    assert len(image.warnings) == 1 and "4 volumes" in image.warnings[0]


def test_nifti2_is_read() -> None:
    image = read_nifti(nib.Nifti2Image(np.ones((2, 3, 4), np.float32), np.eye(4)).to_bytes(), "v2.nii")
    assert image.frames.shape == (4, 3, 2)


@pytest.mark.parametrize(
    "mangle, expected",
    [
        (lambda b: b[:352 + 20], "is damaged or truncated"),
        (lambda b: b"\0" * 400, "is not a NIfTI file"),
        (lambda b: gzip.compress(b"plain text, no header"), "is a gzip file that does not hold a NIfTI volume"),
        (lambda b: b"\x1f\x8b" + b"garbage" * 20, "is a damaged gzip file"),
        (lambda b: gzip.compress(b)[:-30], "is truncated"),
        (lambda b: b[:344] + b"ni1\0" + b[348:], "separate file"),
    ],
)
def test_bad_files_raise_one_line_user_errors(mangle, expected: str) -> None:
    with pytest.raises(UserError) as info:
        read_nifti(mangle(_volume().to_bytes()), "bad.nii")
    assert str(info.value).startswith("bad.nii ") and expected in str(info.value) and "\n" not in str(info.value)


def test_gzip_bomb_is_refused() -> None:
    with pytest.raises(UserError, match="expands to more than"):
        gunzip(gzip.compress(b"\0" * (3 << 20)), "bomb.nii.gz", limit=1 << 20)


def test_nifti_kind() -> None:
    assert nifti_kind(_volume().to_bytes()) == "nifti1"
    assert nifti_kind(b"\0" * 600) is None
