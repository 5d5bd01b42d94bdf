from __future__ import annotations

import numpy as np
import pytest

from core.data.splits import SPLITS, assign_splits, stratum_of


def _grouped(n_patients: int = 200, per_patient: int = 2, classes: int = 3):
    labels = np.repeat(np.arange(n_patients) % classes, per_patient)
    groups = np.repeat([f"P{i}" for i in range(n_patients)], per_patient)
    return labels, groups


def test_same_seed_same_split_and_other_seed_differs():
    labels, groups = _grouped()
    first = assign_splits(labels, groups, seed=3)
    assert (first == assign_splits(labels, groups, seed=3)).all()
    assert (first != assign_splits(labels, groups, seed=4)).any()


def test_no_patient_in_two_splits():
    labels, groups = _grouped(per_patient=3)
    splits = assign_splits(labels, groups, seed=0)
    for patient in np.unique(groups):
        assert len(set(splits[groups == patient])) == 1


def test_fractions_and_stratification():
    labels, groups = _grouped(n_patients=600, per_patient=1)
    splits = assign_splits(labels, groups, seed=0)
    shares = {s: (splits == s).mean() for s in ("train", "val", "test")}
    assert shares["train"] == pytest.approx(0.70, abs=0.03)
    assert shares["val"] == pytest.approx(0.15, abs=0.03)
    assert shares["test"] == pytest.approx(0.15, abs=0.03)
    for split in ("train", "val", "test"):
        per_class = np.bincount(labels[splits == split], minlength=3) / (splits == split).sum()
        assert np.allclose(per_class, 1 / 3, atol=0.04)


def test_rare_class_falls_back_without_error():
    labels = np.array([0] * 50 + [1] * 2)
    groups = np.array([f"G{i}" for i in range(52)])
    splits = assign_splits(labels, groups, seed=0)
    assert set(splits) == {"train", "val", "test"}


def test_tiny_dataset_trains_on_everything():
    splits = assign_splits(np.array([0, 1]), np.array(["a", "b"]))
    assert list(splits) == ["train", "train"]


def test_multilabel_stratum_is_rarest_positive():
    labels = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [0, 0, 0]])
    # label 0 is most common, label 2 rarest
    assert list(stratum_of(labels)) == [0, 1, 2, -1]


@pytest.mark.parametrize("seed", range(12))
def test_no_patient_in_two_splits_with_uneven_patients_and_labels(seed):
    """Patients with 1-7 images of mixed classes (or multi-hot labels): each patient is in exactly one split,
    every split holds someone, and the same seed gives the same split."""
    rng = np.random.default_rng(seed)
    per_patient = rng.integers(1, 8, int(rng.integers(12, 40)))
    groups = np.repeat([f"P{i}" for i in range(len(per_patient))], per_patient)
    if seed % 2:
        strata = stratum_of((rng.random((len(groups), 4)) < 0.3).astype(np.uint8))
    else:
        strata = rng.integers(0, 3, len(groups))
    splits = assign_splits(strata, groups, seed=seed)
    assert all(len(set(splits[groups == patient])) == 1 for patient in np.unique(groups))
    assert set(splits) == {"train", "val", "test"}
    assert (splits == assign_splits(strata, groups, seed=seed)).all()


def test_a_class_of_few_patients_still_reaches_the_held_out_splits():
    """5 of 60 patients have the rare class (fewer than the 7 folds a 15 % share uses): the split stays stratified
    instead of falling back to a plain grouped shuffle, which missed it in test for about half the seeds."""
    per_patient = np.resize([1, 2, 3], 60)
    groups = np.repeat([f"P{i}" for i in range(60)], per_patient)
    strata = np.repeat((np.arange(60) < 5).astype(int), per_patient)
    in_test = in_val = 0
    for seed in range(40):
        splits = assign_splits(strata, groups, seed=seed)
        in_test += bool((strata[splits == "test"] == 1).any())
        in_val += bool((strata[splits == "val"] == 1).any())
    assert in_test >= 32 and in_val >= 32  # 35 and 35 with scikit-learn 1.9; the grouped shuffle gave 20 and 23


@pytest.mark.parametrize("per_class", [5, 6, 8])
def test_a_dozen_items_give_every_split_both_classes(per_class):
    """A new user's import of six clips per class once left the validation split with one class only: with few
    items per class, each held-out split still gets every class that has items to spare."""
    labels = np.array([0] * per_class + [1] * per_class)
    groups = np.array([f"clip:{i}" for i in range(len(labels))])
    for seed in range(5):
        splits = assign_splits(labels, groups, seed=seed)
        for split in SPLITS:
            assert set(labels[splits == split]) == {0, 1}, (seed, split)
