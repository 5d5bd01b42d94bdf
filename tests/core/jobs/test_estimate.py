"""A recipe's duration measured before it is queued: built and stepped on a tiny dataset, nothing written."""
from __future__ import annotations

import pytest

from core.errors import UserError
from core.jobs.estimate import estimate_duration
from core.jobs.store import RunStore
from tests.fixtures import tiny_dataset


def test_a_tiny_recipe_is_measured_and_multiplied_out():
    dataset = tiny_dataset(per_class=(16, 16))
    config = {"task": "classification", "dataset": dataset, "model": "small_cnn", "epochs": 4, "batch_size": 4,
              "image_size": 16, "device": "cpu"}
    estimate = estimate_duration(config, "default", steps=2)
    assert estimate.device == "cpu" and estimate.epochs == 4 and estimate.steps_per_epoch >= 3
    assert estimate.step_s > 0 and estimate.validation_s > 0
    assert estimate.seconds == pytest.approx(estimate.setup_s + 4 * estimate.epoch_s + estimate.validation_s)
    assert RunStore().list() == []  # measuring queues nothing


def test_a_config_that_cannot_train_says_why():
    with pytest.raises(UserError, match="dataset"):
        estimate_duration({"task": "classification", "dataset": "no-such-dataset", "device": "cpu"}, "default")
