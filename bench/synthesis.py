"""Quality of MedLab's generative models on the built-in 64 px phantom, in one table.

For each model (conditional DCGAN, VAE trained on `normal` only, diffusion) the recommended recipe is trained in
this process through the shared loop (time capped by --minutes), its best weights loaded and its report built
as a real run's is (core.jobs.execute.write_report): FD and KID on MedLab features, precision, recall, density,
coverage, the two-sample accuracy (0.5 is best), the memorisation ratio and the training time. Then:
- GAN: train on synthetic, test on real (TSTR): the recommended classifier recipe trained only on the GAN's
  samples (as many per class as the real training split has), scored on the real test split, beside the same
  recipe trained on the real images. Target: >= 0.85 (the real-trained recipe reaches about 0.99).
- VAE: anomaly AUC of the lesion classes against `normal` from the reconstruction error. Target: >= 0.75.
- Diffusion: on a GPU it should beat the DCGAN on FD; on a CPU only a short run.

    python bench/synthesis.py [--models gan,vae,diffusion] [--minutes 10] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import ListSink, temporary_home

import torch

COLUMNS = ("fd", "kid", "precision", "recall", "density", "coverage", "two_sample_accuracy", "memorisation_ratio")
RECIPES = {  # the recommended recipe of each task, only the bench's choices added
    "gan": {"task": "gan"},
    "vae": {"task": "vae", "train_class": "normal"},
    "diffusion": {"task": "diffusion"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gan,vae,diffusion")
    parser.add_argument("--minutes", type=float, default=10.0, help="training time cap per model")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dataset", default="phantom-64")
    parser.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    args = parser.parse_args()
    temporary_home()

    from core.data.catalog import open_dataset

    open_dataset("default", args.dataset)  # generate the built-in data before any clock starts
    rows = []
    for name in args.models.split(","):
        config = {**RECIPES[name], "dataset": args.dataset, "device": args.device}
        if args.epochs:
            config["epochs"] = args.epochs
        task, report, seconds, epochs = train_and_report(config, args.minutes * 60)
        quality = report.get("quality") or {}
        rows.append((name, quality, seconds, epochs))
        print(f"{name}: {epochs} epochs in {seconds:.0f} s; " +
              ", ".join(f"{k} {quality[k]:.3f}" for k in COLUMNS if isinstance(quality.get(k), (int, float))))
        if name == "gan":
            tstr(task, args)
        if report.get("anomaly"):
            anomaly = report["anomaly"]
            print(f"  anomaly AUC against '{anomaly['normal_class']}': {anomaly['auc']:.3f} overall; " +
                  ", ".join(f"{c} {v:.3f}" for c, v in anomaly["per_class"].items()) + " (target >= 0.75)")
    print()
    print(f"device {args.device} ({torch.get_num_threads()} threads), dataset {args.dataset}, "
          f"training capped at {args.minutes:g} min per model")
    print("| model | " + " | ".join(COLUMNS) + " | training |")
    print("|" + "---|" * (len(COLUMNS) + 2))
    for name, quality, seconds, epochs in rows:
        cells = [f"{quality[k]:.3f}" if isinstance(quality.get(k), (int, float)) else "-" for k in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + f" | {seconds:.0f} s, {epochs} epochs |")


def train_and_report(config: dict, budget_s: float):
    """Train `config` through the shared loop for at most `budget_s` seconds (whole epochs), then build its
    report with the best weights as a real run does. Returns (task, report, training seconds, epochs)."""
    from core.jobs.execute import write_report
    from core.tasks import build_task, load_config
    from core.train.callbacks import Checkpointer, MetricsRecorder, PreviewSaver
    from core.train.checkpoint import load_weights
    from core.train.loop import Callback, LoopState, fit
    from core.train.run_folder import BEST_WEIGHTS

    class TimeCap(Callback):
        """Ends training after the first epoch that leaves less than an average epoch in the budget."""

        def on_epoch_end(self, task, state, metrics, improved) -> None:
            spent = time.perf_counter() - start
            print(f"  epoch {state.epoch}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                                                          if k.startswith("val_")) + f" ({spent:.0f} s)")
            if spent + spent / state.epoch > budget_s:
                state.stop_reason = "time cap"

    folder = Path(tempfile.mkdtemp(prefix="bench-synthesis-"))
    parsed = load_config(config)
    print(f"{config['task']}: {json.dumps({k: v for k, v in parsed.as_dict().items() if v not in ('', None)})}")
    start = time.perf_counter()
    task = build_task(parsed, "default")
    task.setup(torch.device(config["device"]))
    state = fit(task, LoopState(), [MetricsRecorder(ListSink()), PreviewSaver(folder), Checkpointer(folder), TimeCap()])
    seconds = time.perf_counter() - start
    task.load_weights(load_weights(folder / BEST_WEIGHTS, config["device"]))
    task.final_report()
    report = write_report(task, folder)
    print(f"  run folder {folder}")
    return task, report, seconds, state.epoch


def tstr(task, args) -> None:
    """Train on synthetic, test on real: the recommended classifier on the GAN's samples against the same
    recipe on the real training images, both scored on the real test split."""
    from core.data.catalog import open_dataset
    from core.synthesis.datasets import synthetic_train_real_test
    from core.synthesis.sampling import Samples, to_uint8
    from core.tasks import build_task, load_config
    from core.train.loop import LoopState, fit

    real = open_dataset("default", args.dataset)
    counts = real.info.class_counts["train"]
    sampler = task.sampler()
    labels = torch.tensor([i for i, c in enumerate(real.info.classes) for _ in range(counts[c])])
    start = time.perf_counter()
    images = sampler.generate(len(labels), seed=11, labels=labels)
    print(f"  TSTR: {len(images)} samples in {time.perf_counter() - start:.0f} s")
    samples = Samples(to_uint8(images), labels.numpy(), list(real.info.classes), "bench", "gan (dcgan)",
                      real.info.id, seed=11, temperature=1.0)
    synthetic = synthetic_train_real_test("default", real.info.id, samples, "bench TSTR")
    for label, dataset_id in (("real", real.info.id), ("synthetic only (TSTR)", synthetic.info.id)):
        classifier = build_task(load_config({"dataset": dataset_id, "device": args.device}), "default")
        classifier.setup(torch.device(args.device))
        fit(classifier, LoopState(), [])
        accuracy = classifier.evaluate("test")["test_accuracy"]
        print(f"  classifier trained on {label}: real test accuracy {accuracy:.4f} (last epoch)")


if __name__ == "__main__":
    main()
