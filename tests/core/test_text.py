"""Counts read as people write them."""
from __future__ import annotations

import pytest

from core.text import counted


@pytest.mark.parametrize("count,noun,expected", [
    (1, "image", "1 image"), (2, "image", "2 images"), (0, "image", "0 images"), (1234, "image", "1,234 images"),
    (1, "class", "1 class"), (3, "class", "3 classes"), (2, "patient", "2 patients"), (2, "file", "2 files"),
    (2, "study", "2 studies"), (2, "series", "2 series"), (2, "epoch", "2 epochs"), (1, "epoch", "1 epoch"),
    (2, "batch", "2 batches"),
])
def test_counted(count: int, noun: str, expected: str) -> None:
    assert counted(count, noun) == expected
