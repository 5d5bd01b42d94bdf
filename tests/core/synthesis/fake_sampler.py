"""A tiny stand-in generative model for the sampling, export, CLI and experiment tests: a `Sampler` whose images
are a dark background with a bright square in a class-specific corner (as tests.fixtures.tiny_dataset draws
them), and a run folder holding it (model.json + best.safetensors) registered in the run store."""
from __future__ import annotations

from typing import Any

import pytest
import torch

from core.jobs.store import RunStore
from core.models.sampler import Sampler
from core.synthesis import sampling
from core.train.checkpoint import save_weights
from core.train.run_folder import BEST_WEIGHTS, REBUILD_SPEC, write_json


class FakeSampler(Sampler):
    kind = "gan"
    temperature_name = "truncation"

    def __init__(self, classes: list[str], channels: int, size: int, brightness: float) -> None:
        self.classes, self.channels, self.size, self.brightness = list(classes), channels, size, brightness

    @classmethod
    def from_weights(cls, spec: dict[str, Any], weights: dict[str, torch.Tensor],
                     device: torch.device = torch.device("cpu")) -> FakeSampler:
        return cls(spec["classes"], spec["channels"], spec["size"], float(weights["brightness"]))

    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 8, generator=generator)

    def from_noise(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n, s = len(noise), self.size
        images = (0.1 + 0.03 * noise[:, :1, None, None]).expand(n, self.channels, s, s).clone()
        corners = [(0, 0), (0, s // 2), (s // 2, 0), (s // 2, s // 2)]
        for i in range(n):
            top, left = corners[int(labels[i]) % 4 if labels is not None else 0]
            images[i, :, top:top + s // 2, left:left + s // 2] = self.brightness
        return images.clamp(0, 1)


def fake_generative_run(workspace: str, dataset_id: str, classes: list[str], conditional: bool = True,
                        train_class: str = "", size: int = 16, channels: int = 1, task: str = "gan",
                        status: str = "completed") -> str:
    """A generative run of `workspace` in the run store whose folder holds FakeSampler's spec and weights."""
    store = RunStore()
    record = store.create(workspace, {"task": task, "dataset": dataset_id, "model": "fake", "epochs": 1,
                                      "name": f"fake {task}"}, monitor="val_fd", status=status)
    folder = store.run_dir(record)
    write_json(folder / REBUILD_SPEC, {"task": task, "architecture": "fake", "channels": channels, "size": size,
                                       "classes": classes if conditional else [], "dataset_classes": classes,
                                       "train_class": train_class, "dataset": dataset_id, "image_size": size})
    save_weights(folder / BEST_WEIGHTS, {"brightness": torch.tensor(0.8)})
    return record.id


@pytest.fixture
def fake_samplers(monkeypatch: pytest.MonkeyPatch) -> type[FakeSampler]:
    """FakeSampler registered as the sampler of every generative task."""
    for task in ("gan", "vae", "autoencoder", "diffusion"):
        monkeypatch.setitem(sampling.SAMPLER_CLASSES, task, FakeSampler)
    return FakeSampler
