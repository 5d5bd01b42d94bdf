"""Optimisers, learning-rate schedules and the optimisation step (mixed precision, clipping, scheduling).

A task owns one `Optimization` per network it trains (a classifier has one; a GAN has two) and calls
`.step(loss)`; the schedule is advanced per step or per epoch as it requires. References: one-cycle from
Smith & Topin, "Super-Convergence", 2019; cosine with warm-up from Loshchilov & Hutter, "SGDR", ICLR 2017.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn

from core.train.config import TrainConfig
from core.train.distributed import scaled_lr


def build_optimizer(parameters, config: TrainConfig, lr: float | None = None,
                    betas: tuple[float, float] | None = None) -> torch.optim.Optimizer:
    """The config's optimiser; `lr` and Adam's `betas` override the config's (a GAN's two networks each have
    their own learning rate and use beta1 0 or 0.5) and default to config.lr (scaled for data-parallel workers:
    core.train.distributed.scaled_lr) and torch's (0.9, 0.999)."""
    params = [p for p in parameters if p.requires_grad]
    lr = scaled_lr(config) if lr is None else lr
    adam = {"betas": betas} if betas is not None else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=config.weight_decay, **adam)
    return torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay, **adam)


# One-cycle spends this share of the run warming up; 0.2 trained the phantom recipe fastest (bench/time_to_accuracy.py).
ONECYCLE_WARMUP = 0.2


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int,
                    lr: float | None = None):
    """Return (scheduler or None, "step" | "epoch" | "plateau"): when the loop must advance it. `lr` is the peak
    learning rate of one-cycle (default: the optimiser's, core.train.distributed.scaled_lr)."""
    # one-cycle needs a few steps per phase; a very short run just stops early in its cycle
    total = max(8, config.epochs * steps_per_epoch)
    if config.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=scaled_lr(config) if lr is None else lr, total_steps=total,
                                                   pct_start=ONECYCLE_WARMUP, anneal_strategy="cos"), "step"
    if config.scheduler == "cosine":
        warmup = int(config.warmup_epochs * steps_per_epoch)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "step"
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_epochs, gamma=config.gamma), "epoch"
    if config.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=config.gamma,
                                                          patience=2), "plateau"
    return None, "none"


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype for this device, or None for full precision (always on CPU)."""
    if device.type != "cuda" or config.amp == "off":
        return None
    if config.amp == "fp16":
        return torch.float16
    if config.amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


class Optimization:
    """One optimiser with its schedule, gradient scaler (fp16 only) and gradient clipping. `lr` and `betas`
    override the config's learning rate and Adam's betas for this network (a GAN's generator and discriminator)."""

    def __init__(self, module: nn.Module, config: TrainConfig, steps_per_epoch: int, device: torch.device,
                 lr: float | None = None, betas: tuple[float, float] | None = None) -> None:
        self.module = module
        self.optimizer = build_optimizer(module.parameters(), config, lr, betas)
        self.scheduler, self.schedule_every = build_scheduler(self.optimizer, config, steps_per_epoch, lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=autocast_dtype(config, device) == torch.float16)
        self.grad_clip = config.grad_clip

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.module.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.schedule_every == "step":
            self.scheduler.step()

    def end_epoch(self, val_loss: float | None) -> None:
        if self.schedule_every == "epoch":
            self.scheduler.step()
        elif self.schedule_every == "plateau" and val_loss is not None:
            self.scheduler.step(val_loss)

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None}

    def load_state_dict(self, state: dict[str, Any], replay: tuple[int, int] | None = None) -> None:
        """Restore from a checkpoint. With `replay` = (steps done, epochs done) the schedule is NOT restored but
        rebuilt for this config and advanced to that point: used when a finished run continues for more epochs,
        so a one-cycle or cosine schedule stretches over the new total."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.scheduler is None:
            return
        if replay is None:
            if state["scheduler"] is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            return
        steps, epochs = replay
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()" is intended here
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(steps if self.schedule_every == "step" else epochs if self.schedule_every == "epoch" else 0):
                self.scheduler.step()
        if self.schedule_every == "plateau":
            for group, lr in zip(self.optimizer.param_groups, lrs):
                group["lr"] = lr
