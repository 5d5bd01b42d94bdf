"""Training configuration: the keys every task shares, validated on load with one sentence naming the bad field.

A task's config dataclass extends `TrainConfig`; its field defaults ARE that task's recommended recipe, so a
config of just {"dataset": ID} trains the recommended model.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args, get_origin

from core.errors import UserError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "cosine", "onecycle", "plateau")
AMP_MODES = ("auto", "bf16", "fp16", "off")
LR_SCALINGS = ("linear", "none")
MAX_WORKERS = 16


@dataclass
class TrainConfig:
    dataset: str
    task: str = "classification"
    model: str = "small_cnn"
    image_size: int | None = None       # None: the dataset's own size
    epochs: int = 6
    batch_size: int = 64
    optimizer: str = "adamw"            # sgd | adam | adamw
    lr: float = 3e-3
    momentum: float = 0.9               # SGD only
    nesterov: bool = False              # SGD only
    weight_decay: float = 5e-4
    scheduler: str = "onecycle"         # none | step | cosine (with warm-up) | onecycle | plateau
    warmup_epochs: float = 1.0          # cosine only
    step_epochs: int = 5                # step only: multiply lr by gamma every step_epochs
    gamma: float = 0.1                  # step and plateau
    early_stopping: bool = False
    monitor: str | None = None          # validation metric for early stopping and "best" (default: the task's)
    patience: int = 5
    grad_clip: float = 0.0              # max gradient norm; 0 = off
    seed: int = 0
    device: str = "auto"                # auto | cpu | cuda | cuda:N
    amp: str = "auto"                   # mixed precision on CUDA: auto (bf16 if supported, else fp16) | bf16 | fp16 | off
    channels_last: bool = True          # channels-last memory format (faster convolutions on CPU and GPU)
    workers: int = 1                    # data-parallel processes for this run (core.train.distributed); batch_size is per worker
    lr_scaling: str = "linear"          # with workers > 1: linear (lr x workers, Goyal et al. 2017) | none
    name: str = ""                      # a label for the runs table

    def __post_init__(self) -> None:
        _choice(self, "optimizer", OPTIMIZERS)
        _choice(self, "scheduler", SCHEDULERS)
        _choice(self, "amp", AMP_MODES)
        _choice(self, "lr_scaling", LR_SCALINGS)
        if not 1 <= self.workers <= MAX_WORKERS:
            raise UserError(f"Config field 'workers' must be 1 to {MAX_WORKERS}, not {self.workers}.")
        _at_least(self, "epochs", 1)
        _at_least(self, "batch_size", 1)
        _at_least(self, "patience", 1)
        _at_least(self, "step_epochs", 1)
        if self.image_size is not None and not 16 <= self.image_size <= 1024:
            raise UserError(f"Config field 'image_size' must be between 16 and 1024, not {self.image_size}.")
        for name in ("lr",):
            if not 0 < getattr(self, name) <= 10:
                raise UserError(f"Config field '{name}' must be above 0 and at most 10, not {getattr(self, name)}.")
        for name in ("weight_decay", "grad_clip", "warmup_epochs"):
            if getattr(self, name) < 0:
                raise UserError(f"Config field '{name}' must not be negative, not {getattr(self, name)}.")
        if not 0 < self.gamma <= 1:
            raise UserError(f"Config field 'gamma' must be above 0 and at most 1, not {self.gamma}.")
        if not (self.device in ("auto", "cpu", "cuda") or (self.device.startswith("cuda:") and self.device[5:].isdigit())):
            raise UserError(f"Config field 'device' must be auto, cpu, cuda or cuda:N, not '{self.device}'.")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


C = TypeVar("C", bound=TrainConfig)


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build `cls` from JSON-like data: unknown keys and wrong types are refused, naming the field."""
    if not isinstance(data, dict):
        raise UserError("The training config must be a JSON object of key: value pairs.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            raise UserError(f"Unknown config key '{key}'; known keys: {', '.join(sorted(fields))}.")
    if "dataset" not in data or not isinstance(data["dataset"], str) or not data["dataset"]:
        raise UserError("Config field 'dataset' is required: the id of a dataset (see `python -m core datasets`).")
    values = {key: _coerce(key, value, hints[key]) for key, value in data.items()}
    return cls(**values)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Check `value` against the field's annotation; ints are accepted where floats are expected."""
    allowed = _allowed_types(hint)
    if value is None and type(None) in allowed:
        return None
    if isinstance(value, bool):
        if bool in allowed:
            return value
    elif isinstance(value, int) and int in allowed:
        return value
    elif isinstance(value, (int, float)) and float in allowed:
        return float(value)
    elif isinstance(value, str) and str in allowed:
        return value
    names = " or ".join(sorted({JSON_TYPE_TEXT.get(t, t.__name__) for t in allowed}))
    try:
        said = json.dumps(value)   # the config is JSON: say `true`, not Python's `True`
    except (TypeError, ValueError):
        said = repr(value)
    raise UserError(f"Config field '{key}' must be {names}, not {said}.")


# a config field's type, as a person who writes JSON reads it
JSON_TYPE_TEXT = {int: "a whole number", float: "a number", str: "text", bool: "true or false", type(None): "null"}


def _allowed_types(hint: Any) -> set[type]:
    if get_origin(hint) in (typing.Union, types.UnionType):
        return set().union(*(_allowed_types(arg) for arg in get_args(hint)))
    if get_origin(hint) is Literal:
        return {type(arg) for arg in get_args(hint)}
    return {hint}


def _choice(config: TrainConfig, name: str, choices: tuple[str, ...]) -> None:
    if getattr(config, name) not in choices:
        raise UserError(f"Config field '{name}' must be one of {', '.join(choices)}, not '{getattr(config, name)}'.")


def _at_least(config: TrainConfig, name: str, low: int) -> None:
    if getattr(config, name) < low:
        raise UserError(f"Config field '{name}' must be at least {low}, not {getattr(config, name)}.")
