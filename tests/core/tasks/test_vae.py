"""The VAE / autoencoder task through core.tasks.build_task: recipe and refusals, the step's terms, a short run
lowers the validation loss, anomaly scores line up with the test split, and resume equals never stopping."""
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
from core.train.loop import Callback, LoopState, fit
from tests.fixtures import tiny_dataset

CPU = torch.device("cpu")
FAST = {"batch_size": 8, "latent_dim": 8, "base_channels": 8, "epochs": 2, "val_samples": 16}


class FakeFeatures:
    """Stands in for the dataset's feature network: 4x4 average-pooled pixels as features."""

    test_accuracy = 1.0

    def features(self, images: torch.Tensor) -> np.ndarray:
        pooled = torch.nn.functional.adaptive_avg_pool2d(images.float().cpu(), 4)
        return pooled.flatten(1).numpy().astype(np.float64)

    def features_of_split(self, split) -> np.ndarray:
        return np.concatenate([self.features(images) for images, _ in split.batches(64)])


@pytest.fixture(autouse=True)
def fake_feature_network(monkeypatch):
    monkeypatch.setattr("core.tasks.generative.feature_network", lambda workspace, dataset, device: FakeFeatures())


def built(kind: str = "vae", dataset: str | None = None, **overrides):
    config = load_config({"task": kind, "dataset": dataset or tiny_dataset(per_class=(16, 16)), **FAST, **overrides})
    task = build_task(config, "default")
    task.setup(CPU)
    return task


def test_recipe_defaults_and_bad_keys():
    config = load_config({"task": "vae", "dataset": "phantom-64"})
    assert (config.model, config.loss, config.beta, config.train_class) == ("conv_vae", "bce", 1.0, "")
    assert load_config({"task": "autoencoder", "dataset": "phantom-64"}).model == "conv_ae"
    for data, field in [({"loss": "huber"}, "loss"), ({"beta": -1}, "beta"), ({"latent_dim": 1}, "latent_dim"),
                        ({"image_size": 30}, "image_size"), ({"image_size": 256}, "image_size"),
                        ({"model": "dcgan"}, "model"), ({"val_samples": 4}, "val_samples")]:
        with pytest.raises(UserError, match=f"'{field}'"):
            load_config({"task": "vae", "dataset": "phantom-64", **data})


def test_checks_name_the_problem_before_any_data_is_loaded():
    from core.data.catalog import open_dataset
    from core.tasks.vae import VaeTask

    odd = tiny_dataset(per_class=(8, 8), size=18)
    with pytest.raises(UserError, match="multiple of 4"):
        build_task(load_config({"task": "vae", "dataset": odd}), "default")
    assert build_task(load_config({"task": "vae", "dataset": odd, "image_size": 16}), "default").image_size == 16
    with pytest.raises(UserError, match="train_class"):
        build_task(load_config({"task": "vae", "dataset": "phantom-64", "train_class": "tumour"}), "default")
    tiles = open_dataset("default", "real-tiles-128").info  # unlabelled: judged on the validation loss
    assert VaeTask.check(load_config({"task": "vae", "dataset": tiles.id}), tiles) == "val_loss"
    assert VaeTask.check(load_config({"task": "vae", "dataset": "phantom-64"}),
                         open_dataset("default", "phantom-64").info) == "val_fd"
    one_class = {"task": "vae", "dataset": "phantom-64", "train_class": "normal"}
    assert VaeTask.check(load_config(one_class), open_dataset("default", "phantom-64").info) == "val_loss"
    assert VaeTask.check(load_config({**one_class, "monitor": "val_fd"}),
                         open_dataset("default", "phantom-64").info) == "val_fd"


@pytest.mark.parametrize("kind", ["vae", "autoencoder"])
def test_a_step_changes_the_weights_and_reports_its_terms(kind):
    task = built(kind)
    before = {k: v.clone() for k, v in task.model.state_dict().items()}
    metrics = task.train_step(next(iter(task.train_batches(0))))
    assert {"loss", "lr", "recon", "kl"} <= set(metrics)
    assert any(not torch.equal(before[k], v) for k, v in task.model.state_dict().items())
    if kind == "vae":
        assert float(metrics["kl"]) > 0
        assert float(metrics["loss"]) == pytest.approx(float(metrics["recon"]) + float(metrics["kl"]), rel=1e-5)
    else:
        assert float(metrics["kl"]) == 0 and float(metrics["loss"]) == pytest.approx(float(metrics["recon"]))
    val = task.evaluate("val")
    assert {"val_loss", "val_recon", "val_kl", "val_fd"} <= set(val)
    assert (val["val_kl"] == 0) == (kind == "autoencoder")
    assert task.preview().shape == (16, 1, 16, 16)


