"""AppTest of the image viewer: what a DICOM file names but MedLab cannot honour is said on the page."""
from __future__ import annotations

from tests.core.data.test_dicom_pipeline import dicom_bytes, ramp
from tests.pages.apptest import open_page

PAGE = "pages/dataset.py"


def test_viewer_shows_the_images_warnings_and_the_files_voi_function():
    at = open_page(PAGE, **{"dataset-tab": "Viewer"})
    at.radio(key="viewer-source").set_value("My file").run()
    odd = dicom_bytes(ramp(4095), WindowCenter=2048, WindowWidth=2048, VOILUTFunction="CUBIC", Modality="MG")
    at.get("file_uploader")[0].set_value(("odd.dcm", odd, "application/dicom")).run()
    assert not at.exception
    assert any("VOI LUT Function CUBIC" in w.value for w in at.warning)
    sigmoid = dicom_bytes(ramp(4095), WindowCenter=2048, WindowWidth=2048, VOILUTFunction="SIGMOID", Modality="MG")
    at.get("file_uploader")[0].set_value(("sigmoid.dcm", sigmoid, "application/dicom")).run()
    assert not at.exception and not [w for w in at.warning if "sigmoid.dcm" in w.value]


def test_the_lossy_ct_sample_opens_at_a_window_showing_anatomy_with_the_files_own_on_offer():
    at = open_page(PAGE, **{"dataset-tab": "Viewer"})
    at.selectbox(key="sample").set_value("ct_jpeg2000").run()
    captions = [image.caption for element in at.get("image") for image in element.proto.imgs]
    assert captions == ["693_J2KI.dcm · 512×512 · W 2144 / L 50"]
    choice = at.selectbox(key="sample-ct_jpeg2000-choice")
    assert choice.value == "Default: automatic, inside the scan field (W 2144 / L 50)"
    choice.set_value("File window (W 100 / L 40)").run()
    level, width = at.slider(key="sample-ct_jpeg2000-level"), at.slider(key="sample-ct_jpeg2000-width")
    assert (level.value, width.value) == (40, 100)
