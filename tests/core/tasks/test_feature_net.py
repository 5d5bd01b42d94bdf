"""The dataset's feature network: trained once on the shared loop, cached per workspace and dataset (also when
two builders start together), reloaded with the same features, and refused for unlabelled data."""
from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import core.tasks.feature_net as feature_net
from core.data.catalog import open_dataset
from core.errors import UserError
from core.tasks.feature_net import cache_paths, feature_network
from core.tasks.tensors import SplitTensors
from tests.fixtures import tiny_dataset

CPU = torch.device("cpu")


@pytest.fixture
def dataset():
    return open_dataset("default", tiny_dataset(per_class=(40, 40), size=16))


@pytest.fixture
def fits(monkeypatch):
    """Counts the training loops the feature network runs."""
    calls = []
    original = feature_net.fit

    def counted(task, state, callbacks):
        calls.append(callbacks)
        return original(task, state, callbacks)

    monkeypatch.setattr(feature_net, "fit", counted)
    return calls


def test_trained_once_then_loaded_from_the_cache_with_the_same_features(dataset, fits):
    net = feature_network("default", dataset, CPU)
    assert fits == [[]]  # the shared loop, with no run-store callbacks
    weights, facts = cache_paths("default", dataset.info.id)
    assert weights.exists() and json.loads(facts.read_text())["recipe"]["model"] == "small_cnn"
    assert 0.9 <= net.test_accuracy <= 1.0  # the corner squares are easy
    images = torch.rand(5, 1, 40, 40, generator=torch.Generator().manual_seed(0))  # any size: resized
    features = net.features(images)
    assert features.shape == (5, 128) and features.dtype == np.float32

    again = feature_network("default", dataset, CPU)
    assert len(fits) == 1  # no second training
    assert again.test_accuracy == pytest.approx(net.test_accuracy)
    np.testing.assert_allclose(again.features(images), features, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(again.features(images.numpy()), features, rtol=1e-5, atol=1e-5)

    split = SplitTensors(dataset, dataset.indices("test"), CPU)
    assert again.features_of_split(split).shape == (len(split), 128)


def test_features_tell_the_classes_apart(dataset, fits):
    net = feature_network("default", dataset, CPU)
    split = SplitTensors(dataset, dataset.indices("train"), CPU)
    features, labels = net.features_of_split(split), split.labels.numpy()
    centres = [features[labels == k].mean(0) for k in (0, 1)]
    within = np.mean([np.linalg.norm(features[labels == k] - centres[k], axis=1).mean() for k in (0, 1)])
    assert np.linalg.norm(centres[0] - centres[1]) > within


def test_two_builders_at_once_train_it_once(dataset, fits):
    results = []
    threads = [threading.Thread(target=lambda: results.append(feature_network("default", dataset, CPU)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and len(fits) == 1


def test_a_changed_recipe_is_retrained_and_the_callers_random_stream_is_untouched(dataset, fits, monkeypatch):
    torch.manual_seed(5)
    feature_network("default", dataset, CPU)
    after_training = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(3), after_training)
    monkeypatch.setattr(feature_net, "RECIPE_VERSION", feature_net.RECIPE_VERSION + 1)
    feature_network("default", dataset, CPU)
    assert len(fits) == 2
    feature_network("other", dataset, CPU)  # another workspace keeps its own
    assert len(fits) == 3


def test_unlabelled_datasets_are_refused():
    info = SimpleNamespace(id="tiles", task="unlabelled", classes=[])
    with pytest.raises(UserError, match="no class labels"):
        feature_network("default", SimpleNamespace(info=info), CPU)


def test_fd_on_its_features_is_near_zero_for_a_split_against_itself_and_large_across_classes(dataset, fits):
    from core.synthesis.quality import frechet_distance

    net = feature_network("default", dataset, CPU)
    train = SplitTensors(dataset, dataset.indices("train"), CPU)
    features, labels = net.features_of_split(train), train.labels.numpy()
    assert frechet_distance(features, features.copy()) < 1e-6
    first, second = features[labels == 0], features[labels == 1]
    half = len(first) // 2
    same_class = frechet_distance(first[:half], first[half:])
    assert frechet_distance(first, second) > 3 * same_class
