"""The report of a generative run, built from fake split outputs: its keys, the images beside it, memorisation and
anomaly sections, unlabelled datasets, and `python -m core evaluate RUN` for generative runs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.cli import main
from core.jobs.store import RunStore
from core.synthesis.quality import QUALITY_KEYS
from core.synthesis.report import build_synthesis_report, load_report_images, load_synthesis_report
from core.tasks.generative import GenerativeOutputs
from core.train.run_folder import REPORT_FILE, REPORT_IMAGES

CLASSES = ["normal", "lesion"]
SIZE = 16
PROJECTION = np.random.default_rng(123).normal(size=(SIZE * SIZE, 24)).astype(np.float32)


def draw(n: int, seed: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 16, 16, 1) in [0, 1], labels): noise on a dark background, lesions carry a bright square
    somewhere in the lower half."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2 if labels is None else labels
    images = rng.uniform(0.0, 0.25, (n, SIZE, SIZE, 1)).astype(np.float32)
    for i in np.flatnonzero(labels == 1):
        top, left = rng.integers(8, 12), rng.integers(0, 12)
        images[i, top:top + 4, left:left + 4] += 0.6
    return images, labels


def features(images: np.ndarray) -> np.ndarray:
    """A stand-in feature network: a fixed random projection of the pixels and a ReLU."""
    return np.maximum(images.reshape(len(images), -1) @ PROJECTION, 0)


def outputs(samples: np.ndarray, sample_labels: np.ndarray | None, train: np.ndarray, test: np.ndarray,
            test_labels: np.ndarray, labelled: bool = True, **extra) -> GenerativeOutputs:
    return GenerativeOutputs(
        task=extra.pop("task", "gan"), model="dcgan", workspace="default", dataset_id="fake-ds", classes=CLASSES,
        conditional=sample_labels is not None, train_class=extra.pop("train_class", ""), samples=samples,
        sample_labels=sample_labels, train_images=train, test_images=test, test_labels=test_labels,
        sample_features=features(samples) if labelled else None,
        train_features=features(train) if labelled else None,
        test_features=features(test) if labelled else None,
        feature_accuracy=extra.pop("feature_accuracy", 0.97 if labelled else None), seconds_per_sample=0.001,
        **extra)


@pytest.fixture(scope="module")
def real():
    train, train_labels = draw(300, 0)
    test, test_labels = draw(240, 1)
    return train, train_labels, test, test_labels


def test_a_fresh_generator_round_trips_and_is_not_flagged(tmp_path, real):
    train, _, test, test_labels = real
    samples, sample_labels = draw(240, 2, labels=test_labels)
    report = build_synthesis_report(outputs(samples, sample_labels, train, test, test_labels), tmp_path)
    assert json.loads((tmp_path / REPORT_FILE).read_text()) == report == load_synthesis_report(tmp_path)
    for key in ("task", "model", "n_samples", "n_test", "feature_accuracy", "quality", "memorisation", "anomaly",
                "warnings"):
        assert key in report, key
    quality = report["quality"]
    assert set(QUALITY_KEYS) <= set(quality) and all(quality[k] is not None for k in QUALITY_KEYS)
    assert 0.35 <= quality["two_sample_accuracy"] <= 0.65 and quality["coverage"] > 0.8
    assert 0.8 < quality["memorisation_ratio"] < 1.25 and not report["memorisation"]["flagged"]
    assert report["memorisation"]["space"].startswith("penultimate features")
    assert report["anomaly"] is None and report["n_samples"] == report["n_test"] == 240
    assert set(report["per_class"]) == set(CLASSES) and report["per_class"]["lesion"]["n_samples"] == 120
    assert report["warnings"] == []
    baseline = report["real_baseline"]  # real training images score like the fresh samples
    assert baseline["n_fake"] == 240 and 0.35 <= baseline["two_sample_accuracy"] <= 0.65
    assert 0.5 * baseline["fd"] < quality["fd"] < 2 * baseline["fd"] and "memorisation" not in baseline

    assert (tmp_path / REPORT_IMAGES).exists()
    images = load_report_images(tmp_path)
    assert images["samples"].dtype == np.uint8 and images["samples"].shape == (32, SIZE, SIZE, 1)
    assert list(images["sample_labels"][:4]) == list(sample_labels[:4])
    pairs = report["memorisation"]["pairs"]
    assert images["pair_samples"].shape == images["pair_train"].shape == (len(pairs), SIZE, SIZE, 1)
    assert np.array_equal(images["pair_samples"][0], np.round(samples[pairs[0]["sample"]] * 255).astype(np.uint8))


def test_a_generator_that_returns_training_images_is_flagged(tmp_path, real):
    train, train_labels, test, test_labels = real
    samples = train[:240]
    report = build_synthesis_report(outputs(samples, train_labels[:240], train, test, test_labels), tmp_path)
    close = report["memorisation"]
    # copies sit at distance 0 up to float rounding: the features of an image computed in another batch can differ
    # in the last bits (seen: a ratio of 4e-7)
    assert close["flagged"] and close["ratio"] == pytest.approx(0.0, abs=1e-4) and close["close_share"] == 1.0
    assert report["quality"]["memorisation_ratio"] == pytest.approx(0.0, abs=1e-4)
    assert any("reproducing training images" in w for w in report["warnings"])
    images = load_report_images(tmp_path)
    assert np.array_equal(images["pair_samples"], images["pair_train"])  # each copy beside its original


def test_disjoint_samples_are_told_apart(tmp_path, real):
    train, _, test, test_labels = real
    samples = np.clip(draw(240, 3)[0] + 0.5, 0, 1)  # brighter everywhere
    report = build_synthesis_report(outputs(samples, None, train, test, test_labels), tmp_path)
    quality, baseline = report["quality"], report["real_baseline"]
    assert quality["two_sample_accuracy"] > 0.95 and quality["precision"] < 0.05 and quality["coverage"] < 0.05
    assert quality["fd"] > 10 * baseline["fd"] and baseline["coverage"] > 0.8


def test_an_autoencoder_trained_on_normal_images_gets_an_anomaly_section(tmp_path, real):
    train, train_labels, test, test_labels = real
    normal_train = train[train_labels == 0]
    reconstructions = np.full_like(test, 0.125)  # it has only learned the normal background
    scores = ((test - reconstructions) ** 2).mean((1, 2, 3))
    report = build_synthesis_report(outputs(draw(120, 4, labels=np.zeros(120, int))[0], None, normal_train, test,
                                            test_labels, task="vae", train_class="normal", anomaly_scores=scores,
                                            reconstructions=reconstructions), tmp_path)
    anomaly = report["anomaly"]
    assert anomaly["normal_class"] == "normal" and anomaly["auc"] > 0.95 and anomaly["per_class"]["lesion"] > 0.95
    assert len(anomaly["roc"]["fpr"]) == len(anomaly["roc"]["tpr"]) > 2
    assert report["n_test"] == 120  # quality against the normal test images only
    images = load_report_images(tmp_path)
    assert images["originals"].shape == images["reconstructions"].shape and len(images["originals"]) == 16
    assert images["anomaly_maps"].dtype == np.uint8 and images["anomaly_maps"].shape[1:] == (SIZE, SIZE)
    lesion_map = images["anomaly_maps"][images["anomaly_labels"] == 1][0].astype(float)
    assert lesion_map[8:].mean() > 2 * lesion_map[:6].mean()  # the heat is where the lesions are
    assert report["anomaly_map_scale"] > 0


def test_unlabelled_data_says_why_quality_is_missing_and_keeps_memorisation_and_maps(tmp_path, real):
    train, _, test, _ = real
    unlabelled = np.full(len(test), -1)
    reconstructions = np.full_like(test, 0.125)
    report = build_synthesis_report(
        outputs(train[:100], None, train, test, unlabelled, labelled=False, task="autoencoder",
                anomaly_scores=((test - reconstructions) ** 2).mean((1, 2, 3)), reconstructions=reconstructions),
        tmp_path)
    assert all(report["quality"][k] is None for k in QUALITY_KEYS if k != "memorisation_ratio")
    assert "no class labels" in report["quality"]["note"] and report["quality"]["note"] in report["warnings"]
    assert report["memorisation"]["space"].startswith("pixels") and report["memorisation"]["flagged"]
    assert report["anomaly"] is None and report["feature_accuracy"] is None
    assert "anomaly_maps" in load_report_images(tmp_path)


def test_small_sets_and_a_weak_feature_network_are_warned_about_and_nan_is_null(tmp_path, real):
    train, _, test, test_labels = real
    report = build_synthesis_report(outputs(draw(4, 5)[0], None, train, test[:4], test_labels[:4],
                                            feature_accuracy=0.6), tmp_path)
    text = (tmp_path / REPORT_FILE).read_text()
    assert "NaN" not in text and report["quality"]["precision"] is None
    assert any(w.startswith("Only 4 real test images") for w in report["warnings"])
    assert any("60% test accuracy" in w for w in report["warnings"])


def _generative_run(store: RunStore) -> str:
    return store.create("default", {"task": "gan", "dataset": "fake-ds", "model": "dcgan", "epochs": 1},
                        monitor="val_fd", status="completed").id


def test_evaluate_prints_the_quality_figures_of_a_generative_run(capsys, real):
    train, _, test, test_labels = real
    store = RunStore()
    run_id = _generative_run(store)
    build_synthesis_report(outputs(draw(240, 2, labels=test_labels)[0], test_labels, train, test, test_labels),
                           store.run_dir(store.get(run_id)))
    assert main(["evaluate", run_id, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(QUALITY_KEYS) <= set(printed["quality"]) and printed["memorisation"]["pairs"]
    assert main(["evaluate", run_id]) == 0
    out = capsys.readouterr().out
    assert "FD on MedLab features" in out and "two-sample accuracy" in out and "FID" not in out
    assert "real: training images in place of samples" in out
    assert "memorisation" in out


def test_evaluate_errors_are_one_line_and_exit_2(capsys):
    store = RunStore()
    run_id = _generative_run(store)
    for argv in (["evaluate", run_id, "--json"], ["evaluate", run_id, "--ci", "wilson"],
                 ["evaluate", "run-nope", "--json"]):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("error: ")
