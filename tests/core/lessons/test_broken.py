"""Lesson 4's broken datasets: the promised imbalance, the promised leak (patients on both sides of the split) next to
an honest patient split of the same images, deterministic, and stored once per workspace."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.catalog import list_datasets, open_dataset
from core.lessons.broken import (HONEST_NAME, IMBALANCED_NAME, LEAKY_NAME, RARE_CLASS, build, imbalanced_data,
                                 leak_data, patients_on_both_sides, store_lesson_dataset, stored_split)

SMALL_LEAK = {"patients": 12, "exposures": 2}


@pytest.fixture(scope="module")
def imbalanced():
    return imbalanced_data(count=800, share=0.05)


def test_the_rare_class_is_five_percent_of_every_split_and_the_others_are_untouched(imbalanced):
    rare = imbalanced.classes.index(RARE_CLASS)
    for split in ("train", "val", "test"):
        labels = imbalanced.labels[imbalanced.splits == split]
        common = int((labels != rare).sum())
        assert (labels == rare).sum() == pytest.approx(0.05 * common / 0.95, abs=2)  # whole patients of 2 images
        assert (labels == rare).sum() >= 1
        counts = np.bincount(labels[labels != rare], minlength=4)
        assert counts.max() - counts[counts > 0].min() <= 0.2 * counts.max()  # the common classes stay balanced
    assert not patients_on_both_sides(imbalanced.patients, imbalanced.splits)


def test_the_leaky_split_puts_patients_on_both_sides_and_the_honest_one_does_not():
    leaky, honest = leak_data(True, **SMALL_LEAK), leak_data(False, **SMALL_LEAK)
    test_patients = set(leaky.patients[leaky.splits == "test"])
    assert test_patients and patients_on_both_sides(leaky.patients, leaky.splits) == test_patients
    assert not patients_on_both_sides(honest.patients, honest.splits)
    assert set(np.unique(honest.splits)) == {"train", "val", "test"}
    # the same images, labels and patients: only the split differs
    assert np.array_equal(leaky.images, honest.images) and np.array_equal(leaky.labels, honest.labels)
    assert np.array_equal(leaky.patients, honest.patients)
    assert len(leaky.images) == 12 * 2 * 2
    for patient in np.unique(leaky.patients):  # a label belongs to the patient, not to anything in the image
        assert len(set(leaky.labels[leaky.patients == patient])) == 1
    assert np.bincount(leaky.labels).tolist() == [24, 24]


def test_the_leak_images_are_lesion_free_re_exposures_of_one_anatomy():
    data = leak_data(True, patients=2, exposures=3)
    first = data.images[data.patients == data.patients[0]].astype(float)
    assert len(first) == 6
    assert not np.array_equal(first[0], first[2])  # a new exposure and noise
    correlation = np.corrcoef(first[0].ravel(), first[2].ravel())[0, 1]
    assert correlation > 0.9  # the same anatomy


@pytest.mark.parametrize("kind", ["imbalanced", "leaky", "honest"])
def test_the_datasets_are_deterministic(kind):
    kwargs = {"count": 400} if kind == "imbalanced" else SMALL_LEAK
    first, second = build(kind, **kwargs), build(kind, **kwargs)
    for name in ("images", "labels", "patients", "splits"):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name


def test_unknown_kind_and_bad_share_are_refused():
    with pytest.raises(ValueError, match="unknown lesson dataset kind"):
        build("noisy")
    with pytest.raises(ValueError, match="share"):
        imbalanced_data(count=400, share=0.6)


def test_the_datasets_are_stored_once_in_the_workspace_with_patients_kept():
    made = {kind: store_lesson_dataset("ward", kind, **({"count": 400} if kind == "imbalanced" else SMALL_LEAK))
            for kind in ("imbalanced", "leaky", "honest")}
    again = store_lesson_dataset("ward", "leaky", **SMALL_LEAK)
    assert again.id == made["leaky"].id
    names = sorted(info.name for info in list_datasets("ward") if not info.builtin)
    assert names == sorted([IMBALANCED_NAME, LEAKY_NAME, HONEST_NAME])
    leaky = open_dataset("ward", made["leaky"].id)
    patients, splits = stored_split(leaky)
    assert patients_on_both_sides(patients, splits)
    assert leaky.info.preprocessing["split_by"] == "image" and leaky.images.shape[1:] == (64, 64, 1)
    honest = open_dataset("ward", made["honest"].id)
    assert not patients_on_both_sides(*stored_split(honest))
    assert not list_datasets("elsewhere") or all(info.builtin for info in list_datasets("elsewhere"))
