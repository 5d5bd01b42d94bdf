"""Where a process stands among a run's data-parallel processes (core.train.distributed): kept apart so the loop's
contract can name it without importing torch.distributed's machinery."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ranks:
    """This process's place among the run's data-parallel processes: rank 0 of 1 when training alone."""

    rank: int = 0
    world: int = 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def share(self, value: Any) -> Any:
        """Rank 0's `value` on every rank (any picklable object); `value` itself when training alone."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


SINGLE = Ranks()
