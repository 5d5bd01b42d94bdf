"""What every command prints for `--json`: indented JSON on stdout. Numbers from numpy print as numbers; other
values JSON does not know (paths, dates) print as text."""
from __future__ import annotations

import json
from typing import Any


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_plain))


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar (or 0-d array/tensor)
        return value.item()
    return str(value)
