"""The diffusion task through core.tasks.build_task: the per-device recipe, a step on tiny input (conditional or
not), the EMA weights it validates, samples and publishes, and a rebuild that samples the same images."""
from __future__ import annotations

import pytest
import torch

from core.errors import UserError
from core.tasks import build_task, load_config
from core.train.loop import LoopState, fit
from tests.core.tasks.test_vae import FakeFeatures
from tests.fixtures import tiny_dataset

CPU = torch.device("cpu")
FAST = {"batch_size": 8, "base_channels": 8, "epochs": 1, "max_steps_per_epoch": 2, "val_samples": 16,
        "sample_steps": 2}


@pytest.fixture(autouse=True)
def fake_feature_network(monkeypatch):
    monkeypatch.setattr("core.tasks.generative.feature_network", lambda workspace, dataset, device: FakeFeatures())


def built(dataset: str | None = None, **overrides):
    config = load_config({"task": "diffusion", "dataset": dataset or tiny_dataset(per_class=(12, 12, 12)),
                          **FAST, **overrides})
    task = build_task(config, "default")
    task.setup(CPU)
    return task


@pytest.mark.parametrize("gpu, kind", [(False, "cpu"), (True, "cuda")])
def test_recipe_follows_the_device_and_bad_keys_are_refused(monkeypatch, gpu, kind):
    from core.tasks.diffusion import DEVICE_RECIPES

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    config = load_config({"task": "diffusion", "dataset": "phantom-64"})
    for key, value in DEVICE_RECIPES[kind].items():
        assert getattr(config, key) == value, key
    assert (config.model, config.conditional, config.sample_steps) == ("ddpm_unet", True, 25)
    assert DEVICE_RECIPES["cpu"]["val_samples"] < DEVICE_RECIPES["cuda"]["val_samples"]
    assert load_config({"task": "diffusion", "dataset": "phantom-64", "epochs": 2}).epochs == 2
    for data, field in [({"sample_steps": 0}, "sample_steps"), ({"ema_decay": 1.0}, "ema_decay"),
                        ({"base_channels": 12}, "base_channels"), ({"image_size": 30}, "image_size"),
                        ({"model": "unet"}, "model")]:
        with pytest.raises(UserError, match=f"'{field}'"):
            load_config({"task": "diffusion", "dataset": "phantom-64", **data})


@pytest.mark.parametrize("conditional", [True, False])
def test_builds_and_steps_on_tiny_input(conditional):
    task = built(conditional=conditional)
    assert task.conditional == conditional and task.monitor == "val_fd"
    before = {k: v.clone() for k, v in task.model.state_dict().items()}
    batches = list(task.train_batches(0))
    assert len(batches) == 2 and batches[0][0].shape == (8, 1, 16, 16)
    metrics = task.train_step(batches[0])
    assert set(metrics) == {"loss", "lr"} and torch.isfinite(metrics["loss"])
    assert any(not torch.equal(before[k], v) for k, v in task.model.state_dict().items())
    val = task.evaluate("val")
    assert set(val) == {"val_loss", "val_fd"} and val["val_loss"] > 0
    assert val == task.evaluate("val")  # fixed noise and timesteps
    preview = task.preview()
    assert preview.shape[1:] == (1, 16, 16)
    assert len(preview) == (15 if conditional else 16)  # whole rows of the three classes
    assert task.preview_columns() == (3 if conditional else 4)
    assert task.rebuild_spec()["classes"] == (task.classes if conditional else [])


def test_one_class_training_is_unconditional():
    task = built(train_class="class1")
    assert not task.conditional and set(task.splits["train"].labels.tolist()) == {1}


def test_published_weights_are_the_ema_and_rebuild_the_same_sampler():
    from core.models.diffusion import DiffusionSampler

    task = built(max_steps_per_epoch=3, epochs=2)
    state = fit(task, LoopState(), [])
    assert len(state.history) == 2 and all("val_fd" in epoch for epoch in state.history)
    published = task.weights()
    live = task.model.state_dict()
    assert any(not torch.equal(published[k], live[k]) for k in published)  # the average, not the last step
    rebuilt = DiffusionSampler.from_weights(task.rebuild_spec(), published)
    assert torch.equal(rebuilt.generate(6, seed=3), task.sampler().generate(6, seed=3))
    task.load_weights(published)  # the best weights loaded for the report are what it samples with
    assert all(torch.equal(task.weights()[k], published[k]) for k in published)


def test_resume_mid_epoch_equals_never_stopping():
    from core.jobs.control import create_run
    from core.jobs.execute import task_and_state
    from core.jobs.store import RunStore
    from core.train.callbacks import Checkpointer
    from tests.core.tasks.test_vae import StopAt

    store = RunStore()
    config = {"task": "diffusion", "dataset": tiny_dataset(per_class=(12, 12)), **FAST, "epochs": 2,
              "max_steps_per_epoch": 3}

    def train(record, extra=()):
        task, state = task_and_state(store, record, load_config(store.config(record)), CPU)
        return task, fit(task, state, [Checkpointer(store.run_dir(record)), *extra])

    task_whole, state_whole = train(create_run(store, "default", config, status="running"))
    parts = create_run(store, "default", config, status="running")
    assert task_whole.steps_per_epoch >= 2
    _, stopped = train(parts, [StopAt(task_whole.steps_per_epoch + 1)])  # in the middle of the second epoch
    assert stopped.epoch == 1 and stopped.step == 1
    task_parts, state_parts = train(parts)
    assert [e["val_loss"] for e in state_parts.history] == pytest.approx([e["val_loss"] for e in state_whole.history],
                                                                          abs=1e-6)
    for name, tensor in task_whole.weights().items():
        assert torch.allclose(tensor, task_parts.weights()[name], atol=1e-6), name
