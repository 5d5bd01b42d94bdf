"""Knowledge distillation on the built-in 64 px phantom: does a small CNN learn more from a ResNet-18 teacher than
from the labels alone?

Trains, through the job executor (core.jobs.execute) in a throwaway MEDLAB_HOME, on the CPU unless --device says
otherwise:
  1. the teacher: ResNet-18 from scratch (11.2 M parameters), --teacher-epochs epochs of the recommended recipe;
  2. for each student budget in --epochs and each of --seeds seeds (--seed, --seed + 1, ...):
     the student alone: the recommended recipe (small CNN, 0.1 M parameters);
     the student distilled from the teacher: the same recipe, epochs and seed, loss
     w * T^2 * KL(teacher_T || student_T) + (1 - w) * CE (Hinton, Vinyals & Dean 2015), --temperature, --weight.
For the first budget and seed it prints the result table (core.jobs.distillation.distillation_table): test accuracy
with its 95% Wilson interval (458 test images), parameters, size of the float32 safetensors weights, and ms per
image in PyTorch on the CPU at batch 1 (median of --repeats passes, the three models timed one after another);
then, for every budget and seed, the two students' accuracies, the difference and the paired exact McNemar test on
the test images where exactly one of the two is right, and the mean difference per budget. The seconds each run
took and the load average are printed too: timings depend on how busy the machine is.

The defaults are where distillation has something to teach: a teacher of 12 epochs (98.7% on the test split,
better than the student) and students of 3 and 6 epochs. A teacher of 6 epochs (96.7%) was weaker than the
6-epoch student alone (98.9%) and taught it nothing (bench figures in the README).

    .venv/bin/python bench/deploy_distillation.py                 # about 15 minutes on an idle 2-core CPU
    .venv/bin/python bench/deploy_distillation.py --seeds 3       # three seeds per student budget
    .venv/bin/python bench/deploy_distillation.py --epochs 3 --temperature 4 --weight 0.9

bench/deploy.py calls `run(args)` for `--part distillation` (after `add_arguments(parser)`).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import temporary_home  # noqa: E402  (also puts the repository root on sys.path)

DATASET = "phantom-64"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher-epochs", type=int, default=12, help="ResNet-18 teacher epochs (default 12)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 6],
                        help="student budgets: epochs of both students (default 3 and 6, the recipe's)")
    parser.add_argument("--seeds", type=int, default=1, help="student seeds per budget, from --seed (default 1)")
    parser.add_argument("--student", default="small_cnn", help="student model (default small_cnn)")
    parser.add_argument("--temperature", type=float, default=2.0, help="T (default 2, the recipe's)")
    parser.add_argument("--weight", type=float, default=0.5,
                        help="weight of the soft targets w (default 0.5, the recipe's)")
    parser.add_argument("--seed", type=int, default=0, help="the teacher's seed and the students' first")
    parser.add_argument("--device", default="cpu", help="where the three runs train (timing is always on the CPU)")
    parser.add_argument("--repeats", type=int, default=200, help="timed passes per model (default 200)")


def _train(store: Any, config: dict[str, Any]) -> Any:
    from core.jobs.control import create_run
    from core.jobs.execute import execute

    record = create_run(store, "default", config, status="running")
    final = execute(store, record.id)
    if final.status != "completed":
        raise SystemExit(f"{config.get('name')}: {final.status} ({final.message})")
    summary = final.summary_dict
    print(f"  {config['name']:<18} {final.epoch} epochs in {summary.get('seconds', float('nan')):6.1f} s, test "
          f"accuracy {summary.get('test_accuracy', float('nan')):.4f}", flush=True)
    return final


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train the teacher and the students, print the table, the verdict and the paired differences; returns
    {"rows", "paired", "verdict" (the first budget and seed), "differences" ([(epochs, seed, paired)]), "seconds"}."""
    import torch

    temporary_home()
    from core.data.catalog import open_dataset
    from core.evaluate.distillation import paired_difference
    from core.jobs.distillation import distillation_table
    from core.jobs.store import RunStore

    start = time.perf_counter()
    open_dataset("default", DATASET)  # generate the built-in data first
    print(f"Distillation on {DATASET}: load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads, runs on "
          f"{args.device}", flush=True)
    store = RunStore()
    recipe = {"dataset": DATASET, "device": args.device}
    teacher = _train(store, {**recipe, "seed": args.seed, "model": "resnet18", "epochs": args.teacher_epochs,
                             "name": "teacher"})
    epochs_list = [args.epochs] if isinstance(args.epochs, int) else list(args.epochs)
    differences, first = [], None
    for epochs in epochs_list:
        for seed in range(args.seed, args.seed + args.seeds):
            student = {**recipe, "seed": seed, "model": args.student, "epochs": epochs}
            alone = _train(store, {**student, "name": "student alone"})
            distilled = _train(store, {**student, "task": "distillation", "teacher_run": teacher.id,
                                       "temperature": args.temperature, "distill_weight": args.weight,
                                       "name": "student distilled"})
            if first is None:
                first = (epochs, seed, distillation_table(store, "default", distilled.id, repeats=args.repeats))
                _print_table(args, *first)
            differences.append((epochs, seed, paired_difference(store.run_dir(alone), store.run_dir(distilled)),
                                alone.summary_dict["test_accuracy"], distilled.summary_dict["test_accuracy"]))
    _print_differences(differences)
    seconds = time.perf_counter() - start
    print(f"({seconds:.0f} s in all; load average now {' '.join(f'{v:.2f}' for v in os.getloadavg())})")
    table = first[2]
    return {"rows": table.rows, "paired": table.paired, "verdict": table.verdict, "seconds": seconds,
            "differences": [(epochs, seed, paired) for epochs, seed, paired, _, _ in differences]}


