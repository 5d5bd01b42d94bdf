"""The classification task in the generic loop: convergence, exact resume, imbalance remedies."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.jobs.control import create_run
from core.jobs.execute import task_and_state
from core.jobs.store import RunStore
from core.tasks import build_task, load_config
from core.train.callbacks import Checkpointer
from core.train.loop import Callback, fit
from tests.fixtures import tiny_dataset

CPU = torch.device("cpu")
FAST = {"model": "small_cnn", "batch_size": 8, "lr": 0.01, "epochs": 4}


class StopAt(Callback):
    def __init__(self, global_step: int) -> None:
        self.global_step = global_step

    def on_step_end(self, task, state, metrics) -> None:
        if state.global_step == self.global_step:
            state.stop_reason = "stopped"


def train(store: RunStore, record, extra: list[Callback] = ()):
    config = load_config(store.config(record))
    task, state = task_and_state(store, record, config, CPU)
    state = fit(task, state, [Checkpointer(store.run_dir(record)), *extra])
    return task, state


def test_converges_on_a_tiny_dataset():
    dataset = tiny_dataset(per_class=(30, 30, 30))
    task = build_task(load_config({"dataset": dataset, **FAST, "epochs": 8}), "default")
    task.setup(CPU)
    state = fit(task, __import__("core.train.loop", fromlist=["LoopState"]).LoopState(), [])
    losses = [epoch["val_loss"] for epoch in state.history]
    assert losses[-1] < losses[0] * 0.5
    assert state.history[-1]["val_accuracy"] >= 0.9
    assert task.final_report()["test_accuracy"] >= 0.8


def test_resume_mid_epoch_equals_never_stopping():
    dataset = tiny_dataset(per_class=(20, 20))
    store = RunStore()
    config = {"dataset": dataset, **FAST, "epochs": 3}
    whole = create_run(store, "default", config, status="running")
    task_whole, state_whole = train(store, whole)

    parts = create_run(store, "default", config, status="running")
    steps = task_whole.steps_per_epoch
    _, stopped = train(store, parts, [StopAt(steps + 2)])  # in the middle of the second epoch
    assert stopped.stop_reason == "stopped" and stopped.epoch == 1 and stopped.step == 2
    task_parts, state_parts = train(store, parts)  # a fresh task, restored from the checkpoint

    assert [e["val_loss"] for e in state_parts.history] == pytest.approx([e["val_loss"] for e in state_whole.history], abs=1e-6)
    for name, tensor in task_whole.weights().items():
        assert torch.allclose(tensor.float(), task_parts.weights()[name].float(), atol=1e-6), name


def test_continuing_a_finished_run_extends_the_schedule():
    dataset = tiny_dataset(per_class=(20, 20))
    store = RunStore()
    record = create_run(store, "default", {"dataset": dataset, **FAST, "epochs": 2}, status="running")
    train(store, record)
    config = store.config(record)
    config["epochs"] = 4
    (store.run_dir(record) / "config.json").write_text(__import__("json").dumps(config))
    task, state = train(store, record)
    assert state.epoch == 4 and len(state.history) == 4


def test_class_weights_follow_the_counts_and_sampler_balances_batches():
    dataset = tiny_dataset(per_class=(60, 20))
    weighted = build_task(load_config({"dataset": dataset, **FAST, "imbalance": "class_weights"}), "default")
    weighted.setup(CPU)
    counts = torch.bincount(weighted.splits["train"].labels).float()
    expected = counts.sum() / (2 * counts)
    assert torch.allclose(weighted.class_weights, expected)
    assert weighted.class_weights[1] > 2.5 * weighted.class_weights[0]  # the rare class weighs more

    plain = build_task(load_config({"dataset": dataset, **FAST}), "default")
    plain.setup(CPU)
    assert plain.class_weights is None
    logits, labels = torch.randn(16, 2), torch.randint(0, 2, (16,))
    assert weighted._loss(logits, labels, training=True) != pytest.approx(plain._loss(logits, labels, training=True).item())

    sampled = build_task(load_config({"dataset": dataset, **FAST, "imbalance": "sampler"}), "default")
    sampled.setup(CPU)
    drawn = torch.cat([labels for _, labels in sampled.train_batches(0)])
    share = drawn.float().mean().item()
    assert 0.35 < share < 0.65  # about half the draws are the rare class (it is 25% of the data)


def test_same_seed_same_numbers_other_seed_differs():
    dataset = tiny_dataset(per_class=(20, 20))

    def history(seed: int) -> list[float]:
        task = build_task(load_config({"dataset": dataset, **FAST, "epochs": 2, "seed": seed}), "default")
        task.setup(CPU)
        from core.train.loop import LoopState

        return [e["val_loss"] for e in fit(task, LoopState(), []).history]

    assert history(1) == history(1) and history(1) != history(2)


def test_untrainable_datasets_are_one_sentence(tmp_path):
    from core.data.importer import import_uploads
    from core.data.preprocess import Preprocessing
    from tests.fixtures import blob_png

    loose = import_uploads("default", [(f"{i}.png", blob_png(seed=i)) for i in range(6)], "loose", Preprocessing(size=16))
    with pytest.raises(UserError, match="has no labels"):
        build_task(load_config({"dataset": loose.dataset_id}), "default")
    with pytest.raises(UserError, match="no dataset 'nope'"):
        build_task(load_config({"dataset": "nope"}), "default")


def test_a_model_too_big_for_the_image_size_is_refused_at_submit():
    dataset = tiny_dataset(size=16)
    with pytest.raises(UserError, match="densenet121"):
        build_task(load_config({"dataset": dataset, "model": "densenet121"}), "default")


def _info(task: str = "classification", classes: tuple[str, ...] = ("a", "b"), train: int = 10, val: int = 5,
          size: int = 64):
    from core.data.store import DatasetInfo

    return DatasetInfo(id="d", name="d", task=task, classes=list(classes), size=size, channels=1,
                       num_images=train + val, split_counts={"train": train, "val": val, "test": 0},
                       class_counts={}, source="upload")


# (config fields, dataset description, the monitor, or the start of the sentence refusing it)
TEST_CASES_CHECK = [
    ({}, _info(), "val_accuracy"),
    ({"monitor": "val_loss"}, _info(), "val_loss"),
    ({"task": "multilabel"}, _info("multilabel"), "val_auc"),
    ({}, _info("multilabel"), "val_auc"),                                  # the dataset decides multi-label
    ({}, _info("unlabelled"), "Dataset 'd' has no labels"),
    ({}, _info(classes=("a",)), "Dataset 'd' has only one class"),
    ({"task": "multilabel"}, _info(), "Dataset 'd' has one label per image"),
    ({"imbalance": "sampler"}, _info("multilabel"), "Config field 'imbalance'"),
    ({}, _info(val=0), "Dataset 'd' needs images in both its train and val splits"),
    ({"monitor": "val_auc"}, _info(), "Config field 'monitor' must be one of val_loss, val_accuracy"),
    ({"monitor": "val_accuracy"}, _info("multilabel"), "Config field 'monitor' must be one of val_loss, val_auc"),
]


@pytest.mark.parametrize("fields,info,expected", TEST_CASES_CHECK)
def test_a_config_is_checked_against_its_dataset_without_loading_it(fields, info, expected):
    from core.tasks.classify import ClassifyConfig, ClassifyTask

    config = ClassifyConfig(**{"dataset": "d", "model": "small_cnn", **fields})
    if expected.startswith("val_"):
        assert ClassifyTask.check(config, info) == expected
    else:
        with pytest.raises(UserError, match="^" + expected):
            ClassifyTask.check(config, info)
