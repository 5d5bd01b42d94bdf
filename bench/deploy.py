"""Deployment benchmarks (issue 15): INT8 against float ONNX, and knowledge distillation.

One function per part; each prints its figures with the conditions they were measured under.

    int8          INT8 against float ONNX in onnxruntime, milliseconds per image at batch 1 and 32 (warm-up, then
                  all models of a table timed in turn, median run), on (a) the recommended recipe trained on the
                  built-in phantom-64 (test accuracy and agreement with float too) and (b) ResNet-18 at 224 px
                  with random weights (calibrated on phantom images resized to 224 px, 3 channels). Rows: MedLab's
                  choice (core.evaluate.quantize defaults) and the alternatives it was chosen from, then the
                  session options (threads, graph optimisation level). Target: INT8 at least 1.5 times faster
                  than float at batch 1 and 32 on both, test accuracy within 1 point on (a).
    distillation  bench/deploy_distillation.py (its add_arguments(parser) and run(args)), when that file exists.

    python bench/deploy.py [--part int8|distillation|all] [--budget 3] [--calibration 256] [--quick]
"""
from __future__ import annotations

import argparse
import contextlib
import io

from _common import machine_conditions, temporary_home


def conditions() -> str:
    """The machine a figure was measured on: CPU model, cores, load average, onnxruntime, and the CPU's 8-bit
    dot-product instructions (core.evaluate.cpu_int8: they decide how much INT8 gains)."""
    import onnxruntime

    from core.evaluate.cpu_int8 import dot_product_instructions

    found = dot_product_instructions()
    instructions = "unknown" if found is None else ", ".join(found) or "none (AVX2 multiply-adds)"
    return machine_conditions(f"onnxruntime {onnxruntime.__version__}; 8-bit dot-product instructions: {instructions}")


def configurations(quick: bool) -> dict[str, dict | str]:
    """Row name -> keyword options of core.evaluate.quantize.static_int8, or "dynamic"."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    rows: dict[str, dict | str] = {
        "MedLab: static QDQ, per-channel, u8 act.": {},
        "dynamic (the old export)": "dynamic",
        "static, plain ONNX Runtime recipe": {"pad_channels": False, "keep_prefix_float": False},
        "static, no channel padding": {"pad_channels": False},
        "static, normalisation quantised": {"keep_prefix_float": False},
        "static, QOperator format": {"quant_format": QuantFormat.QOperator},
        "static, per-tensor weights": {"per_channel": False},
    }
    if not quick:
        rows.update({"static, reduce_range (7-bit weights)": {"reduce_range": True},
                     "static, s8 activations": {"activation_type": QuantType.QInt8},
                     "static, Entropy calibration": {"calibrate_method": CalibrationMethod.Entropy},
                     "static, Percentile calibration": {"calibrate_method": CalibrationMethod.Percentile}})
    return rows


def quantised_models(model: bytes, calibration: list, rows: dict[str, dict | str]) -> dict[str, bytes]:
    from core.evaluate.quantize import dynamic_int8, static_int8

    made = {"float ONNX": model}
    for name, options in rows.items():
        with contextlib.redirect_stdout(io.StringIO()):   # the histogram calibrators print their progress
            made[name] = dynamic_int8(model) if options == "dynamic" else static_int8(model, calibration,
                                                                                       **options)[0]
    return made


def time_table(models: dict[str, bytes], images, budget: float, title: str, accuracy: dict | None = None,
               threads: int = 0) -> None:
    """Print ms per image at batch 1 and 32 for every model (timed in turn), the speed-up over float, size, and
    the test accuracy / agreement columns when given."""
    from core.evaluate.int8_compare import TIMING_BATCHES, ms_per_image, session

    sessions = [session(data, threads) for data in models.values()]
    timed = {batch: ms_per_image(sessions, images, batch, budget_s=budget * len(sessions) / 2, max_rounds=60)
             for batch in TIMING_BATCHES}
    print(f"\n{title}; onnxruntime threads: {threads or 'default'}")
    print(f"  {'model':42} {'MB':>6} " + " ".join(f"{'ms b' + str(b):>8} {'x':>5}" for b in TIMING_BATCHES)
          + ("  accuracy  agree" if accuracy else ""))
    for index, (name, data) in enumerate(models.items()):
        cells = []
        for batch in TIMING_BATCHES:
            figures = timed[batch][0]
            cells.append(f"{figures[index]:8.3f} {figures[0] / figures[index]:5.2f}")
        extra = ""
        if accuracy:
            value, agree = accuracy[name]
            extra = f"  {'   —  ' if value != value else f'{value:.4f}'}  {agree:.3f}"
        print(f"  {name:42} {len(data) / 1e6:6.2f} " + " ".join(cells) + extra)
    print("  repeats: " + ", ".join(f"batch {b}: {timed[b][1]}" for b in TIMING_BATCHES)
          + "; x = float ms / this model's ms (same run)")


def session_options_table(models: dict[str, bytes], images, budget: float) -> None:
    """Float and MedLab's INT8 under other onnxruntime session options: does the comparison depend on them?"""
    import onnxruntime as ort

    from core.evaluate.int8_compare import TIMING_BATCHES, ms_per_image

    named = ort.GraphOptimizationLevel
    levels = {"basic": named.ORT_ENABLE_BASIC, "extended": named.ORT_ENABLE_EXTENDED, "all": named.ORT_ENABLE_ALL}
    print("  session options (float ms / INT8 ms = x):")
    for threads in (0, 1):
        for level_name, chosen in levels.items():
            sessions = []
            for data in models.values():
                options = ort.SessionOptions()
                options.log_severity_level, options.intra_op_num_threads = 3, threads
                options.graph_optimization_level = chosen
                sessions.append(ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]))
            cells = []
            for batch in TIMING_BATCHES:
                (fl, q), _ = ms_per_image(sessions, images, batch, budget_s=budget / 2)
                cells.append(f"batch {batch}: {fl:.3f} / {q:.3f} = {fl / q:.2f}x")
            print(f"    threads {'default' if threads == 0 else threads:7} optimisation {level_name:8} "
                  + "; ".join(cells))


