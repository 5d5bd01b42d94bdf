"""AppTest tests of the Evaluate page on the phantom-trained run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from pydicom.data import get_testdata_file

from core.evaluate.cpu_int8 import int8_hardware_text
from core.evaluate.intervals import proportion_ci
from core.evaluate.report import load_report
from core.jobs.store import RunStore
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
    assert accuracy["CI method"].startswith("Wilson score (") and accuracy["CI method"].endswith("/458)")
    assert headline[headline["metric"] == "roc auc"].iloc[0]["CI method"] == "percentile bootstrap"
    assert not any("test split holds only" in w.value for w in at.warning)   # 458 test images, 114 or more a class
    titles = " ".join(str(c.proto.spec) for c in at.get("plotly_chart"))
    for title in ("Confusion matrix", "ROC", "Precision-recall", "Reliability diagram"):
        assert title in titles
    assert "Temperature scaling" in texts(at) and "Wrong test images with the highest loss" in texts(at)
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
    assert list(table.columns[:5]) == ["out_of_distribution", "ood_reason", "file", "frame", "prediction"]
    assert list(table["file"]) == ["photo.png", "ct.dcm"]
    assert table.loc[0, "out_of_distribution"] and "colour" in table.loc[0, "ood_reason"]
    assert len(at.get("image")) >= 4  # each file: what the model saw and its overlay
    assert at.get("download_button")
    # the warning comes first: a summary above the table, then one above the photo's own result
    order = list(walk(at.main))
    first = lambda kind, text="": next(i for i, e in enumerate(order)  # noqa: E731
                                       if e.type == kind and text in str(getattr(e, "value", "")))
    assert "Out of distribution" in order[first("error", "photo.png")].value
    assert first("error", "photo.png") < first("dataframe")
    photo_error = first("error", "Out of distribution — prediction not reliable.** photo.png")
    photo_image = next(i for i, e in enumerate(order) if e.type == "image" and i > photo_error)
    assert first("plotly_chart") > photo_image > photo_error
    captions = " ".join(" ".join(e.captions) for e in at.get("image"))
    assert "unreliable: the image is out of distribution" in captions
    photo_chart = str(at.get("plotly_chart")[0].proto.spec)
    assert "NOT RELIABLE: out of distribution" in photo_chart and "lightgrey" in photo_chart


def walk(node):
    """Every element under `node`, in the order the page shows them."""
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for index in sorted(children):
        yield from walk(children[index])


def test_report_warns_first_when_the_test_split_is_small(trained, monkeypatch):
    import core.evaluate.report as report_module

    stored = report_module.load_report

    def small(folder):   # the phantom report as if its test split were small (and stored before "warnings")
        report = stored(folder)
        report.pop("warnings", None)
        report["n_test"] = report["metrics"]["n"] = 24
        report["metrics"]["per_class"][2]["support"] = 6
        report["calibration"] |= {"applied": False, "temperature": 1.0, "fitted_temperature": None,
                                  "note": "Validation split too small to calibrate (40 images, fewer than 50); "
                                          "temperature scaling not applied."}
        return report

    monkeypatch.setattr(report_module, "load_report", small)
    at = open_page(PAGE)
    warnings = [w.value for w in at.warning]
    assert "only 24 images" in warnings[0] and "uncertain" in warnings[0]
    assert any("class 'cavity' (6 test images)" in w for w in warnings)
    assert any(w.startswith("Validation split too small to calibrate (40 images") for w in warnings)
    order = list(walk(at.main))
    assert min(i for i, e in enumerate(order) if e.type == "warning") < \
        min(i for i, e in enumerate(order) if e.type == "dataframe")
    assert "Temperature scaling: not applied" in texts(at)


def test_report_intervals_switch_to_clopper_pearson(trained):
    at = open_page(PAGE)
    wilson = at.dataframe[0].value.set_index("metric").loc["accuracy"]
    at.radio(key=f"report-{trained.run_id}-ci").set_value("clopper-pearson").run()
    exact = at.dataframe[0].value.set_index("metric").loc["accuracy"]
    assert exact["CI method"].startswith("Clopper-Pearson exact") and exact["value"] == wilson["value"]
    # the interval shown is the exact one of this run's count (it is not always below Wilson's: near 100% accuracy
    # Wilson's lower bound is the lower one)
    n = load_report(RunStore().run_dir(RunStore().get(trained.run_id)))["n_test"]
    correct = round(exact["value"] * n)
    for method, shown in (("clopper-pearson", exact), ("wilson", wilson)):
        low, high = proportion_ci(correct, n, method)
        assert shown["95% CI low"] == pytest.approx(low, abs=6e-4) and shown["95% CI high"] == pytest.approx(high,
                                                                                                       abs=6e-4)


def test_explain_export_and_compare_tabs(trained):
    at = open_page(PAGE, **{"eval-tab": "Explain"})
    assert len(at.get("image")) == 2 and "Grad-CAM" in " ".join(at.get("image")[1].captions)
    at = rerun(at, **{"eval-tab": "Export"})
    at.radio(key=f"export-format-{trained.run_id}").set_value("onnx")
    at.button(key=f"export-{trained.run_id}").click().run()
    assert "onnxruntime matches PyTorch" in at.success[0].value and at.get("download_button")
    at = rerun(at, **{"eval-tab": "Compare"})
    assert not at.exception and at.dataframe
    compared = at.dataframe[0].value
    took = RunStore().get(trained.run_id).duration_s   # what the run's header says it took
    assert compared.loc["training time (s)"].iloc[0] == pytest.approx(took, abs=0.05)


def spec(at, title: str) -> dict:
    """The plotly figure (as JSON) whose title starts with `title`."""
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(f for f in figures if f["layout"]["title"]["text"].startswith(title))


def stored_report(trained) -> dict:
    return load_report(RunStore().run_folder(trained.run_id))


def test_confusion_cell_images_follow_the_chosen_cell_and_its_count(trained):
    report = stored_report(trained)
    classes, matrix = report["classes"], report["metrics"]["confusion_matrix"]
    at = open_page(PAGE)
    key = f"report-{trained.run_id}"
    figure = spec(at, "Confusion matrix (click a cell)")
    cells = figure["data"][1]   # transparent square markers over the heat map: the clickable cells
    assert cells["type"] == "scatter" and len(cells["x"]) == len(classes) ** 2
    assert figure["layout"]["hoverdistance"] == -1 and figure["layout"]["dragmode"] is False
    true, predicted = classes.index("nodule"), classes.index("cavity")
    at.selectbox(key=f"{key}-true").set_value("nodule")
    at.selectbox(key=f"{key}-pred").set_value("cavity").run()
    shape = spec(at, "Confusion matrix")["layout"]["shapes"][0]   # the chosen cell is outlined
    assert (shape["x0"] + 0.5, shape["y0"] + 0.5) == (predicted, true)
    count = matrix[true][predicted]
    assert any(c.value.startswith(f"True nodule, predicted cavity: {count} test image") for c in at.caption)
    at.selectbox(key=f"{key}-pred").set_value("nodule").run()
    count = matrix[true][true]
    assert any(f"True nodule, predicted nodule: {count} test images" in c.value for c in at.caption)


def test_report_charts_keep_legends_off_axis_titles_and_curves_off_the_frame(trained):
    at = open_page(PAGE)
    for title in ("ROC", "Precision-recall", "Reliability diagram"):
        layout = spec(at, title)["layout"]
        assert layout["legend"]["yref"] == "container" and layout["legend"]["y"] == 0   # below the axis title
        assert layout["xaxis"]["range"] == [-0.02, 1.02] and layout["yaxis"]["range"] == [-0.02, 1.02]
    after = spec(at, "Reliability diagram")["data"][1]
    bins = stored_report(trained)["calibration"]["after"]["reliability"]["bins"]
    assert [y is None for y in after["y"]] == [not b["count"] for b in bins]   # no line through empty bins


def binary_phantom(monkeypatch):
    """The phantom run's report as a two-class task, nodule against normal (classes in that order)."""
    import core.evaluate.report as report_module
    import pages.ui.eval_report as eval_report
    from core.evaluate.calibration import calibration_summary
    from core.evaluate.metrics import pr_curves, roc_curves, single_label_report
    from scipy.special import softmax

    stored_report, stored_predictions = report_module.load_report, report_module.load_predictions

    def predictions(folder):
        data = stored_predictions(folder)
        classes = stored_report(folder)["classes"]
        a, b = classes.index("nodule"), classes.index("normal")
        keep = np.isin(data["labels"], [a, b])
        return {"logits": data["logits"][keep][:, [a, b]], "labels": (data["labels"][keep] == b).astype(int),
                "indices": data["indices"][keep]}

    def report(folder):
        data, classes = predictions(folder), ["nodule", "normal"]
        probabilities = softmax(data["logits"], axis=1)
        calibration = calibration_summary(data["logits"], data["labels"], data["logits"], data["labels"])
        return {"task": "classification", "classes": classes, "n_test": len(data["labels"]), "warnings": [],
                "metrics": single_label_report(data["labels"], probabilities, classes, n_bootstrap=100),
                "roc": roc_curves(data["labels"], probabilities, classes),
                "pr": pr_curves(data["labels"], probabilities, classes), "calibration": calibration,
                "temperature": calibration["temperature"], "top_losses": []}

    monkeypatch.setattr(report_module, "load_report", report)
    monkeypatch.setattr(eval_report, "load_predictions", predictions)
    return predictions


