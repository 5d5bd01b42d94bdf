from __future__ import annotations

import typing

import pytest

from core.jobs.execute import REPORTERS
from core.tasks import TASK_CLASS_OF, TASK_CLASSES, TASK_NAMES, load_config


@pytest.mark.parametrize("task_class", TASK_CLASSES, ids=lambda cls: cls.__name__)
def test_every_task_kind_has_a_reporter(task_class):
    outputs = typing.get_type_hints(task_class.split_outputs)["return"]  # the type its reporter is keyed by
    assert outputs in REPORTERS


@pytest.mark.parametrize("kind", TASK_NAMES)
def test_every_task_name_loads_its_own_config(kind):
    config = load_config({"task": kind, "dataset": "phantom-64"})
    assert config.task == kind and isinstance(config, TASK_CLASS_OF[kind].config_class)


def test_a_restoration_run_stored_before_the_step_cap_resumes_uncapped():
    from core.jobs.execute import UNCAPPED_STEPS, run_config

    old = {"task": "denoise", "dataset": "real-tiles-128", "epochs": 3, "device": "cpu"}
    assert run_config(old).max_steps_per_epoch == UNCAPPED_STEPS
    assert run_config({**old, "max_steps_per_epoch": 7}).max_steps_per_epoch == 7
    assert run_config({"dataset": "phantom-64"}).task == "classification"
