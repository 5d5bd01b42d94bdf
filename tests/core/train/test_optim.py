from __future__ import annotations

import pytest
import torch
from torch import nn

from core.tasks import load_config
from core.train.optim import ONECYCLE_WARMUP, Optimization


def lrs(scheduler: str, epochs: int = 4, steps: int = 10, **extra) -> list[float]:
    config = load_config({"dataset": "x", "scheduler": scheduler, "epochs": epochs, "lr": 0.1, **extra})
    model = nn.Linear(2, 1)
    opt = Optimization(model, config, steps, torch.device("cpu"))
    seen = []
    for epoch in range(epochs):
        for _ in range(steps):
            seen.append(opt.lr)
            opt.step(model(torch.ones(1, 2)).sum())
        opt.end_epoch(val_loss=1.0)
    return seen


def test_onecycle_peaks_after_its_warmup_then_anneals():
    seen = lrs("onecycle")
    peak = max(range(len(seen)), key=seen.__getitem__)
    assert peak == pytest.approx(len(seen) * ONECYCLE_WARMUP, abs=1)
    assert seen[peak] == pytest.approx(0.1, rel=1e-3) and seen[-1] < 0.001


def test_cosine_warms_up_then_decays():
    seen = lrs("cosine", warmup_epochs=1.0)
    assert seen[0] == pytest.approx(0.01) and seen[9] == pytest.approx(0.1)
    assert seen[-1] < 0.005 and seen == sorted(seen[:10]) + sorted(seen[10:], reverse=True)


def test_step_and_plateau_and_none():
    assert lrs("step", step_epochs=2, gamma=0.5)[::10] == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert lrs("plateau", epochs=6)[-1] < 0.1  # val loss never improves: the rate is cut
    assert set(lrs("none")) == {0.1}


def test_gradient_clipping_bounds_the_update():
    config = load_config({"dataset": "x", "optimizer": "sgd", "momentum": 0.0, "lr": 1.0, "weight_decay": 0.0,
                          "scheduler": "none", "grad_clip": 0.5})
    model = nn.Linear(1, 1, bias=False)
    before = model.weight.detach().clone()
    Optimization(model, config, 1, torch.device("cpu")).step((model(torch.full((1, 1), 1000.0)) ** 2).sum())
    assert (model.weight - before).abs().item() == pytest.approx(0.5, rel=1e-4)