def test_binary_threshold_names_the_positive_class_and_the_user_can_choose_it(trained, monkeypatch):
    predictions = binary_phantom(monkeypatch)
    at = open_page(PAGE)
    key = f"report-{trained.run_id}"
    positive = at.radio(key=f"{key}-positive")
    assert positive.value == "nodule" and "not a normal finding" in texts(at)   # the finding, not "normal"
    slider = at.slider(key=f"{key}-threshold-nodule")
    assert "call 'nodule' when its probability is at least" in slider.label
    headline = at.dataframe[0].value.set_index("metric")["value"]
    data = predictions(RunStore().run_folder(trained.run_id))
    nodule = data["labels"] == 0
    called = data["logits"].argmax(1) == 0
    sensitivity, specificity = (called & nodule).sum() / nodule.sum(), (~called & ~nodule).sum() / (~nodule).sum()
    assert headline["sensitivity ('nodule' positive)"] == pytest.approx(sensitivity, abs=1e-4)
    assert headline["specificity ('nodule' positive)"] == pytest.approx(specificity, abs=1e-4)
    assert {m.label: m.value for m in at.metric}["Sensitivity"] == f"{sensitivity:.3f}"   # threshold 0.5
    assert "'nodule' positive" in spec(at, "ROC")["layout"]["title"]["text"]
    assert spec(at, "ROC")["data"][-1]["name"] == "threshold 0.50"   # the operating point on the curve

    positive.set_value("normal").run()
    assert "call 'normal' when its probability is at least" in at.slider(key=f"{key}-threshold-normal").label
    swapped = at.dataframe[0].value.set_index("metric")["value"]
    assert swapped["sensitivity ('normal' positive)"] == headline["specificity ('nodule' positive)"]
    assert swapped["ppv ('normal' positive)"] == headline["npv ('nodule' positive)"]
    assert {m.label: m.value for m in at.metric}["Sensitivity"] == f"{specificity:.3f}"
    table = at.dataframe[-1].value
    assert list(table.columns) == ["called normal", "called nodule"] and list(table.index) == ["true normal",
                                                                                               "true nodule"]


