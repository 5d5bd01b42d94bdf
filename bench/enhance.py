"""Enhancement speed and quality.

1. Speed: a 1024x1024 greyscale image through the default learned denoiser (residual U-Net), warm, as the Enhance
   page runs it (tiled at 512 px with overlap). Target: <= 1 s on a 2-core CPU; <= 30 ms on a GPU.
2. Quality on 16-bit crops of real images of several modalities, end to end through the app: the real sample
   images that installed packages ship (pydicom's CT, MR, ultrasound and nuclear-medicine test files, scikit-image's
   fundus photograph; no CR/DX radiograph ships offline with them) are each scaled once by their own
   minimum..maximum into 16-bit PNGs and cut into 64 px blocks. A few blocks of each source are held out; the rest
   are imported with `import --for restoration` (native 64 px patches, full-range intensities) and a denoiser is
   trained on them with the recommended recipe. Each held-out crop gets Gaussian noise sigma 0.1 on [0, 1]
   (of 0..65535), is written as a 16-bit PNG and enhanced with `core.enhance.run.enhance` by the trained run
   and by non-local means; PSNR/SSIM on the 16-bit range, per modality and on average.
   Target: the learned denoiser is at least level with non-local means on average.
3. (--tiles) The recipe trained on the built-in real image tiles, compared with the classical denoisers on its
   own held-out test tiles (the run's report).  4. (--sr) Super-resolution x2 next to bicubic and Lanczos there.
   Both train the recommended recipe as `recipe()` resolves it for the device (--device), with --set overrides,
   and print wall seconds, the process's CPU seconds and the load average (other work on a shared CPU slows the
   wall clock; CPU seconds / threads is what the run would take on an idle machine).
   Target: on a 2-core CPU each finishes within about 5 minutes, the denoiser above non-local means.

    python bench/enhance.py [--epochs 8] [--no-quality] [--tiles] [--sr] [--tile-epochs N] [--set key=value ...]
    python bench/enhance.py --quick [--device cpu]   # only 3 and 4: the recipe check on this machine
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from _common import temporary_home

import numpy as np
import torch


def speed(device: str) -> None:
    from core.enhance.learned import restore_image
    from core.models.restoration import build_restorer

    model = build_restorer("resunet", 1).to(device).eval()
    image = np.random.default_rng(0).random((1024, 1024)).astype(np.float32)
    if device == "cpu":
        for _ in range(2):
            restore_image(model, image)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            restore_image(model, image)
            times.append(time.perf_counter() - start)
        print(f"speed: 1024x1024 through the default denoiser as the Enhance page runs it (CPU, {torch.get_num_threads()} threads): "
              f"median {statistics.median(times):.3f} s (target <= 1 s)")
        return
    tensor = torch.from_numpy(image)[None, None].to(device)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(5):
            model(tensor)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(20):
            model(tensor)
        torch.cuda.synchronize()
    print(f"speed: 1024x1024 through the default denoiser on {torch.cuda.get_device_name()}: "
          f"{(time.perf_counter() - start) / 20 * 1000:.1f} ms (bf16; target <= 30 ms)")


def train(task: str, device: str, overrides: dict) -> dict:
    """Train the recipe for `task` on the built-in tiles through the app's own run path; the run's report."""
    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore
    from core.tasks import load_config

    store = RunStore()
    config = load_config({"task": task, "dataset": "real-tiles-128", "device": device, **overrides})
    record = create_run(store, "default", config.as_dict(), status="running")
    load_before, start, cpu_start = os.getloadavg()[0], time.perf_counter(), time.process_time()
    final = execute(store, record.id)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"{task} recipe on {device}: epochs {config.epochs}, patch {config.patch_size}, batch {config.batch_size}, "
          f"at most {config.max_steps_per_epoch} steps per epoch ({final.steps_per_epoch} here)")
    print(f"  trained {final.epoch} epochs in {wall:.0f} s wall, {cpu:.0f} s CPU on {torch.get_num_threads()} "
          f"threads (load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; {final.status}); "
          f"best val PSNR {final.best_value:.2f} dB")
    return json.loads((store.run_dir(final) / "report.json").read_text())


def show(report: dict) -> None:
    print(f"  held-out test tiles: {report['n_images']}, {report['degradation']}")
    for row in report["comparison"]:
        print(f"  {row['method']:34} PSNR {row['psnr']:6.2f} dB   SSIM {row['ssim']:.4f}   "
              f"{row['seconds_per_image'] * 1000:7.1f} ms/image")


MODALITY_SOURCES = (  # (modality, pydicom test file or skimage name)
    ("CT", "pydicom:693_J2KI.dcm"), ("CT", "pydicom:CT_small.dcm"),
    ("MR", "pydicom:examples_overlay.dcm"), ("MR", "pydicom:MR_small.dcm"),
    ("US", "pydicom:examples_palette.dcm"), ("US", "pydicom:examples_jpeg2k.dcm"),
    ("NM planar", "pydicom:JPEG2000.dcm"),
    ("fundus", "skimage:retina"),
)
BLOCK, HELD_OUT, MAX_TRAIN, MIN_STD, SIGMA = 64, 3, 60, 0.02, 0.1


def _grey_source(source: str) -> np.ndarray:
    """The source image as one greyscale float frame in its own values (colour by luminance, BT.601)."""
    from core.data.preprocess import LUMA
    from core.data.readers import read_medical_image

    kind, name = source.split(":")
    if kind == "pydicom":
        from pydicom.data import get_testdata_file

        path = get_testdata_file(name, download=False)
        image = read_medical_image(open(path, "rb").read(), name)
        frame = image.frames[image.frame_count // 2]
    else:
        import skimage.data

        frame = np.asarray(getattr(skimage.data, name)(), dtype=np.float32)
    return frame @ LUMA if frame.ndim == 3 else frame


def sixteen_bit_blocks() -> dict[str, list[tuple[str, np.ndarray, bool]]]:
    """modality -> [(name, 64 px block as uint16 on the source's own min..max, held out?)]."""
    found: dict[str, list[tuple[str, np.ndarray, bool]]] = {}
    for modality, source in MODALITY_SOURCES:
        grey = _grey_source(source)
        low, high = float(grey.min()), float(grey.max())
        unit = (grey - low) / (high - low)
        blocks = [(f"{source.split(':')[1].split('.')[0]}-{top}-{left}", unit[top:top + BLOCK, left:left + BLOCK])
                  for top in range(0, unit.shape[0] - BLOCK + 1, BLOCK)
                  for left in range(0, unit.shape[1] - BLOCK + 1, BLOCK)]
        blocks = [(name, block) for name, block in blocks if block.std() >= MIN_STD]  # not empty background
        held = set(range(len(blocks))[len(blocks) // 2::max(1, len(blocks) // (2 * HELD_OUT))][:HELD_OUT]) \
            if len(blocks) > HELD_OUT else {len(blocks) - 1}
        train = [i for i in range(len(blocks)) if i not in held]
        train = train[::max(1, len(train) // MAX_TRAIN)][:MAX_TRAIN]
        for i in sorted(held | set(train)):
            name, block = blocks[i]
            found.setdefault(modality, []).append((name, np.rint(block * 65535).astype(np.uint16), i in held))
    return found


def _png16(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def modality_table(epochs: int) -> None:
    """Section 2: train through the app on native 16-bit patches, compare with non-local means on held-out crops."""
    from core.data.importer import import_uploads
    from core.data.preprocess import Preprocessing
    from core.data.readers import read_medical_image
    from core.enhance.run import enhance, scores
    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore

    blocks = sixteen_bit_blocks()
    uploads = [(f"{modality}/{name}.png", _png16(block)) for modality, items in blocks.items()
               for name, block, held in items if not held]
    start = time.perf_counter()
    summary = import_uploads("default", uploads, "modality-crops-16bit",
                             Preprocessing(size=BLOCK, resize="tile", intensity="full_range"))
    store = RunStore()
    record = create_run(store, "default", {"task": "denoise", "dataset": summary.dataset_id, "epochs": epochs,
                                           "patch_size": BLOCK}, status="running")
    final = execute(store, record.id)
    print(f"16-bit modality crops: trained on {summary.images} native {BLOCK} px patches of {len(uploads)} blocks "
          f"({', '.join(f'{m} {sum(not h for *_, h in items)}' for m, items in blocks.items())}), {final.epoch} "
          f"epochs in {time.perf_counter() - start:.0f} s ({final.status}); best val PSNR {final.best_value:.2f} dB")
    rows: dict[str, list[dict[str, float]]] = {}
    for modality, items in blocks.items():
        for index, (name, block, held) in enumerate(items):
            if not held:
                continue
            clean = block.astype(np.float64) / 65535
            noisy = np.clip(clean + np.random.default_rng(index).normal(0, SIGMA, clean.shape), 0, 1)
            image = read_medical_image(_png16(np.rint(noisy * 65535).astype(np.uint16)), f"{name}.png")
            reference = block.astype(np.float32)
            row = {"span_low": float(clean.min()), "span_high": float(clean.max())}
            learned = enhance(image, 0, record.id, folder=store.run_dir(record))
            nlm = enhance(image, 0, "nl_means")
            for key, result in (("learned", learned), ("nlm", nlm)):
                found = scores(result.output.frames[0], reference, result.data_range)
                row[f"{key}_psnr"], row[f"{key}_ssim"] = found["psnr"], found["ssim"]
                row[f"{key}_s"] = result.seconds
            row["input_psnr"] = scores(image.frames[0], reference, learned.data_range)["psnr"]
            rows.setdefault(modality, []).append(row)
    print(f"  held-out 16-bit crops ({BLOCK} px), Gaussian noise sigma {SIGMA} of 0..65535, PSNR/SSIM on 0..65535:")
    print(f"  {'modality':10} {'crops':>5} {'clean span':>12} {'input':>7} {'NL means':>15} {'learned':>15} "
          f"{'learned-NLM':>11}")
    means = []
    for modality, found in rows.items():
        mean = {k: float(np.mean([r[k] for r in found])) for k in found[0]}
        means.append(mean)
        _print_row(modality, len(found), mean)
    overall = {k: float(np.mean([m[k] for m in means])) for k in means[0]}
    _print_row("average", sum(len(f) for f in rows.values()), overall)
    per_crop = np.mean([r["learned_s"] for f in rows.values() for r in f]), np.mean([r["nlm_s"] for f in rows.values()
                                                                                      for r in f])
    print(f"  seconds per crop: learned {per_crop[0]:.3f} (loading the run included), non-local means "
          f"{per_crop[1]:.3f}; average of modality "
          f"means: learned minus non-local means {overall['learned_psnr'] - overall['nlm_psnr']:+.2f} dB "
          "(target >= 0 dB)")


def _print_row(name: str, count: int, m: dict[str, float]) -> None:
    print(f"  {name:10} {count:5d} {m['span_low']:5.2f}-{m['span_high']:4.2f} {m['input_psnr']:6.2f} "
          f"{m['nlm_psnr']:6.2f}/{m['nlm_ssim']:.3f} {m['learned_psnr']:6.2f}/{m['learned_ssim']:.3f} "
          f"{m['learned_psnr'] - m['nlm_psnr']:+10.2f}")


def _override(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    return key, json.loads(value) if value[:1] in "0123456789-[{tfn" else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the 16-bit modality denoiser")
    parser.add_argument("--tile-epochs", type=int, default=None, help="epochs of the --tiles and --sr runs "
                        "(default: the recipe's for the device)")
    parser.add_argument("--set", action="append", default=[], type=_override, metavar="KEY=VALUE",
                        help="a config override for the --tiles and --sr runs, e.g. patch_size=48")
    parser.add_argument("--device", default="auto", help="device of the --tiles and --sr runs")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for PyTorch (default: its own choice; "
                        "1 measures CPU seconds fairly on a CPU shared with other work)")
    parser.add_argument("--no-quality", action="store_true", help="skip the 16-bit modality table")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--tiles", action="store_true", help="also the recipe on the built-in real tiles")
    parser.add_argument("--sr", action="store_true", help="also super-resolution x2 on the built-in real tiles")
    parser.add_argument("--quick", action="store_true", help="only --tiles and --sr: the recipe check")
    args = parser.parse_args()
    temporary_home()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = dict(args.set) | ({"epochs": args.tile_epochs} if args.tile_epochs else {})
    if not (args.no_speed or args.quick):
        speed("cpu")
        if torch.cuda.is_available():
            speed("cuda")
    if not (args.no_quality or args.quick):
        modality_table(args.epochs)
    if args.tiles or args.quick:
        report = train("denoise", args.device, overrides)
        show(report)
        rows = {row["method"]: row["psnr"] for row in report["comparison"]}
        learned = next(v for k, v in rows.items() if k.startswith("MedLab"))
        print(f"  learned denoiser minus non-local means: {learned - rows['Non-local means']:+.2f} dB (target > 0 dB)")
    if args.sr or args.quick:
        show(train("super_resolution", args.device, overrides))


if __name__ == "__main__":
    main()
