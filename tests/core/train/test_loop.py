"""Which epoch is best: `is_better` and `improves` (min/max, ties broken by the lower val_loss, NaN, a missing
monitor), case by case on tiny inputs."""
from __future__ import annotations

import math

import pytest

from core.train.loop import LoopState, improves, is_better

NAN = math.nan

# (value, best, mode, expected)
TEST_CASES_IS_BETTER = [
    (0.5, None, "min", True),     # the first value is the best so far
    (0.5, None, "max", True),
    (NAN, None, "min", False),    # NaN is never best
    (NAN, None, "max", False),
    (0.4, 0.5, "min", True),
    (0.6, 0.5, "min", False),
    (0.5, 0.5, "min", False),     # a tie is not better (improves breaks ties)
    (0.6, 0.5, "max", True),
    (0.4, 0.5, "max", False),
    (0.5, 0.5, "max", False),
    (NAN, 0.5, "min", False),
    (NAN, 0.5, "max", False),
    (0.9, NAN, "max", True),      # any number beats a NaN best
    (0.9, NAN, "min", True),
    (NAN, NAN, "min", False),
    (-math.inf, 0.0, "min", True),
    (math.inf, 0.0, "max", True),
]

# (val metrics, best_value, best_loss, monitor, mode, expected)
TEST_CASES_IMPROVES = [
    ({"val_accuracy": 0.8, "val_loss": 0.5}, None, None, "val_accuracy", "max", True),    # first epoch
    ({"val_accuracy": 0.9, "val_loss": 0.9}, 0.8, 0.5, "val_accuracy", "max", True),     # better, loss ignored
    ({"val_accuracy": 0.7, "val_loss": 0.1}, 0.8, 0.5, "val_accuracy", "max", False),    # worse, loss ignored
    ({"val_accuracy": 0.8, "val_loss": 0.4}, 0.8, 0.5, "val_accuracy", "max", True),     # tie, lower loss
    ({"val_accuracy": 0.8, "val_loss": 0.6}, 0.8, 0.5, "val_accuracy", "max", False),    # tie, higher loss
    ({"val_accuracy": 0.8, "val_loss": 0.5}, 0.8, 0.5, "val_accuracy", "max", False),    # tie, equal loss
    ({"val_accuracy": 0.8}, 0.8, 0.5, "val_accuracy", "max", False),                     # tie, no val_loss
    ({"val_accuracy": 0.8, "val_loss": 0.4}, 0.8, None, "val_accuracy", "max", False),   # tie, no best loss
    ({"val_psnr": 30.0, "val_loss": 0.1}, 30.0, 0.2, "val_psnr", "max", True),          # any metric ties
    ({"val_loss": 0.5}, 0.5, 0.5, "val_loss", "min", False),                             # min: tie is no gain
    ({"val_loss": 0.4}, 0.5, 0.5, "val_loss", "min", True),
    ({"val_loss": 0.6}, 0.5, 0.5, "val_loss", "min", False),
    ({"val_loss": NAN}, 0.5, 0.5, "val_loss", "min", False),                             # NaN never improves
    ({"val_loss": NAN}, None, None, "val_loss", "min", False),
    ({"val_accuracy": NAN, "val_loss": 0.1}, 0.8, 0.5, "val_accuracy", "max", False),
    ({"val_loss": 0.4}, NAN, None, "val_loss", "min", True),                              # after NaN epochs
    ({"val_loss": 0.1}, None, None, "val_accuracy", "max", False),                       # monitor missing
    ({}, 0.8, 0.5, "val_accuracy", "max", False),
]


@pytest.mark.parametrize("value,best,mode,expected", TEST_CASES_IS_BETTER)
def test_is_better(value: float, best: float | None, mode: str, expected: bool) -> None:
    assert is_better(value, best, mode) is expected


@pytest.mark.parametrize("val,best_value,best_loss,monitor,mode,expected", TEST_CASES_IMPROVES)
def test_improves(val: dict[str, float], best_value: float | None, best_loss: float | None, monitor: str, mode: str,
                  expected: bool) -> None:
    state = LoopState(best_value=best_value, best_loss=best_loss)
    assert improves(val, state, monitor, mode) is expected
    assert state.best_value is best_value and state.best_loss is best_loss  # it only reads the state
