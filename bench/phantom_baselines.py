"""Baselines on the built-in phantom: what an intensity histogram can learn, and how fast a small CNN learns the rest.

For each size (64 px first) and a seeded 70/15/15 split stratified by class (grouped by patient unless
--split image), prints
  1. the test accuracy of a logistic regression on 32-bin intensity histograms (normalised per image);
  2. the reference CNN recipe (the Train page's recommended recipe), trained with plain PyTorch on the CPU with the
     whole dataset held as one float tensor and batches indexed from it (no DataLoader): the seconds until test
     accuracy first reaches 95 % (evaluated at the end of every epoch; the clock starts before the tensor is built
     and includes evaluation), the final test accuracy, and training images/s.

The recipe (the defaults below): SmallCNN with widths 16-32-64-128 (four blocks of 3x3 conv without bias, BatchNorm,
ReLU, 2x2 max-pool; global average pooling; linear head; 98k parameters), channels-last memory format; inputs
scaled to [0, 1] and standardised per image (zero mean, unit variance); random horizontal flips per sample;
AdamW (lr 3e-3, weight decay 5e-4) with PyTorch's OneCycleLR (20 % warm-up from lr/25, cosine annealing, beta1
cycled 0.95-0.85); batch 64; 6 epochs; plain cross-entropy.

Timings depend on how busy the machine is: the load average is printed first, and the process CPU time is printed
next to the wall time (with 2 busy threads, CPU time is about twice the wall time of an idle machine).

Measured on the 2-core dev machine while idle (64 px, 3200 images): histogram LR 0.28-0.375 (chance 0.25); the CNN
reaches 95 % at epoch 4-6 (12-21 s) and ends at 98.3-99.8 % after 6 epochs (17-21 s), 850-970 images/s. Flips or
flips plus rotations of up to 10 degrees made no measurable difference (rotations cost about 10 % more time).
At 28 px 6 epochs give 94.4 % and 10 epochs 95.8 %; at 128 px 6 epochs give 99.2 % at about 4x the cost per image.

    .venv/bin/python bench/phantom_baselines.py                      # 64 px, then 28 and 128 px
    .venv/bin/python bench/phantom_baselines.py --sizes 64 --aug none --epochs 8
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.data.phantom import DEFAULT_COUNT, PHANTOM_SIZES, generate_phantom  # noqa: E402


def split(labels: np.ndarray, patients: np.ndarray, seed: int, by: str = "patient") -> tuple[np.ndarray, ...]:
    """Seeded 70/15/15 split of the image indices, stratified by class; by "patient" keeps both images of a
    patient on one side (the honest split: the two share their anatomy and label), by "image" does not."""
    if by == "image":
        idx = np.arange(len(labels))
        train, rest = train_test_split(idx, train_size=0.7, stratify=labels, random_state=seed)
        val, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=seed)
        return train, val, test
    names, first = np.unique(patients, return_index=True)  # every patient has one class
    p_train, p_rest = train_test_split(names, train_size=0.7, stratify=labels[first], random_state=seed)
    rest_labels = labels[first][np.searchsorted(names, p_rest)]
    p_val, p_test = train_test_split(p_rest, test_size=0.5, stratify=rest_labels, random_state=seed)
    return tuple(np.flatnonzero(np.isin(patients, group)) for group in (p_train, p_val, p_test))


def histogram_features(images: np.ndarray, bins: int = 32) -> np.ndarray:
    """Per-image intensity histograms over 0..255, normalised to sum to one."""
    flat = images.reshape(len(images), -1).astype(np.int64) * bins // 256
    hist = np.stack([np.bincount(row, minlength=bins) for row in flat]).astype(np.float64)
    return hist / hist.sum(1, keepdims=True)


def histogram_lr_accuracy(images: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    feats = histogram_features(images)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(feats[train], labels[train])
    return float((model.predict(feats[test]) == labels[test]).mean())


class SmallCNN(nn.Module):
    """Blocks of 3x3 conv (no bias), BatchNorm, ReLU and 2x2 max-pool; global average pooling; a linear head."""

    def __init__(self, n_classes: int, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for w in widths:
            layers += [nn.Conv2d(c_in, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c_in = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


def augment(x: torch.Tensor, mode: str, gen: torch.Generator) -> torch.Tensor:
    """Random per-sample horizontal flips (and, for "flip+rot", rotations of up to 10 degrees) on a batch tensor."""
    if mode == "none":
        return x
    n = len(x)
    flip = (torch.rand(n, generator=gen) < 0.5).nonzero().squeeze(1)
    x = x.index_copy(0, flip, x[flip].flip(3))
    if mode == "flip+rot":
        angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(10)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros(n)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    return x


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    model.eval()
    pred = torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])
    model.train()
    return pred


def train_cnn(images: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray, n_classes: int,
              args: argparse.Namespace) -> dict[str, float]:
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    fmt = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format
    start, cpu_start = time.perf_counter(), time.process_time()
    x = torch.from_numpy(images).float().div_(255.0).unsqueeze(1)  # the whole dataset, one tensor
    if args.norm == "image":  # each image to zero mean and unit variance
        x = (x - x.mean((1, 2, 3), keepdim=True)) / x.std((1, 2, 3), keepdim=True).clamp_min(1e-3)
    else:  # one mean and standard deviation, from the training images
        x = (x - x[train].mean()) / x[train].std()
    x = x.contiguous(memory_format=fmt)
    y = torch.from_numpy(labels)
    x_tr, y_tr, x_te, y_te = x[train], y[train], x[test], y[test]
    model = SmallCNN(n_classes, tuple(args.widths)).to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    steps = args.epochs * math.ceil(len(x_tr) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=args.warmup)
    t_95, e_95, seen, train_s = float("nan"), 0, 0, 0.0
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(x_tr), generator=gen)
        for i in range(0, len(x_tr), args.batch):
            b = order[i : i + args.batch]
            xb = augment(x_tr[b], args.aug, gen).contiguous(memory_format=fmt)
            loss = F.cross_entropy(model(xb), y_tr[b], label_smoothing=args.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(b)
        train_s += time.perf_counter() - t0
        pred = predict(model, x_te)
        acc = float((pred == y_te).float().mean())
        elapsed = time.perf_counter() - start
        if acc >= 0.95 and math.isnan(t_95):
            t_95, e_95 = elapsed, epoch + 1
        print(f"    epoch {epoch + 1:2d}  loss {loss.item():.3f}  test acc {acc:.4f}  {elapsed:5.1f} s "
              f"(process CPU {time.process_time() - cpu_start:5.1f} s)", flush=True)
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.int64)
    confusion.index_put_((y_te, pred), torch.ones_like(y_te), accumulate=True)
    print(f"    confusion (rows: true, columns: predicted): {confusion.tolist()}")
    return {"t_95": t_95, "e_95": e_95, "acc": acc, "img_s": seen / train_s, "total": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 28, 128], choices=PHANTOM_SIZES)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--seed", type=int, default=0, help="phantom, split and training seed")
    parser.add_argument("--split", choices=["patient", "image"], default="patient",
                        help="keep a patient's images together (default) or split images independently")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    parser.add_argument("--wd", type=float, default=5e-4)
    parser.add_argument("--warmup", type=float, default=0.2, help="fraction of the steps spent warming up")
    parser.add_argument("--smoothing", type=float, default=0.0, help="label smoothing")
    parser.add_argument("--aug", choices=["none", "flip", "flip+rot"], default="flip")
    parser.add_argument("--norm", choices=["image", "dataset"], default="image")
    parser.add_argument("--memory-format", choices=["channels_last", "contiguous"], default="channels_last")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-cnn", action="store_true", help="only generate and fit the histogram baseline")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average {load}")
    print(f"recipe: {vars(args)}")
    for size in args.sizes:
        t0 = time.perf_counter()
        data = generate_phantom(size, args.count, args.seed)
        gen_s = time.perf_counter() - t0
        train, _, test = split(data.labels, data.patients, args.seed, args.split)
        lr_acc = histogram_lr_accuracy(data.images, data.labels, train, test)
        print(f"{size} px: {args.count} images generated in {gen_s:.2f} s; histogram logistic regression test "
              f"accuracy {lr_acc:.4f} (chance {1 / len(data.classes):.2f})", flush=True)
        if args.no_cnn:
            continue
        r = train_cnn(data.images, data.labels, train, test, len(data.classes), args)
        print(f"{size} px: CNN reached 95 % test accuracy after {r['t_95']:.1f} s (epoch {r['e_95']}); final test "
              f"accuracy {r['acc']:.4f}; {r['img_s']:.0f} training images/s; {r['total']:.1f} s in all", flush=True)


if __name__ == "__main__":
    main()
