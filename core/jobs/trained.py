"""What a run leaves for later use: model.json (how to rebuild its network) and its best safetensors weights."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.errors import UserError
from core.jobs.store import RunStore
from core.train.callbacks import BEST_WEIGHTS
from core.train.checkpoint import load_weights

MODEL_CARD = "model.json"


@dataclass
class TrainedRun:
    folder: Path
    card: dict[str, Any]               # model.json: task, architecture, channels, classes or scale, preprocessing
    weights: dict[str, torch.Tensor]   # the best epoch's weights (safetensors: nothing is unpickled)


def load_trained_run(store: RunStore, run_id: str, tasks: tuple[str, ...], refusal: str) -> TrainedRun:
    """The run's card and best weights; a UserError when it has none yet, or when its task is not in `tasks`
    (`refusal` then finishes the sentence "Run 'X' ...", e.g. "is not a classifier, so it cannot classify images")."""
    folder = store.run_dir(store.get(run_id))
    if not (folder / BEST_WEIGHTS).exists():
        raise UserError(f"Run '{run_id}' has no trained weights yet; wait until it has finished an epoch.")
    card = json.loads((folder / MODEL_CARD).read_text())
    if card.get("task") not in tasks:
        raise UserError(f"Run '{run_id}' {refusal}.")
    return TrainedRun(folder, card, load_weights(folder / BEST_WEIGHTS))
