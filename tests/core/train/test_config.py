from __future__ import annotations

import pytest

from core.errors import UserError
from core.tasks import load_config, recipe
from core.tasks.classify import ClassifyConfig


def test_dataset_alone_gives_the_recommended_recipe():
    config = load_config({"dataset": "phantom-64"})
    assert isinstance(config, ClassifyConfig)
    assert config.as_dict() == recipe("classification", "phantom-64").as_dict()
    assert config.model == "small_cnn" and config.seed == 0


@pytest.mark.parametrize("data,field", [
    ({"dataset": "x", "lrr": 0.1}, "lrr"),
    ({"dataset": "x", "epochs": "ten"}, "epochs"),
    ({"dataset": "x", "epochs": 0}, "epochs"),
    ({"dataset": "x", "lr": -1}, "lr"),
    ({"dataset": "x", "optimizer": "lion"}, "optimizer"),
    ({"dataset": "x", "scheduler": "warm"}, "scheduler"),
    ({"dataset": "x", "model": "resnet9000"}, "model"),
    ({"dataset": "x", "device": "tpu"}, "device"),
    ({"dataset": "x", "amp": "fp8"}, "amp"),
    ({"dataset": "x", "pretrained": "yes"}, "pretrained"),
    ({"dataset": "x", "imbalance": "oversample"}, "imbalance"),
    ({"dataset": "x", "task": "segmentation"}, "task"),
    ({"dataset": "x", "freeze_backbone": True}, "freeze_backbone"),
    ({"dataset": "x", "batch_size": 2.5}, "batch_size"),
    ({}, "dataset"),
])
def test_bad_configs_name_the_field(data, field):
    with pytest.raises(UserError) as caught:
        load_config(data)
    assert f"'{field}'" in str(caught.value)


@pytest.mark.parametrize("data, message", [
    ({"dataset": "x", "workers": True}, "Config field 'workers' must be a whole number, not true."),
    ({"dataset": "x", "lr": "fast"}, "Config field 'lr' must be a number, not \"fast\"."),
    ({"dataset": "x", "seed": 1.5}, "Config field 'seed' must be a whole number, not 1.5."),
    ({"dataset": "x", "augment": "yes"}, "Config field 'augment' must be true or false, not \"yes\"."),
    ({"dataset": "x", "image_size": [64]}, "Config field 'image_size' must be a whole number or null, not [64]."),
])
def test_a_wrong_type_is_said_in_json_terms(data, message):
    with pytest.raises(UserError) as caught:
        load_config(data)
    assert str(caught.value) == message


def test_ints_are_accepted_for_floats_and_null_for_optionals():
    config = load_config({"dataset": "x", "lr": 1, "image_size": None, "monitor": None})
    assert config.lr == 1.0 and isinstance(config.lr, float)


@pytest.mark.parametrize("data, kind", [(["phantom-28"], "a list"), ("phantom-28", "a string"), (None, "null"),
                                        (3, "a number")])
def test_a_config_that_is_not_an_object_is_refused_as_such(data, kind):
    with pytest.raises(UserError) as caught:
        load_config(data)
    assert str(caught.value) == ('A training config must be a JSON object of fields ({"dataset": ...}), '
                                 f"not {kind}.")
