"""The report a completed run stores, checked on the recipe trained on the phantom."""
from __future__ import annotations

import numpy as np

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
