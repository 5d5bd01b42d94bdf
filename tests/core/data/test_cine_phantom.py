"""The cine phantom: deterministic, grouped by patient, and its classes live in the motion only (every single
frame is drawn from the same distribution in every class, while the temporal statistics differ)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from core.data.cine_phantom import (CINE_CLASSES, CLIPS_PER_PATIENT, contraction_profile, contraction_states,
                                    generate_cine_phantom)
from core.errors import UserError

PAIRS = [(0, 1), (0, 2), (1, 2)]


@pytest.fixture(scope="module")
def phantom():
    return generate_cine_phantom(seed=0)


def one_frame_per_patient(phantom, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(clip index, frame index) of one random frame of one clip per patient: independent samples (a patient's
    clips share its anatomy, and a clip's frames its exposure)."""
    _, first = np.unique(phantom.patients, return_index=True)
    frame = np.random.default_rng(seed).integers(0, phantom.clips.shape[1], len(first))
    return first, frame


def test_same_arguments_same_bytes_and_shapes():
    a, b = generate_cine_phantom(size=16, frames=6, count=30, seed=3), generate_cine_phantom(16, 6, 30, 3)
    assert a.clips.shape == (30, 6, 16, 16) and a.clips.dtype == np.uint8
    assert np.array_equal(a.clips, b.clips) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.clips, generate_cine_phantom(16, 6, 30, 4).clips)
    assert a.contraction.shape == a.cavity_area.shape == (30, 6)


def test_classes_are_balanced_and_each_patient_has_one_class_and_two_clips(phantom):
    assert phantom.classes == CINE_CLASSES
    counts = np.bincount(phantom.labels)
    assert counts.max() - counts.min() <= 1 and counts.sum() == len(phantom.clips)
    for patient in np.unique(phantom.patients):
        labels = phantom.labels[phantom.patients == patient]
        assert len(labels) <= CLIPS_PER_PATIENT and len(set(labels)) == 1


@pytest.mark.parametrize("args,match", [((12, 16, 30, 0), "16 to 256 pixels"), ((32, 2, 30, 0), "4 to 64 frames"),
                                        ((32, 16, 2, 0), "at least 3 clips"), ((32, 16, 30, -1), "seed")])
def test_bad_arguments_are_one_sentence(args, match):
    with pytest.raises(UserError, match=match):
        generate_cine_phantom(*args)


def test_the_phase_of_every_frame_is_uniform_in_every_class():
    """The heart of the design: a window starting at a uniformly random time of a beat train sees, at every frame,
    a contraction state whose distribution does not depend on the rhythm (checked on 30 000 clips)."""
    rng = np.random.default_rng(0)
    labels = np.arange(30_000) % 3
    states = contraction_states(rng, labels, rng.random(len(labels)), 16)
    uniform_phase = contraction_profile(np.random.default_rng(1).random(20_000))
    for frame in (0, 7, 15):
        for k in range(3):
            assert ks_2samp(states[labels == k, frame], uniform_phase).pvalue > 0.001, (frame, k)


def test_single_frame_statistics_are_the_same_across_classes(phantom):
    clip, frame = one_frame_per_patient(phantom)
    labels = phantom.labels[clip]
    frames = phantom.clips[clip, frame].astype(np.float32)
    statistics = {
        "mean intensity": frames.mean(axis=(1, 2)),
        "intensity spread": frames.std(axis=(1, 2)),
        "bright pixels": (frames > 170).mean(axis=(1, 2)),
        "blood-pool area": phantom.cavity_area[clip, frame],
        "contraction state": phantom.contraction[clip, frame],
    }
    for name, values in statistics.items():
        for a, b in PAIRS:
            assert ks_2samp(values[labels == a], values[labels == b]).pvalue > 0.01, (name, a, b)


def test_a_classifier_of_single_frame_histograms_stays_at_chance(phantom):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score

    clip, frame = one_frame_per_patient(phantom)
    frames = phantom.clips[clip, frame]
    features = np.stack([np.histogram(f, bins=16, range=(0, 256))[0] / f.size for f in frames])
    scores = cross_val_score(LogisticRegression(max_iter=2000), features, phantom.labels[clip], cv=GroupKFold(5),
                             groups=phantom.patients[clip])
    assert abs(scores.mean() - 1 / 3) < 0.1


def test_the_classes_differ_in_their_motion(phantom):
    """Bradycardia moves slowest frame to frame; an irregular rhythm repeats itself worse than a regular one."""
    n, frames, size = phantom.clips.shape[:3]
    blocks = phantom.clips.astype(np.float32).reshape(n, frames, size // 4, 4, size // 4, 4).mean(axis=(3, 5))
    motion = np.abs(np.diff(blocks, axis=1)).mean(axis=(1, 2, 3))  # from the pixels, 4x4 blocks against noise
    labels = phantom.labels
    normal, slow = motion[labels == 0], motion[labels == 1]
    assert np.median(slow) < 0.8 * np.median(normal) and ks_2samp(slow, normal).pvalue < 1e-10
    states = phantom.contraction
    best_repeat = np.array([max(np.corrcoef(s[:-lag], s[lag:])[0, 1] for lag in range(6, 11)) for s in states])
    regular, irregular = best_repeat[labels == 0], best_repeat[labels == 2]
    assert np.median(regular) > 0.95 and np.median(irregular) < np.median(regular) - 0.15
    assert ks_2samp(regular, irregular).pvalue < 1e-10