def test_a_short_run_lowers_the_validation_loss_and_fd_from_its_untrained_start():
    task = built("vae", tiny_dataset(per_class=(40, 40)), epochs=6, lr=3e-3, loss="mse", beta=0.01)
    untrained = task.evaluate("val")
    state = fit(task, LoopState(), [])
    losses = [epoch["val_loss"] for epoch in state.history]
    assert losses[-1] < losses[0] * 0.8 and losses[-1] < untrained["val_loss"]
    assert state.history[-1]["val_fd"] < 0.5 * untrained["val_fd"]
    assert task.monitor == "val_fd" and all("val_fd" in epoch for epoch in state.history)


def test_one_class_training_gives_anomaly_scores_aligned_with_the_test_split():
    task = built("autoencoder", train_class="class0")
    assert set(task.splits["train"].labels.tolist()) == {0}
    outputs = task.split_outputs()
    n = len(outputs.test_images)
    assert outputs.anomaly_scores.shape == (n,) and outputs.reconstructions.shape == outputs.test_images.shape
    assert np.all(outputs.anomaly_scores >= 0) and outputs.train_class == "class0" and not outputs.conditional
    assert task.rebuild_spec()["train_class"] == "class0" and task.rebuild_spec()["task"] == "autoencoder"


def test_anomaly_score_favours_a_local_defect_over_the_same_error_spread_thin():
    from core.models.autoencoder import anomaly_scores

    images = torch.zeros(2, 1, 64, 64)
    recon = images.clone()
    recon[0, 0, 30:36, 30:36] = 0.5              # a lesion the model could not reconstruct: 36 px off by 0.5
    recon[1] = 18 / (64 * 64)                    # the same total error, spread over the whole image
    scores = anomaly_scores(images, recon)
    assert scores[0] > 5 * scores[1]


def test_rebuilt_sampler_reconstructs_like_the_trained_task():
    from core.models.autoencoder import AutoencoderSampler

    for kind in ("vae", "autoencoder"):
        task = built(kind)
        fit(task, LoopState(), [])
        rebuilt = AutoencoderSampler.from_weights(task.rebuild_spec(), task.weights())
        images = task.splits["test"].batch(torch.arange(4))[0]
        assert torch.equal(rebuilt.reconstruct(images), task.sampler().reconstruct(images))
        assert torch.equal(rebuilt.generate(8, seed=5), task.sampler().generate(8, seed=5))


class StopAt(Callback):
    def __init__(self, global_step: int) -> None:
        self.global_step = global_step

    def on_step_end(self, task, state, metrics) -> None:
        if state.global_step == self.global_step:
            state.stop_reason = "stopped"


def test_resume_mid_epoch_equals_never_stopping():
    store = RunStore()
    config = {"task": "vae", "dataset": tiny_dataset(per_class=(20, 20)), **FAST, "epochs": 3}

    def train(record, extra=()):
        task, state = task_and_state(store, record, load_config(store.config(record)), CPU)
        return task, fit(task, state, [Checkpointer(store.run_dir(record)), *extra])

    task_whole, state_whole = train(create_run(store, "default", config, status="running"))
    parts = create_run(store, "default", config, status="running")
    _, stopped = train(parts, [StopAt(task_whole.steps_per_epoch + 2)])
    assert stopped.stop_reason == "stopped" and stopped.epoch == 1 and stopped.step == 2
    task_parts, state_parts = train(parts)
    for key in ("val_loss", "val_kl", "val_fd"):
        assert [e[key] for e in state_parts.history] == pytest.approx([e[key] for e in state_whole.history], abs=1e-6)
    for name, tensor in task_whole.weights().items():
        assert torch.allclose(tensor, task_parts.weights()[name], atol=1e-6), name


def test_a_one_class_run_through_the_job_executor_reports_anomaly_auc_per_class(monkeypatch):
    import json

    from core.jobs.execute import execute
    from core.synthesis.sampling import load_sampler
    from core.tasks.feature_net import feature_network

    monkeypatch.setattr("core.tasks.generative.feature_network", feature_network)  # the real one here
    store = RunStore()
    record = create_run(store, "default", {"task": "autoencoder", "dataset": tiny_dataset(per_class=(16, 16)),
                                           "train_class": "class0", **FAST, "epochs": 1}, status="running")
    done = execute(store, record.id)
    assert done.status == "completed", done.message
    report = json.loads((store.run_dir(done) / "report.json").read_text())
    assert report["anomaly"]["normal_class"] == "class0" and set(report["anomaly"]["per_class"]) == {"class1"}
    sampler, _ = load_sampler(record.id)
    assert sampler.kind == "autoencoder" and sampler.generate(2, seed=0).shape == (2, 1, 16, 16)


def test_a_short_run_lowers_fd_on_medlab_features_from_its_untrained_start(monkeypatch):
    """The same, judged as a real run is: on the features of the dataset's own trained classifier."""
    from core.tasks.feature_net import feature_network

    monkeypatch.setattr("core.tasks.generative.feature_network", feature_network)
    task = built("vae", tiny_dataset(per_class=(40, 40)), epochs=6, lr=3e-3, loss="mse", beta=0.01)
    untrained = task.evaluate("val")["val_fd"]
    state = fit(task, LoopState(), [])
    assert state.history[-1]["val_fd"] < 0.5 * untrained
