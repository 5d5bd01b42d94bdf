"""The report a completed run stores, checked on the recipe trained on the phantom."""
from __future__ import annotations

import numpy as np
import pytest

from core.evaluate.report import load_predictions, load_report
from core.jobs.store import RunStore


def test_report_has_metrics_with_intervals_curves_and_calibration(trained):
    store = RunStore()
    folder = store.run_dir(store.get(trained.run_id))
    report = load_report(folder)
    headline = report["metrics"]["headline"]
    accuracy = headline["accuracy"]
    assert accuracy["value"] >= 0.95  # the recipe's promise on the built-in phantom
    assert accuracy["ci_low"] <= accuracy["value"] <= accuracy["ci_high"] < 1.0 + 1e-9
    assert np.asarray(report["metrics"]["confusion_matrix"]).sum() == report["n_test"]
    assert set(report["roc"]) == set(report["classes"]) and set(report["pr"]) == set(report["classes"])
    calibration = report["calibration"]
    assert calibration["temperature"] > 0 and calibration["after"]["accuracy"] == calibration["before"]["accuracy"]
    assert all(case["true"] != case["predicted"] for case in report["top_losses"])


def test_predictions_are_stored_for_the_page(trained):
    store = RunStore()
    folder = store.run_dir(store.get(trained.run_id))
    predictions = load_predictions(folder)
    assert predictions["logits"].shape == (load_report(folder)["n_test"], 4)
    assert len(predictions["indices"]) == len(predictions["labels"])


def _outputs(multilabel: bool, seed: int = 0):
    """Tiny split outputs as a classifier returns them: 3 classes, 30 images per split, 4 features."""
    from core.tasks.classify import ClassificationOutputs, SplitOutputs

    rng = np.random.default_rng(seed)

    def split(n: int) -> SplitOutputs:
        labels = (rng.random((n, 3)) < 0.4).astype(np.float32) if multilabel else np.arange(n) % 3
        logits = rng.normal(size=(n, 3)).astype(np.float32) + 2.0 * (np.eye(3)[labels] if not multilabel else labels)
        return SplitOutputs(logits.astype(np.float32), labels, rng.normal(size=(n, 4)).astype(np.float32),
                            np.arange(n))

    return ClassificationOutputs(classes=["a", "b", "c"], multilabel=multilabel,
                                 thresholds=[0.5, 0.5, 0.5] if multilabel else None, dataset_id="tiny",
                                 train=split(30), val=split(30), test=split(30),
                                 train_images=rng.random((30, 1, 8, 8)).astype(np.float32))


@pytest.mark.parametrize("multilabel", [False, True])
def test_the_report_is_built_from_split_outputs_alone(tmp_path, multilabel):
    from core.evaluate.report import build_report

    report = build_report(_outputs(multilabel), tmp_path)
    assert set(report) == set(load_report(tmp_path))  # what was returned is what was stored
    assert (report["task"], report["n_test"], report["dataset"]) == \
        ("multilabel" if multilabel else "classification", 30, "tiny")
    assert load_predictions(tmp_path)["logits"].shape == (30, 3)
    assert (tmp_path / "ood.json").exists()


def test_the_table_and_the_curves_score_the_same_probabilities_when_temperature_scaling_is_applied(tmp_path):
    """With three classes, scaling the logits changes each class's ranking a little: the per-class AUC and AP must
    be those of the curves drawn beside them (both from the scaled probabilities the predictor gives)."""
    from core.evaluate.report import build_report
    from core.tasks.classify import ClassificationOutputs, SplitOutputs

    rng = np.random.default_rng(3)

    def split(n: int) -> SplitOutputs:   # overconfident logits (x 4): the fitted temperature is well above 1
        labels = np.arange(n) % 3
        logits = 4 * (rng.normal(size=(n, 3)) + 1.2 * np.eye(3)[labels])
        return SplitOutputs(logits.astype(np.float32), labels, rng.normal(size=(n, 4)).astype(np.float32),
                            np.arange(n))

    outputs = ClassificationOutputs(classes=["a", "b", "c"], multilabel=False, thresholds=None, dataset_id="tiny",
                                    train=split(60), val=split(600), test=split(300),
                                    train_images=rng.random((60, 1, 8, 8)).astype(np.float32))
    report = build_report(outputs, tmp_path)
    assert report["calibration"]["applied"] and report["temperature"] > 1.5
    for row in report["metrics"]["per_class"]:
        assert row["auc"] == pytest.approx(report["roc"][row["class"]]["auc"], abs=1e-12)
        assert row["average_precision"] == pytest.approx(report["pr"][row["class"]]["average_precision"], abs=1e-12)