def part_int8(args: argparse.Namespace) -> None:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from core.data.catalog import open_dataset
    from core.evaluate.export import calibration_batches, onnx_bytes, verified_onnx_bytes
    from core.evaluate.int8_compare import decisions, session
    from core.evaluate.predict import load_predictor
    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore
    from core.models import build_classifier
    from core.tasks.tensors import SplitTensors

    print(f"conditions: {conditions()}")
    store = RunStore()
    record = create_run(store, "default", {"dataset": "phantom-64"}, status="running")
    print(f"(a) training the recommended recipe on phantom-64: {execute(store, record.id).status}")
    predictor = load_predictor(store.run_folder(record.id))
    model = onnx_bytes(predictor)
    calibration = list(calibration_batches(predictor, "default", "phantom-64", args.calibration))
    dataset = open_dataset("default", "phantom-64")
    test = SplitTensors(dataset, dataset.indices("test"), torch.device("cpu"), predictor.image_size)
    images = np.concatenate([batch.numpy() for batch, _ in test.batches(256)])
    labels = test.labels.numpy()
    rows = configurations(args.quick)
    models = quantised_models(model, calibration, rows)
    chosen = {name: decisions(session(data).run(None, {"image": images})[0], False, None)
              for name, data in models.items()}
    accuracy = {name: (float((pred == labels).mean()), float((pred == chosen["float ONNX"]).mean()))
                for name, pred in chosen.items()}
    time_table(models, images[:64], args.budget,
               f"(a) recommended recipe (small_cnn, {predictor.image_size} px, 1 channel), {len(labels)} test "
               f"images, {sum(map(len, calibration))} calibration images from the training split", accuracy,
               args.threads)
    medlab = next(iter(rows))
    session_options_table({"float": model, "int8": models[medlab]}, images[:64], args.budget)
    change = accuracy[medlab][0] - accuracy["float ONNX"][0]
    print(f"  accuracy change of MedLab's INT8: {100 * change:+.2f} points (target: within 1 point)")

    size = args.resnet_size
    torch.manual_seed(0)
    resnet = build_classifier("resnet18", 3, 4).eval()

    def phantom_at(batch: torch.Tensor) -> np.ndarray:   # grey 64 px phantom -> 3-channel `size` px, [0, 1]
        return F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1) \
            .repeat(1, 3, 1, 1).numpy()

    def example(batch: int, seed: int) -> torch.Tensor:
        return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))

    model = verified_onnx_bytes(resnet, example, "image", "resnet18")
    keep = max(1, args.resnet_calibration // len(calibration[0]))   # batches of CALIBRATION_BATCH images
    calibration = [phantom_at(torch.from_numpy(batch)) for batch in calibration[:keep]]
    images = phantom_at(torch.from_numpy(images[:64]))
    rows = {name: options for name, options in configurations(True).items()
            if "normalisation" not in name and "QOperator" not in name}
    models = quantised_models(model, calibration, rows)
    reference = decisions(session(model).run(None, {"image": images})[0], False, None)
    agreement = {name: (float("nan"), float((decisions(session(data).run(None, {"image": images})[0], False, None)
                                             == reference).mean())) for name, data in models.items()}
    time_table(models, images, args.budget, f"(b) ResNet-18, random weights, {size} px, 3 channels, "
               f"{sum(map(len, calibration))} calibration images (phantom training images resized); agreement on 64 "
               "phantom test images (accuracy is meaningless with random weights)", agreement,
               args.threads)
    session_options_table({"float": model, "int8": models[next(iter(rows))]}, images, args.budget)
    print(f"conditions after: {conditions()}")


def distillation_part():
    """bench/deploy_distillation.py as a module (imported only when its part is asked for), or None while that
    file does not exist. Its contract: add_arguments(parser), then run(args)."""
    try:
        import deploy_distillation
    except ModuleNotFoundError as error:
        if error.name != "deploy_distillation":
            raise
        return None
    return deploy_distillation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("int8", "distillation", "all"), default="all")
    parser.add_argument("--budget", type=float, default=3.0,
                        help="seconds of timed runs per model pair and batch size (a table of n models gets n/2 times)")
    parser.add_argument("--calibration", type=int, default=256, help="calibration images for (a)")
    parser.add_argument("--resnet-calibration", type=int, default=64, help="calibration images for (b)")
    parser.add_argument("--resnet-size", type=int, default=224)
    parser.add_argument("--quick", action="store_true", help="fewer alternatives (no histogram calibrators)")
    parser.add_argument("--threads", type=int, default=0,
                        help="onnxruntime intra-op threads for the main tables (0: its default, one per core)")
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--part", choices=("int8", "distillation", "all"), default="all")
    part = first.parse_known_args()[0].part
    distillation = distillation_part() if part in ("distillation", "all") else None
    if distillation is not None:
        distillation.add_arguments(parser)   # its own options (epochs, temperature, ...)
    args = parser.parse_args()
    temporary_home()
    if part in ("int8", "all"):
        part_int8(args)
    if part in ("distillation", "all"):
        if distillation is None:
            print("distillation: bench/deploy_distillation.py is not there yet; nothing measured.")
        else:
            print("\n(distillation)", flush=True)
            distillation.run(args)


if __name__ == "__main__":
    main()