def test_model_card_preview_has_section_sized_headings_and_no_int8_box(trained):
    at = open_page(PAGE, **{"eval-tab": "Export"})
    at.radio(key=f"export-format-{trained.run_id}").set_value("card")
    at.button(key=f"export-{trained.run_id}").click().run()
    assert not at.exception
    preview = next(m.value for m in at.markdown if "Model card" in m.value)
    assert preview.startswith("### Model card") and "\n#### Model\n" in preview
    assert not at.info   # the INT8 figures are in the card itself


def test_export_tab_int8_shows_float_and_int8_side_by_side_and_pt2_reloads(trained):
    at = open_page(PAGE, **{"eval-tab": "Export"})
    formats = at.radio(key=f"export-format-{trained.run_id}")
    assert "INT8 ONNX (static, calibrated)" in formats.options and "torch.export (.pt2)" in formats.options
    formats.set_value("int8")
    at.button(key=f"export-{trained.run_id}").click().run()
    assert not at.exception and not at.error
    table = at.table[0].value
    assert list(table.columns) == ["Float ONNX", "INT8 ONNX"]
    assert list(table.index) == ["file size", "ms per image, batch 1", "ms per image, batch 32",
                                 "test accuracy (95% CI, Wilson score)", "same decision as float"]
    assert "smaller" in table.loc["file size", "INT8 ONNX"] and "of 458 test images" in table.iloc[-1]["INT8 ONNX"]
    assert any(c.value.startswith("Static quantisation calibrated on training images")
               and c.value.endswith(int8_hardware_text()) for c in at.caption)
    assert at.get("download_button")
    at.radio(key=f"export-format-{trained.run_id}").set_value("pt2").run()
    assert any("deprecated TorchScript in favour of torch.export" in c.value for c in at.caption)
    at.button(key=f"export-{trained.run_id}").click().run()
    assert not at.exception and "torch.export.load" in at.success[0].value and at.get("download_button")