def _print_table(args: argparse.Namespace, epochs: int, seed: int, table: Any) -> None:
    print(f"\nT = {args.temperature:g}, w = {args.weight:g}; students: {args.student}, {epochs} epochs, seed "
          f"{seed}; teacher: resnet18 from scratch, {args.teacher_epochs} epochs")
    print(f"{'model':<18} {'architecture':<12} {'test accuracy (95% CI)':<26} {'parameters':>11} "
          f"{'weights MB':>10} {'ms/image':>9}")
    for row in table.rows:
        accuracy = f"{row['accuracy']:.4f} ({row['ci_low']:.3f}-{row['ci_high']:.3f})"
        print(f"{row['role']:<18} {row['architecture']:<12} {accuracy:<26} {row['parameters']:>11,} "
              f"{row['weights_bytes'] / 1e6:>10.3f} {row['ms_per_image']:>9.3f}")
    teacher_row, _, student_row = table.rows
    print(f"student / teacher: {student_row['parameters'] / teacher_row['parameters']:.1%} of the parameters, "
          f"{student_row['weights_bytes'] / teacher_row['weights_bytes']:.1%} of the weights file, "
          f"{teacher_row['ms_per_image'] / student_row['ms_per_image']:.1f}x faster per image")
    print(table.verdict + "\n", flush=True)


def _print_differences(differences: list) -> None:
    """Each budget and seed: the two students' test accuracy, distilled minus alone, the discordant images and
    McNemar's p; then the mean difference per budget."""
    print(f"\n{'student epochs':>14} {'seed':>4} {'alone':>7} {'distilled':>9} {'difference':>10} "
          f"{'only distilled / only alone right':>34} {'McNemar p':>9}")
    for epochs, seed, paired, alone, distilled in differences:
        print(f"{epochs:>14} {seed:>4} {alone:>7.4f} {distilled:>9.4f} {100 * (distilled - alone):>+9.2f}pt "
              f"{paired['distilled_only']:>20} / {paired['alone_only']:<11} {paired['p_value']:>9.3g}")
    for epochs in dict.fromkeys(epochs for epochs, *_ in differences):
        gains = [100 * (distilled - alone) for budget, _, _, alone, distilled in differences if budget == epochs]
        print(f"{epochs} epochs: mean difference {sum(gains) / len(gains):+.2f} points over {len(gains)} seed(s) "
              f"(range {min(gains):+.2f} to {max(gains):+.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
