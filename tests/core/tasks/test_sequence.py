"""The sequence task on the shared loop: every model steps on tiny clips, the single-frame baseline trains on one
frame per clip, augmentation treats a clip's frames alike, exact resume, a run through the job executor, and image
and sequence datasets refused by the other kind of task with one sentence."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.data.augment import Augmentation
from core.errors import UserError
from core.jobs.control import create_run
from core.jobs.execute import task_and_state
from core.jobs.store import RunStore
from core.models.sequence_nets import SEQUENCE_MODELS
from core.tasks import build_task, load_config
from core.tasks.sequence import SequenceConfig, SequenceTask, augment_clips
from core.tasks.tensors import step_seed
from core.train.callbacks import Checkpointer
from core.train.loop import Callback, LoopState, fit
from tests.fixtures import tiny_dataset

CPU = torch.device("cpu")
FAST = {"task": "sequence", "batch_size": 6, "lr": 0.01, "epochs": 2, "hidden_size": 8}
FRAMES, SIZE = 6, 16


def tiny_clips(workspace: str = "default", count: int = 36, name: str = "tiny clips") -> str:
    """A stored sequence dataset of `count` cine-phantom clips of FRAMES frames of SIZE px; returns its id."""
    import pandas as pd

    from core.data.cine_phantom import generate_cine_phantom
    from core.data.splits import assign_splits
    from core.data.store import DatasetInfo, count_by_split, datasets_dir, new_dataset_id, write_dataset

    phantom = generate_cine_phantom(size=SIZE, frames=FRAMES, count=count, seed=0)
    classes = list(phantom.classes)
    splits = assign_splits(phantom.labels, phantom.patients, seed=0)
    split_counts, class_counts = count_by_split("classification", classes, phantom.labels, splits)
    items = pd.DataFrame({"name": [f"clip{i}" for i in range(count)], "file": "", "frame": 0,
                          "label": [classes[k] for k in phantom.labels], "split": splits, "group": phantom.patients,
                          "format": "phantom", "width": SIZE, "height": SIZE})
    dataset_id = new_dataset_id(name)
    info = DatasetInfo(id=dataset_id, name=name, task="classification", classes=classes, size=SIZE, channels=1,
                       num_images=count, split_counts=split_counts, class_counts=class_counts, source="upload",
                       frames=FRAMES, frame_time_ms=40.0,
                       preprocessing={"size": SIZE, "channels": 1, "frame_policy": {"mode": "uniform",
                                                                                   "frames": FRAMES, "stride": 1}})
    write_dataset(datasets_dir(workspace) / dataset_id, info, phantom.clips[..., None], phantom.labels, items)
    return dataset_id


@pytest.fixture
def clips() -> str:
    return tiny_clips()


def built(dataset: str, **fields) -> SequenceTask:
    task = build_task(load_config({"dataset": dataset, **FAST, **fields}), "default")
    task.setup(CPU)
    return task


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


def test_recipe_defaults_and_bad_keys_are_one_sentence():
    config = load_config({"task": "sequence", "dataset": "cine-phantom"})
    assert isinstance(config, SequenceConfig)
    assert (config.model, config.encoder, config.temporal_pooling, config.augment) == \
        ("cnn_lstm", "small_cnn", "attention", True)
    for fields, match in [({"model": "resnet18"}, "Config field 'model' must be one of cnn_lstm"),
                          ({"encoder": "vgg"}, "Config field 'encoder'"),
                          ({"temporal_pooling": "max"}, "Config field 'temporal_pooling'"),
                          ({"hidden_size": 0}, "Config field 'hidden_size'"),
                          ({"pretrained": True}, "small_cnn encoder has no pretrained weights"),
                          ({"frames": 8}, "Unknown config key 'frames'")]:
        with pytest.raises(UserError, match=match):
            load_config({"task": "sequence", "dataset": "cine-phantom", **fields})


@pytest.mark.parametrize("model", SEQUENCE_MODELS)
def test_each_model_builds_and_steps_on_tiny_clips(clips, model):
    task = built(clips, model=model)
    before = {name: tensor.clone() for name, tensor in task.weights().items()}
    batch = next(task.train_batches(0))
    expected_frames = 1 if model == "single_frame" else FRAMES
    assert batch[0].shape == (6, expected_frames, 1, SIZE, SIZE) and 0 <= batch[0].min() <= batch[0].max() <= 1
    metrics = task.train_step(batch)
    assert torch.isfinite(metrics["loss"])
    assert any(not torch.equal(before[name], tensor) for name, tensor in task.weights().items())
    evaluated = task.evaluate("val")
    assert set(evaluated) == {"val_loss", "val_accuracy", "val_balanced_accuracy"}
    out = task.outputs("val", with_features=True)
    assert out.logits.shape == (len(task.splits["val"]), 3) and len(out.features) == len(out.logits)


def test_single_frame_trains_on_one_seeded_frame_per_clip_and_tests_on_all(clips):
    task = built(clips, model="single_frame", augment=False)
    first, again = next(task.train_batches(0)), next(task.train_batches(0))
    assert torch.equal(first[0], again[0])  # the same (seed, epoch, step) picks the same frames
    train = task.splits["train"]
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(step_seed(0, 0)))
    whole, _ = train.batch(order[:6])
    picked = [next(t for t in range(FRAMES) if torch.equal(whole[i, t], first[0][i, 0])) for i in range(6)]
    assert len(set(picked)) > 1  # different clips, different frames
    # tested on every frame: the clip's logits are the mean of its frames' logits
    task.model.eval()
    clip = task.splits["val"].batch(torch.arange(2))[0]
    with torch.no_grad():
        per_frame = task.model.frame_logits(clip).mean(dim=1)
    assert np.allclose(task.outputs("val").logits[:2], per_frame.numpy(), atol=1e-5)


def test_clips_are_resized_frame_by_frame_to_the_configured_size(clips):
    from core.data.catalog import open_dataset
    from core.tasks.tensors import SplitTensors

    dataset = open_dataset("default", clips)
    native = SplitTensors(dataset, dataset.indices("val"), CPU)
    resized = SplitTensors(dataset, dataset.indices("val"), CPU, image_size=24)
    small, _ = native.batch(torch.arange(2))
    large, _ = resized.batch(torch.arange(2))
    assert small.shape == (2, FRAMES, 1, SIZE, SIZE) and large.shape == (2, FRAMES, 1, 24, 24)
    expected = torch.from_numpy(dataset.images[dataset.indices("val")[:2]]).permute(0, 1, 4, 2, 3).float() / 255
    assert torch.equal(small, expected)
    assert abs(large.mean().item() - small.mean().item()) < 0.02  # the same frames, larger


def test_augmentation_draws_once_per_clip_and_applies_it_to_every_frame():
    clips = torch.rand(8, FRAMES, 1, SIZE, SIZE)
    flipped = augment_clips(clips, Augmentation(hflip=True), torch.Generator().manual_seed(0))
    states = []
    for clip, out in zip(clips, flipped):
        same, mirrored = torch.equal(out, clip), torch.equal(out, clip.flip(-1))
        assert same or mirrored  # never some frames flipped and others not
        states.append(mirrored)
    assert any(states) and not all(states)
    # a clip of one frame repeated stays one frame repeated: the same warp, blur and intensity change on each
    still = torch.rand(8, 1, 1, SIZE, SIZE).expand(-1, FRAMES, -1, -1, -1).contiguous()
    every = Augmentation(rotate_degrees=20, elastic=0.05, blur_sigma=1.0, brightness=0.3, contrast=0.3)
    out = augment_clips(still, every, torch.Generator().manual_seed(1))
    assert out.shape == still.shape and not torch.allclose(out, still)
    assert torch.allclose(out, out[:, :1].expand_as(out), atol=1e-6)


def test_resume_mid_epoch_equals_never_stopping(clips):
    store = RunStore()
    config = {"dataset": clips, **FAST, "epochs": 3}
    whole = create_run(store, "default", config, status="running")
    task_whole, state_whole = train(store, whole)

    parts = create_run(store, "default", config, status="running")
    steps = task_whole.steps_per_epoch
    _, stopped = train(store, parts, [StopAt(steps + 1)])  # in the middle of the second epoch
    assert stopped.stop_reason == "stopped" and stopped.epoch == 1 and stopped.step == 1
    task_parts, state_parts = train(store, parts)  # a fresh task, restored from the checkpoint

    assert [e["val_loss"] for e in state_parts.history] == [e["val_loss"] for e in state_whole.history]
    for name, tensor in task_whole.weights().items():
        assert torch.equal(tensor, task_parts.weights()[name]), name


def test_a_run_through_the_job_executor_writes_the_classification_report(clips):
    from core.jobs.execute import execute

    store = RunStore()
    record = create_run(store, "default", {"dataset": clips, **FAST, "epochs": 1}, status="running")
    done = execute(store, record.id)
    assert done.status == "completed", done.message
    assert done.task == "sequence"
    folder = store.run_dir(done)
    report = json.loads((folder / "report.json").read_text())
    assert "accuracy" in json.dumps(report["metrics"]) and (folder / "ood.json").exists()
    spec = json.loads((folder / "model.json").read_text())
    for key in ("task", "architecture", "encoder", "hidden_size", "bidirectional", "temporal_pooling", "in_channels",
                "classes", "image_size", "frames", "frame_time_ms", "dataset", "dataset_name", "preprocessing",
                "pretrained"):
        assert key in spec, key
    assert (spec["task"], spec["frames"], spec["frame_time_ms"], spec["image_size"]) == ("sequence", FRAMES, 40.0, SIZE)
    assert spec["preprocessing"]["frame_policy"]["frames"] == FRAMES
    summary = json.loads((folder / "summary.json").read_text())
    assert 0 <= summary["test_accuracy"] <= 1


IMAGE_TASKS = [{"task": "classification"}, {"task": "denoise"}, {"task": "gan"}, {"task": "vae"},
               {"task": "diffusion"}]


@pytest.mark.parametrize("fields", IMAGE_TASKS, ids=lambda fields: fields["task"])
def test_image_tasks_refuse_a_sequence_dataset_with_one_sentence(clips, fields):
    from core.tasks import check_task

    with pytest.raises(UserError, match=r"holds clips of 6 frames, not single images; train it with task 'sequence'\.$"):
        check_task(load_config({"dataset": clips, **fields}), "default")


def test_the_sequence_task_refuses_an_image_dataset_with_one_sentence():
    from core.tasks import check_task

    images = tiny_dataset()
    with pytest.raises(UserError, match=r"holds single images, not clips; train it with task 'classification'\.$"):
        check_task(load_config({"dataset": images, "task": "sequence"}), "default")
