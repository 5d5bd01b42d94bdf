"""The checks that turn a user's choice of network into one clear sentence (a `UserError`).

The networks raise `ValueError` for a bad argument: by the time one is built, a bad value is a programming
error. What a person can choose (in a config, on a page, in a saved model card) is checked before that, at
the boundary: `build_classifier` (core.models) and `build_restorer` / `build_discriminator`
(core.models.restoration) call these first, so the sentence names the field the person set.
"""
from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

from core.errors import UserError

IN_CHANNELS = (1, 3)  # grey or colour: what the data readers produce


def is_whole(value: object, low: int) -> bool:
    """Whether `value` is a whole number (not a bool) of at least `low`."""
    return not isinstance(value, bool) and isinstance(value, Integral) and int(value) >= low


def check_name(name: object, names: Sequence[str], kind: str) -> str:
    """`name` lower-cased and stripped, or a UserError unless it is one of `names` (`kind`: "classifier", ...)."""
    key = str(name).strip().lower()
    if key not in names:
        raise UserError(f"model '{name}' is not a known {kind}; choose one of {', '.join(names)}.")
    return key


def check_count(value: object, field: str, low: int) -> int:
    """`value` as an int, or a UserError naming `field` unless it is a whole number of at least `low`."""
    if not is_whole(value, low):
        raise UserError(f"{field} must be a whole number of at least {low}, got {value}.")
    return int(value)


def check_in_channels(in_channels: object) -> int:
    """`in_channels` as an int, or a UserError unless it is 1 (grey) or 3 (colour)."""
    if not is_whole(in_channels, 1) or int(in_channels) not in IN_CHANNELS:
        raise UserError(f"in_channels must be 1 (grey) or 3 (colour), got {in_channels}.")
    return int(in_channels)


def check_scale(scale: object, allowed: Sequence[int], network: str) -> int:
    """`scale` (output size over input size) as an int, or a UserError unless `network` supports it."""
    if not is_whole(scale, 1) or int(scale) not in allowed:
        said = "1 (denoising keeps the size)" if tuple(allowed) == (1,) else " or ".join(str(s) for s in allowed)
        raise UserError(f"scale must be {said} for {network}, got {scale}.")
    return int(scale)


def check_channel_values(value: float | Sequence[float] | None, channels: int, field: str, *,
                         positive: bool = False) -> None:
    """A UserError unless `value` is None, one number, or one number per channel (all > 0 when `positive`)."""
    if value is None:
        return
    values = (value,) if isinstance(value, Real) else tuple(value)
    if len(values) not in (1, channels):
        raise UserError(f"{field} has {len(values)} values but the model takes {channels} input channel(s).")
    if positive and min(float(v) for v in values) <= 0:
        raise UserError(f"{field} must be greater than 0, got {tuple(float(v) for v in values)}.")
