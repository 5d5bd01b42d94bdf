"""The GAN task on the shared loop: config recipe and refusals, a step trains both networks, exact resume,
a short run lowers the validation FD, and the published EMA generator rebuilds into the same sampler.

The dataset's feature network is replaced by a fixed random projection of pooled pixels (FakeFeatureNet): it
gives a Fréchet distance that falls as samples come to look like the data, which is all these tests need."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.errors import UserError
from core.jobs.control import create_run
from core.jobs.execute import task_and_state
from core.jobs.store import RunStore
from core.models.gan import GanSampler
from core.tasks import build_task, check_task, load_config
from core.tasks.feature_net import FeatureNet
from core.tasks.gan import GanConfig
from core.train.callbacks import Checkpointer
from core.train.loop import Callback, LoopState, fit
from tests.fixtures import tiny_dataset

CPU = torch.device("cpu")
TINY = {"task": "gan", "latent_dim": 16, "width": 8, "batch_size": 8, "val_samples": 32, "device": "cpu",
        "max_steps_per_epoch": 4}


class FakeFeatureNet(FeatureNet):
    """Features: a fixed random projection of 8 x 8 average-pooled pixels."""

    test_accuracy = 0.9

    def __init__(self, channels: int) -> None:
        self.projection = torch.randn(channels * 64, 12, generator=torch.Generator().manual_seed(0))

    def features(self, images: torch.Tensor) -> np.ndarray:
        return (F.adaptive_avg_pool2d(images.float().cpu(), 8).flatten(1) @ self.projection).double().numpy()

    def features_of_split(self, split) -> np.ndarray:
        return np.concatenate([self.features(images) for images, _ in split.batches(64)])


@pytest.fixture(autouse=True)
def fake_features(monkeypatch):
    monkeypatch.setattr("core.tasks.generative.feature_network",
                        lambda workspace, dataset, device: FakeFeatureNet(dataset.info.channels))


@pytest.fixture
def dataset() -> str:
    return tiny_dataset(per_class=(24, 24), size=32)


def gan(dataset: str, **keys):
    task = build_task(load_config({"dataset": dataset, **TINY, **keys}), "default")
    task.setup(CPU)
    return task


def test_recipe_defaults_and_refusals(dataset):
    config = load_config({"dataset": dataset, "task": "gan", "device": "cpu"})
    assert isinstance(config, GanConfig)
    assert config.conditional and config.spectral_norm and config.loss == "hinge" and config.optimizer == "adam"
    assert config.lr_d > config.generator_lr and config.ema_decay > 0 and config.epochs and config.max_steps_per_epoch
    assert check_task(config, "default") == "val_fd"
    assert not load_config({"dataset": dataset, "task": "gan", "train_class": "class1"}).conditional
    for keys, field in [({"image_size": 100}, "image_size"), ({"diffaugment": "color,flip"}, "diffaugment"),
                        ({"loss": "wasserstein"}, "loss"), ({"model": "stylegan"}, "model"),
                        ({"beta1": 1.0}, "beta1"), ({"ema_decay": 1.0}, "ema_decay"), ({"lr_d": 0}, "lr_d"),
                        ({"aux_weight": -1}, "aux_weight")]:
        with pytest.raises(UserError, match=field):
            load_config({"dataset": dataset, "task": "gan", **keys})
    with pytest.raises(UserError, match="monitor"):
        check_task(load_config({"dataset": dataset, "task": "gan", "monitor": "val_loss"}), "default")
    odd = tiny_dataset(per_class=(12, 12), size=36, name="odd")
    with pytest.raises(UserError, match="36-pixel.*28, 32.*image_size"):
        check_task(load_config({"dataset": odd, "task": "gan"}), "default")
    assert check_task(load_config({"dataset": odd, "task": "gan", "image_size": 32}), "default") == "val_fd"


def test_a_step_trains_both_networks_and_reports_the_binding_metrics(dataset):
    task = gan(dataset, diffaugment="color,translation,cutout")
    before = {name: {k: v.clone() for k, v in net.state_dict().items()}
              for name, net in (("g", task.generator), ("d", task.discriminator), ("ema", task.ema))}
    metrics = task.train_step(next(iter(task.train_batches(0))))
    assert set(metrics) == {"loss", "lr", "d_loss", "d_real", "d_fake"}
    assert 0 < float(metrics["d_real"]) < 1 and 0 < float(metrics["d_fake"]) < 1
    for name, net in (("g", task.generator), ("d", task.discriminator), ("ema", task.ema)):
        assert any(not torch.equal(before[name][k], v) for k, v in net.state_dict().items()), name
    assert all(p.grad is None or not p.grad.any() for p in task.discriminator.parameters())  # nothing left over


@pytest.mark.parametrize("keys", [{"conditional": False, "loss": "non_saturating", "spectral_norm": False},
                                  {"image_size": 28, "diffaugment": ""}])
def test_variants_train_and_evaluate(dataset, keys):
    task = gan(dataset, **keys)
    task.train_step(next(iter(task.train_batches(0))))
    metrics = task.evaluate("val")
    assert set(metrics) == {"val_fd", "val_d_real", "val_d_fake"} and np.isfinite(metrics["val_fd"])
    size = keys.get("image_size", 32)
    assert task.preview().shape[1:] == (1, size, size)


def test_preview_has_one_column_per_class_and_weights_rebuild_the_sampler(dataset):
    task = gan(dataset)
    task.train_step(next(iter(task.train_batches(0))))
    preview = task.preview()
    assert preview.shape == (16, 1, 32, 32) and task.preview_columns() == 2
    assert task.generator.training and task.discriminator.training
    spec = task.rebuild_spec()
    assert spec["classes"] == ["class0", "class1"] and spec["size"] == 32 and spec["task"] == "gan"
    rebuilt = GanSampler.from_weights(spec, task.weights())
    assert torch.equal(rebuilt.generate(8, seed=4), task.sampler().generate(8, seed=4))
    assert torch.equal(rebuilt.generate(4, seed=4, labels=[1]), task.sampler().generate(4, seed=4, labels=[1]))


class StopAt(Callback):
    """Stop at a global step (a checkpoint mid-epoch), or after the first epoch (its end-of-epoch checkpoint)."""

    def __init__(self, global_step: int | None) -> None:
        self.global_step = global_step

    def on_step_end(self, task, state, metrics) -> None:
        if state.global_step == self.global_step:
            state.stop_reason = "stopped"

    def on_epoch_end(self, task, state, metrics, improved) -> None:
        if self.global_step is None:
            state.stop_reason = "stopped"


def train(store: RunStore, record, extra: list[Callback] = ()):
    config = load_config(store.config(record))
    task, state = task_and_state(store, record, config, CPU)
    state = fit(task, state, [Checkpointer(store.run_dir(record)), *extra])
    return task, state


@pytest.mark.parametrize("stop_after", ["epoch", "mid-epoch"])
def test_resume_equals_uninterrupted(dataset, stop_after):
    store = RunStore()
    config = {"dataset": dataset, **TINY, "epochs": 2, "diffaugment": "color,translation,cutout"}
    whole = create_run(store, "default", config, status="running")
    task_whole, state_whole = train(store, whole)

    parts = create_run(store, "default", config, status="running")
    steps = task_whole.steps_per_epoch
    _, stopped = train(store, parts, [StopAt(None if stop_after == "epoch" else steps + 2)])
    assert stopped.stop_reason == "stopped" and stopped.epoch == 1
    assert stopped.step == (0 if stop_after == "epoch" else 2)
    task_parts, state_parts = train(store, parts)  # a fresh task, restored from the checkpoint

    assert state_parts.global_step == state_whole.global_step == 2 * steps
    assert [e["val_fd"] for e in state_parts.history] == [e["val_fd"] for e in state_whole.history]
    whole_state, parts_state = task_whole.state_dict(), task_parts.state_dict()
    for net in ("generator", "discriminator", "ema"):
        for name, tensor in whole_state[net].items():
            assert torch.equal(tensor, parts_state[net][name]), (net, name)
    for name, tensor in task_whole.weights().items():
        assert torch.equal(tensor, task_parts.weights()[name]), name


def test_a_short_run_lowers_the_validation_fd(dataset):
    task = gan(dataset, width=16, max_steps_per_epoch=8, epochs=8, latent_dim=32, lr=1e-3, lr_d=2e-3)
    start, start_test = task.evaluate("val")["val_fd"], task.evaluate("test")["test_fd"]
    state = fit(task, LoopState(), [])
    assert state.history[-1]["val_fd"] < 0.7 * start
    assert task.evaluate("test")["test_fd"] < 0.7 * start_test
    assert "test_fd" not in task.final_report()  # the report's FD (more samples) is the one quoted
    assert state.best_epoch is not None and state.best_value < 0.7 * start


def test_unlabelled_data_is_refused(dataset):
    from dataclasses import replace

    from core.tasks.gan import GanTask

    config = load_config({"dataset": dataset, "task": "gan"})
    info = build_task(config, "default").dataset.info
    with pytest.raises(UserError, match="labels"):
        GanTask.check(config, replace(info, task="unlabelled", classes=[]))


def test_a_queued_run_saves_preview_grids_a_report_and_a_sampler_that_matches(dataset):
    from core.jobs.execute import execute
    from core.synthesis.sampling import open_sampler
    from core.train.run_folder import REPORT_FILE, preview_grids, read_json

    store = RunStore()
    record = create_run(store, "default", {"dataset": dataset, **TINY, "epochs": 2}, status="running")
    final = execute(store, record.id)
    assert final.status == "completed", final.message
    folder = store.run_dir(record)
    assert sorted(preview_grids(folder)) == [0, 1, 2]
    report = read_json(folder / REPORT_FILE)
    assert report["task"] == "gan" and set(report["quality"]) >= {"fd", "kid", "two_sample_accuracy"}
    sampler, _ = open_sampler(folder)
    assert isinstance(sampler, GanSampler) and sampler.classes == ["class0", "class1"]
    task = build_task(load_config({"dataset": dataset, **TINY}), "default")
    task.setup(CPU)
    task.load_weights(sampler.generator.state_dict())
    assert torch.equal(sampler.generate(4, seed=1), task.sampler().generate(4, seed=1))
