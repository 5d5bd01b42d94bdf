"""Images per second of MedLab's training loop against a bare PyTorch loop, same model, data and batch size.

Both train the recommended model on the built-in 64 px phantom with the data held as tensors, both evaluate the
validation split after each epoch, neither augments. MedLab's loop runs with the callbacks of a real run
(metrics to a sink, checkpoint and safetensors every epoch). Runs alternate (ours, bare, ours, bare, ...) so
machine noise hits both; the figure is the median ratio. Target: >= 0.97 on CPU.

    python bench/train_overhead.py [--epochs 2] [--repeats 3] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import ListSink, temporary_home

import torch
import torch.nn.functional as F


def ours(config: dict, device: torch.device) -> float:
    from core.tasks import build_task, load_config
    from core.train.callbacks import Checkpointer, MetricsRecorder
    from core.train.loop import LoopState, fit

    task = build_task(load_config(config), "default")
    task.setup(device)
    start = time.perf_counter()
    fit(task, LoopState(), [MetricsRecorder(ListSink()), Checkpointer(Path(tempfile.mkdtemp()))])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return task.config.epochs * task.steps_per_epoch * task.config.batch_size / (time.perf_counter() - start)


def bare(config: dict, device: torch.device) -> float:
    """The textbook loop: shuffle, slice, forward, loss, backward, step; validation each epoch."""
    from core.tasks import build_task, load_config
    from core.train.optim import autocast_dtype

    task = build_task(load_config(config), "default")
    task.setup(device)  # the same model, data tensors, optimiser and schedule objects, used directly
    model, opt, sched = task.model, task.optimization.optimizer, task.optimization.scheduler
    scaler = task.optimization.scaler
    amp = autocast_dtype(task.config, device)
    train, val = task.splits["train"], task.splits["val"]
    batch, steps = task.config.batch_size, task.steps_per_epoch
    start = time.perf_counter()
    for epoch in range(task.config.epochs):
        order = torch.randperm(len(train))
        for step in range(steps):
            images, labels = train.batch(order[step * batch:(step + 1) * batch])
            images = images.contiguous(memory_format=torch.channels_last)  # as a tuned loop would
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = F.cross_entropy(model(images).float(), labels)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
        model.eval()
        with torch.no_grad():
            for images, labels in val.batches(256):
                model(images.contiguous(memory_format=torch.channels_last)).argmax(1).eq(labels).float().mean().item()
        model.train()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return task.config.epochs * steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    temporary_home()
    device = torch.device(args.device)
    config = {"dataset": "phantom-64", "epochs": args.epochs, "augment": False, "device": args.device}
    ours(config, device)  # warm-up: builds the phantom, loads libraries
    ratios = []
    for repeat in range(args.repeats):
        a, b = ours(config, device), bare(config, device)
        ratios.append(a / b)
        print(f"repeat {repeat + 1}: MedLab loop {a:8.1f} img/s   bare loop {b:8.1f} img/s   ratio {a / b:.3f}")
    print(f"device {device} ({torch.get_num_threads()} threads): median ratio {statistics.median(ratios):.3f} "
          f"(target >= 0.97)")


if __name__ == "__main__":
    main()
