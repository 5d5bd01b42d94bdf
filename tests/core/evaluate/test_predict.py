"""Predictions on files with the phantom-trained run: Grad-CAM on lesions, OOD flags, DICOM input."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from pydicom.data import get_testdata_file

from core.data.catalog import open_dataset
from core.data.phantom import phantom_lesion_masks
from core.evaluate.explain import class_activation_map, overlay
from core.evaluate.predict import _window_choice, load_predictor, predict_files, predict_image, predictions_csv
from core.data.medical_image import image_from_array
from core.jobs.store import RunStore
from tests.fixtures import png_bytes


@pytest.fixture
def predictor(trained):
    return load_predictor(RunStore().run_folder(trained.run_id))


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_class_activation_maps_highlight_the_lesion_more_than_the_background(trained, predictor, method):
    dataset = open_dataset("default", "phantom-64")
    masks = phantom_lesion_masks(size=64)
    test = dataset.indices("test")
    labels = dataset.labels
    chosen = [i for i in test if labels[i] != 0 and masks[i].sum() > 0][:30]  # images with a lesion
    ratios = []
    for index in chosen:
        image = dataset.unit_images(np.array([index]))[0]
        prediction = predict_image(predictor, image_from_array("x", dataset.images[index]))
        heat = class_activation_map(predictor.model, _tensor(image), int(labels[index]), method)
        inside, outside = heat[masks[index]].mean(), heat[~masks[index]].mean()
        ratios.append(inside / max(outside, 1e-6))
        assert prediction.heat.shape == (64, 64)
    assert np.median(ratios) > 2.0  # the lesion is far hotter than the rest of the image
    assert np.mean(np.array(ratios) > 1.0) >= 0.8


def test_colour_photo_and_black_image_are_flagged_out_of_distribution(predictor):
    files = [("astronaut.png", png_bytes(skimage.data.astronaut())), ("black.png", png_bytes(np.zeros((64, 64), np.uint8)))]
    predictions, errors = predict_files(predictor, files)
    assert not errors and all(p.ood.flagged for p in predictions)
    assert any("colour" in reason for reason in predictions[0].ood.reasons)
    assert any("brightness" in reason for reason in predictions[1].ood.reasons)


def test_phantom_test_images_are_mostly_in_distribution(predictor):
    dataset = open_dataset("default", "phantom-64")
    test = dataset.indices("test")[:100]
    flagged = [predict_image(predictor, image_from_array("x", dataset.images[i])).ood.flagged for i in test]
    assert np.mean(flagged) <= 0.1


def test_dicom_and_unreadable_files(predictor, tmp_path):
    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        dicom = handle.read()
    predictions, errors = predict_files(predictor, [("ct.dcm", dicom), ("junk.dcm", b"nope" * 100)], cam_dir=tmp_path)
    assert [p.file for p in predictions] == ["ct.dcm"] and errors[0][0] == "junk.dcm"
    assert sum(predictions[0].probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert (tmp_path / "ct_cam.png").exists()
    csv = predictions_csv(predictions)
    assert csv.splitlines()[0].startswith("out_of_distribution,ood_reason,file,frame,prediction,p_normal")
    assert "ct.dcm" in csv


def test_the_csv_leads_with_the_out_of_distribution_flag_and_its_reason(predictor):
    files = [("astronaut.png", png_bytes(skimage.data.astronaut()))]
    predictions, _ = predict_files(predictor, files)
    header, row = predictions_csv(predictions).splitlines()
    assert header.split(",")[:5] == ["out_of_distribution", "ood_reason", "file", "frame", "prediction"]
    assert row.startswith("True,") and "colour image" in row.split(",astronaut.png,")[0]


def test_overlay_is_rgb_uint8():
    image = np.random.default_rng(0).random((32, 32, 1)).astype(np.float32)
    blended = overlay(image, np.ones((8, 8), np.float32), opacity=0.5)
    assert blended.shape == (32, 32, 3) and blended.dtype == np.uint8


def _tensor(image: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


@pytest.mark.parametrize("saved, used", [
    ("default", "default"), ("lung", "lung"), ("auto", "auto"), ("-600,1500", "-600,1500"), ("40;400", "40;400"),
    ("generated", "default"), (None, "default"), ("10,0", "default"), ("nan,400", "default"), ("wide", "default"),
])
def test_prediction_windows_new_images_as_the_dataset_was_windowed(saved, used):
    assert _window_choice(saved) == used


def test_a_model_trained_on_full_range_data_predicts_on_full_range_inputs(trained):
    import json

    folder = RunStore().run_folder(trained.run_id)
    spec_file = folder / "model.json"
    original = spec_file.read_text()
    spec = json.loads(original)
    spec.setdefault("preprocessing", {}).update(intensity="full_range", window="40,400")
    try:
        spec_file.write_text(json.dumps(spec))
        preprocessing = load_predictor(folder).preprocessing
    finally:
        spec_file.write_text(original)
    assert (preprocessing.intensity, preprocessing.window) == ("full_range", "40,400")
