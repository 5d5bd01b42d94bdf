"""The built-in phantom: deterministic, balanced, grouped by patient, small lesions, and no histogram shortcut."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.data.phantom import (
    PHANTOM_CLASSES,
    PHANTOM_SIZES,
    PhantomData,
    describe_phantom,
    generate_phantom,
    phantom_lesion_masks,
)
from core.errors import UserError


def test_same_seed_same_bytes_other_seed_other_images() -> None:
    a, b = generate_phantom(64, 48, seed=3), generate_phantom(64, 48, seed=3)
    assert a.images.tobytes() == b.images.tobytes()
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.patients, b.patients)
    c = generate_phantom(64, 48, seed=4)
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("size", PHANTOM_SIZES)
def test_shapes_and_dtypes(size: int) -> None:
    data = generate_phantom(size, 24, seed=0)
    assert isinstance(data, PhantomData)
    assert data.images.shape == (24, size, size) and data.images.dtype == np.uint8
    assert data.labels.shape == (24,) and data.labels.dtype == np.int64
    assert data.patients.shape == (24,) and data.patients.dtype.kind == "U"
    assert data.classes == PHANTOM_CLASSES and 3 <= len(PHANTOM_CLASSES) <= 4
    assert data.images.std() > 20  # an image, not a flat field
    assert set(data.labels.tolist()) == set(range(len(PHANTOM_CLASSES)))


def test_same_seed_gives_the_same_patients_at_every_size() -> None:
    small, large = generate_phantom(28, 40, seed=1), generate_phantom(128, 40, seed=1)
    assert np.array_equal(small.labels, large.labels) and np.array_equal(small.patients, large.patients)


@pytest.mark.parametrize("count", [4, 40, 83])
def test_classes_are_balanced(count: int) -> None:
    counts = np.bincount(generate_phantom(28, count, seed=0).labels, minlength=len(PHANTOM_CLASSES))
    assert counts.sum() == count and counts.max() - counts.min() <= 1


def test_each_patient_has_two_images_of_one_class() -> None:
    data = generate_phantom(28, 80, seed=0)
    per_patient = Counter(data.patients.tolist())
    assert len(per_patient) == 40 and set(per_patient.values()) == {2}
    assert all(re.fullmatch(r"P\d{4}", p) for p in per_patient)
    for patient in per_patient:
        assert len(set(data.labels[data.patients == patient].tolist())) == 1
    # same anatomy, different lesion and exposure: the two images of a patient differ
    first = data.images[data.patients == "P0001"]
    assert not np.array_equal(first[0], first[1])


def test_odd_class_counts_leave_one_single_image_patient() -> None:
    data = generate_phantom(28, 6, seed=0)  # counts per class 2, 2, 1, 1
    assert sorted(Counter(data.patients.tolist()).values()) == [1, 1, 2, 2]


@pytest.mark.parametrize("size", PHANTOM_SIZES)
def test_lesions_are_small_equal_in_area_and_visible(size: int) -> None:
    data, masks = generate_phantom(size, 400, seed=2), phantom_lesion_masks(size, 400, seed=2)
    area = masks.reshape(len(masks), -1).mean(1)
    assert (area[data.labels == 0] == 0).all()
    lesion_area = {c: area[data.labels == c] for c in range(1, len(PHANTOM_CLASSES))}
    for c, a in lesion_area.items():
        assert (a > 0).all() and (a < 0.03).all(), PHANTOM_CLASSES[c]
    means = [a.mean() for a in lesion_area.values()]
    assert max(means) / min(means) < 1.1  # the lesion classes carry the same amount of tissue
    # every lesion is brighter than the tissue right around it
    for image, mask in zip(data.images[data.labels > 0], masks[data.labels > 0]):
        around = ndimage.binary_dilation(mask, iterations=2) & ~mask
        assert image[mask].mean() > image[around].mean() + 5


def test_a_histogram_classifier_stays_far_below_70_percent() -> None:
    data = generate_phantom(64, 800, seed=5)
    flat = data.images.reshape(len(data.images), -1).astype(np.int64) // 8  # 32 bins
    hist = np.stack([np.bincount(row, minlength=32) for row in flat]) / flat.shape[1]
    train, test = train_test_split(np.arange(800), test_size=0.3, stratify=data.labels, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(hist[train], data.labels[train])
    accuracy = (model.predict(hist[test]) == data.labels[test]).mean()
    assert accuracy <= 0.70
    assert accuracy < 0.5  # in fact close to chance (0.25)


@pytest.mark.parametrize("size, count, seed",
                         [(32, 40, 0), (0, 40, 0), (64, 3, 0), (64, 0, 0), (64, -5, 0), (64, 40, -1)])
def test_bad_size_count_or_seed_is_a_user_error(size: int, count: int, seed: int) -> None:
    with pytest.raises(UserError) as err:
        generate_phantom(size, count, seed)
    assert "\n" not in str(err.value) and str(err.value).endswith(".")


def test_description_names_every_class() -> None:
    text = describe_phantom()
    assert all(name in text for name in PHANTOM_CLASSES) and "histogram" in text
