"""AppTest tests of the Evaluate page on the phantom-trained run."""
from __future__ import annotations

import numpy as np
import skimage.data
from pydicom.data import get_testdata_file

from tests.fixtures import png_bytes
from tests.pages.apptest import open_page, rerun, texts

PAGE = "pages/evaluate.py"


def test_without_runs_it_says_what_to_do():
    at = open_page(PAGE)
    assert "No completed classification runs" in at.info[0].value


def test_report_tab_shows_metrics_confusion_curves_and_calibration(trained):
    at = open_page(PAGE)
    headline = at.dataframe[0].value
    accuracy = headline[headline["metric"] == "accuracy"].iloc[0]
    assert accuracy["value"] >= 0.95 and accuracy["95% CI low"] <= accuracy["value"] <= accuracy["95% CI high"]
    titles = " ".join(str(c.proto.spec) for c in at.get("plotly_chart"))
    for title in ("Confusion matrix", "ROC", "Precision-recall", "Reliability diagram"):
        assert title in titles
    assert "Temperature scaling" in texts(at) and "Most confidently wrong" in texts(at)
    at.selectbox(key=f"report-{trained.run_id}-true").set_value("nodule")
    at.selectbox(key=f"report-{trained.run_id}-pred").set_value("nodule").run()
    assert not at.exception and any("test images" in c.value for c in at.caption)


def test_predict_tab_flags_a_colour_photo_and_classifies_a_dicom(trained):
    at = open_page(PAGE, **{"eval-tab": "Predict"})
    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        dicom = handle.read()
    at.get("file_uploader")[0].set_value([("photo.png", png_bytes(skimage.data.astronaut()), "image/png"),
                                          ("ct.dcm", dicom, "application/dicom")]).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["file"]) == ["photo.png", "ct.dcm"]
    assert table.loc[0, "ood"] and "colour" in table.loc[0, "ood_reasons"]
    assert any("photo.png looks unlike the training data" in w.value for w in at.warning)
    assert len(at.get("image")) >= 4  # each file: what the model saw and its overlay
    assert at.get("download_button")


def test_explain_export_and_compare_tabs(trained):
    at = open_page(PAGE, **{"eval-tab": "Explain"})
    assert len(at.get("image")) == 2 and "Grad-CAM" in " ".join(at.get("image")[1].captions)
    at = rerun(at, **{"eval-tab": "Export"})
    at.radio(key=f"export-format-{trained.run_id}").set_value("onnx")
    at.button(key=f"export-{trained.run_id}").click().run()
    assert "onnxruntime matches PyTorch" in at.success[0].value and at.get("download_button")
    at = rerun(at, **{"eval-tab": "Compare"})
    assert not at.exception and at.dataframe
