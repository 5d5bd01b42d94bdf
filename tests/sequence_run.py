"""A tiny stored sequence dataset and a sequence run trained on it through the job executor, for the evaluation
and prediction tests of sequence runs (a few seconds on a CPU), plus small clip files (ZIP of PNG frames, MP4)."""
from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest

from tests.fixtures import png_bytes, zip_bytes

FRAMES, SIZE, FRAME_TIME_MS = 6, 16, 50.0
CLASSES = ["beating", "still"]


def disc_clip(frames: int, side: int, beating: bool, seed: int) -> np.ndarray:
    """(frames, side, side) uint8: a bright disc on dark noise whose radius follows a sine (beating) or stays
    put (still); the same radii appear in both classes, so only the motion tells them apart."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side] - (side - 1) / 2
    base = side * rng.uniform(0.2, 0.3)
    swing = side * 0.12 * np.sin(2 * np.pi * np.arange(frames) / frames + rng.uniform(0, 2 * np.pi)) if beating \
        else np.zeros(frames)
    discs = (np.hypot(yy, xx)[None] <= (base + swing)[:, None, None]) * 170
    return (discs + rng.integers(0, 50, (frames, side, side))).astype(np.uint8)


def tiny_sequence_dataset(workspace: str = "default", per_class: int = 30, name: str = "tiny cine") -> str:
    """A stored sequence dataset of `per_class` beating and still clips of FRAMES frames of SIZE px; its id."""
    import pandas as pd

    from core.data.frame_policy import FramePolicy
    from core.data.splits import assign_splits
    from core.data.store import DatasetInfo, count_by_split, datasets_dir, new_dataset_id, write_dataset

    labels = np.repeat(np.arange(2), per_class)
    clips = np.stack([disc_clip(FRAMES, SIZE, label == 0, seed=i) for i, label in enumerate(labels)])[..., None]
    groups = np.array([f"p{i}" for i in range(len(labels))])
    splits = assign_splits(labels, groups, seed=0)
    split_counts, class_counts = count_by_split("classification", CLASSES, labels, splits)
    dataset_id = new_dataset_id(name)
    items = pd.DataFrame({"name": [f"clip{i}" for i in range(len(labels))], "file": "", "frame": 0,
                          "label": [CLASSES[k] for k in labels], "split": splits, "group": groups,
                          "format": "frames", "width": SIZE, "height": SIZE})
    preprocessing = {"size": SIZE, "channels": 1, "resize": "pad", "window": "default", "intensity": "window",
                     "frame_policy": FramePolicy("uniform", FRAMES).as_dict()}
    info = DatasetInfo(id=dataset_id, name=name, task="classification", classes=CLASSES, size=SIZE, channels=1,
                       num_images=len(labels), split_counts=split_counts, class_counts=class_counts, source="upload",
                       preprocessing=preprocessing, frames=FRAMES, frame_time_ms=FRAME_TIME_MS)
    write_dataset(datasets_dir(workspace) / dataset_id, info, clips, labels.astype(np.int64), items)
    return dataset_id


def train_sequence_run(model: str = "cnn_lstm", epochs: int = 3) -> SimpleNamespace:
    """A completed sequence run on tiny_sequence_dataset in the current MEDLAB_HOME (workspace "default")."""
    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore

    dataset_id = tiny_sequence_dataset()
    store = RunStore()
    config = {"task": "sequence", "dataset": dataset_id, "name": "tiny cine run", "model": model, "epochs": epochs,
              "batch_size": 8, "hidden_size": 8, "seed": 0}
    record = create_run(store, "default", config, status="running")
    final = execute(store, record.id)
    assert final.status == "completed", final.message
    return SimpleNamespace(run_id=record.id, dataset_id=dataset_id)


def frames_zip(frames: np.ndarray, folder: str = "clip") -> bytes:
    """A ZIP of numbered PNG frames ("frame1.png", ..., "frame10.png": numbered, not zero-padded)."""
    return zip_bytes({f"{folder}/frame{i + 1}.png": png_bytes(frame) for i, frame in enumerate(frames)})


def mp4_bytes(frames: np.ndarray, fps: int = 20) -> bytes:
    """An H.264 MP4 of greyscale uint8 frames (T, H, W) (even sizes), written with PyAV."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(np.repeat(frame[..., None], 3, axis=2), format="rgb24")
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def sequence_run_home(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir) -> SimpleNamespace:
    """train_sequence_run once per test session in its own MEDLAB_HOME (import this fixture and `sequence_run`)."""
    home = tmp_path_factory.mktemp("sequence-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDLAB_HOME", str(home))
        patch.setenv("MEDLAB_BUILTIN_DIR", str(shared_builtin_dir))
        run = train_sequence_run()
    run.home = home
    return run


@pytest.fixture
def sequence_run(sequence_run_home: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Point this test's MEDLAB_HOME at the shared trained sequence run's home (treat it as read-only)."""
    monkeypatch.setenv("MEDLAB_HOME", str(sequence_run_home.home))
    return sequence_run_home
