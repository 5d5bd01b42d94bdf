"""Data commands: `datasets`, `import`, `inspect`."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.cli.output import print_json
from core.data.frame_policy import DEFAULT_FRAMES, FRAME_POLICIES, FRAMES_RANGE, MAX_STRIDE, FramePolicy
from core.data.preprocess import INTENSITY_POLICIES, RESIZE_POLICIES, Preprocessing
from core.errors import UserError

# Readers, the importer and Pillow are imported by the commands that use them, so `datasets` and `--help`
# start without them (see tests/core/cli/test_cli_imports.py).


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    datasets = commands.add_parser("datasets", parents=[common], help="list built-in and stored datasets")
    datasets.add_argument("--json", action="store_true", help="print a JSON list")
    datasets.set_defaults(handler=run_datasets)

    imp = commands.add_parser("import", parents=[common],
                              help="import a folder, ZIP, DICOM/NIfTI/image/video files or a MedMNIST .npz")
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    imp.add_argument("--name", help="dataset name (default: the file or folder name)")
    imp.add_argument("--labels", type=Path, metavar="CSV", help="CSV of filename,label (several labels: a|b)")
    imp.add_argument("--label-column", help="the CSV column holding the labels (default: a recognised name such "
                                            "as label, 'Finding Labels', class, diagnosis)")
    imp.add_argument("--file-column", help="the CSV column naming the image files (default: a recognised name "
                                           "such as filename, 'Image Index', path)")
    imp.add_argument("--patient-column", help="the CSV column naming the patient, so no patient spans two splits "
                                              "(default: a recognised name such as 'Patient ID', subject, case_id; "
                                              "'' for none; DICOM files group by PatientID by themselves)")
    imp.add_argument("--size", type=int, default=128, help="image size in pixels (default 128)")
    imp.add_argument("--channels", type=int, choices=(1, 3), help="1 greyscale or 3 RGB (default: from the data)")
    imp.add_argument("--resize", choices=sorted(RESIZE_POLICIES), help="how to make images square (default pad; "
                     "tile: native-resolution patches of --size px)")
    imp.add_argument("--intensity", choices=sorted(INTENSITY_POLICIES), help="window (default) or full_range: each "
                     "file's full sample range scaled to 0-1, no window")
    imp.add_argument("--for", dest="purpose", choices=("classification", "restoration"), default="classification",
                     help="restoration: keep native resolution and intensities (--resize tile --intensity "
                          "full_range; --size is the patch size)")
    imp.add_argument("--window", default="default", help="greyscale window: default, a preset, or C,W")
    imp.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split")
    imp.add_argument("--sequences", action="store_true", help="import sequences (multi-frame DICOM, DICOM series, "
                     "4D NIfTI, MP4/AVI videos, folders of numbered frames): one clip per sequence")
    imp.add_argument("--frames", metavar="T", help=f"with --sequences: frames per clip, {FRAMES_RANGE[0]} to "
                     f"{FRAMES_RANGE[1]} (default {DEFAULT_FRAMES})")
    imp.add_argument("--frame-policy", metavar="POLICY", help="with --sequences: uniform (default; T frames spread "
                     "over the whole sequence), cycle (over the first full cycle, found from the frames) or stride "
                     "(every S-th frame from the first, as EchoNet-Dynamic)")
    imp.add_argument("--stride", metavar="S", help=f"with --frame-policy stride: keep every S-th frame, 1 to "
                     f"{MAX_STRIDE} (default 2)")
    imp.add_argument("--json", action="store_true", help="print a JSON summary")
    imp.set_defaults(handler=run_import)

    inspect = commands.add_parser("inspect", parents=[common], help="show what the viewer shows for one file")
    inspect.add_argument("file", type=Path, metavar="FILE")
    inspect.add_argument("--window", help="preset name (lung, bone, ...), 'file', 'auto' or C,W")
    inspect.add_argument("--frame", type=int, default=None, help="frame to render (default: the middle one)")
    inspect.add_argument("--png", type=Path, metavar="OUT", help="write an 8-bit rendering here")
    inspect.add_argument("--json", action="store_true", help="print a JSON summary")
    inspect.set_defaults(handler=run_inspect)


def run_datasets(args: argparse.Namespace) -> int:
    from core.data.catalog import list_datasets
    from core.settings import CLASS_WORKSPACE

    infos = list_datasets(args.workspace, shared=CLASS_WORKSPACE)  # the class workspace's as "class:<id>", if any
    if args.json:
        print_json([info.public_dict() for info in infos])
        return 0
    for info in infos:
        classes = ", ".join(info.classes) if info.classes else "unlabelled"
        print(f"{info.id:28} {info.num_images:7d} images  {info.size}px  {info.task:14} {classes}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from core.data.importer import NothingImported, import_paths

    prep = _preprocessing(args)
    policy = _frame_policy(args)
    if args.labels and not args.labels.is_file():
        raise UserError(f"The labels file {args.labels} does not exist.")

    def progress(fraction: float, message: str) -> None:
        if sys.stderr.isatty() and not args.json:  # a progress line only for a person watching a terminal
            print(f"\r{fraction:4.0%} {message[:60]:60}", end="", file=sys.stderr, flush=True)

    try:
        summary = import_paths(args.workspace, args.paths, args.name, prep, args.labels, args.label_column,
                               args.seed, progress, file_column=args.file_column,
                               patient_column=args.patient_column, frame_policy=policy)
    except NothingImported as error:
        if args.json:  # the reasons still matter to a script
            print_json({"dataset_id": None, "images": 0, "skipped": [s.as_dict() for s in error.skipped]})
        raise
    if args.json:
        print_json(summary.as_dict())
        return 0
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if summary.frames:
        timing = f", {summary.frame_time_ms:.3g} ms apart" if summary.frame_time_ms else ""
        what = f"{summary.images} clip{'s' * (summary.images != 1)} of {summary.frames} frames{timing}"
    else:
        what = f"{summary.images} images"
    print(f"Imported {what} from {summary.files} files as '{summary.dataset_id}' "
          f"({summary.task}; classes: {', '.join(summary.classes) or 'none'}).")
    patients = summary.patients_per_split
    for split, count in summary.counts.items():
        grouped = f" images, {patients[split]} patient{'s' * (patients[split] != 1)}" if split in patients else ""
        print(f"  {split:5} {count}{grouped}")
    print(f"  patients grouped by {summary.grouped_by}" if summary.grouped_by else "  patients not grouped")
    for line in summary.preprocessing[:4 if summary.frames else 3]:  # (frames,) size, channels, intensity
        print(f"  {line}")
    for warning in summary.warnings:
        print(f"  warning: {warning}")
    for skipped in summary.skipped:
        print(f"  skipped {skipped['file']}: {skipped['reason']}")
    return 0


def _preprocessing(args: argparse.Namespace) -> Preprocessing:
    """The import policy: classification defaults, or native resolution and intensities for restoration."""
    restoration = args.purpose == "restoration"
    if restoration and args.resize not in (None, "tile"):
        raise UserError(f"--for restoration keeps native resolution (--resize tile), not --resize {args.resize}.")
    if restoration and args.intensity not in (None, "full_range"):
        raise UserError("--for restoration keeps each file's own intensities (--intensity full_range), not a window.")
    intensity = args.intensity or ("full_range" if restoration else "window")
    if intensity == "full_range" and args.window != "default":
        raise UserError("--window does not apply with full-range intensities: values keep the file's own scale.")
    resize = args.resize or ("tile" if restoration else "pad")
    return Preprocessing(size=args.size, channels=args.channels, resize=resize, window=args.window,
                         intensity=intensity)


def _frame_policy(args: argparse.Namespace) -> FramePolicy | None:
    """The frame policy of `--sequences` (None for an import of images); UserError naming the flag otherwise."""
    given = [flag for flag, value in (("--frames", args.frames), ("--frame-policy", args.frame_policy),
                                      ("--stride", args.stride)) if value is not None]
    if not args.sequences:
        if given:
            raise UserError(f"{' and '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to sequences: add "
                            "--sequences.")
        return None
    if args.purpose == "restoration":
        raise UserError("--sequences imports clips for sequence classification; it does not go with --for restoration.")
    mode = (args.frame_policy or "uniform").strip().lower()
    if mode not in FRAME_POLICIES:
        raise UserError(f"--frame-policy must be one of {', '.join(FRAME_POLICIES)}, not '{args.frame_policy}'.")
    if args.stride is not None and mode != "stride":
        raise UserError("--stride applies only with --frame-policy stride.")
    frames = _whole_flag("--frames", args.frames, DEFAULT_FRAMES, FRAMES_RANGE)
    stride = _whole_flag("--stride", args.stride, 2 if mode == "stride" else 1, (1, MAX_STRIDE))
    return FramePolicy(mode, frames, stride)


def _whole_flag(flag: str, value: str | None, default: int, bounds: tuple[int, int]) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise UserError(f"{flag} must be a whole number from {bounds[0]} to {bounds[1]}, not '{value}'.") from None
    if not bounds[0] <= number <= bounds[1]:
        raise UserError(f"{flag} must be a whole number from {bounds[0]} to {bounds[1]}, not {number}.")
    return number


def run_inspect(args: argparse.Namespace) -> int:
    from core.data.readers import read_medical_image
    from core.data.windowing import frame_window, render_8bit, resolve_window

    if not args.file.is_file():
        raise UserError(f"{args.file} does not exist.")
    image = read_medical_image(args.file.read_bytes(), args.file.name)
    frame = image.frame_count // 2 if args.frame is None else args.frame
    if not 0 <= frame < image.frame_count:
        raise UserError(f"{args.file.name} has {image.frame_count} frames; --frame must be 0 to {image.frame_count - 1}.")
    window = resolve_window(image, args.window) if args.window else image.default_window
    if args.png:
        _write_png(render_8bit(image, frame, None if image.is_color and not args.window else window), args.png)
    result = {
        "file": args.file.name, "format": image.format, "shape": list(image.frames.shape),
        "frames": image.frame_count, "frame": frame, "frame_time_ms": image.frame_time_ms,
        "modality": image.modality, "photometric": image.photometric,
        "color": image.is_color, "bits": image.bits, "window": window.as_dict(),
        "file_windows": [w.as_dict() for w in image.file_windows],
        "frame_window": None if image.is_color else frame_window(image, frame, window).as_dict(),  # as this frame gets it
        "inverted": image.invert and not image.is_color,  # MONOCHROME1 or Presentation LUT Shape INVERSE
        "spacing": list(image.spacing) if image.spacing else None, "warnings": image.warnings,
        "png": str(args.png) if args.png else None,
    }
    if args.json:
        print_json(result)
    else:
        for key, value in result.items():
            print(f"{key:13} {value}")
    return 0


def _write_png(pixels, out: Path) -> None:
    from PIL import Image

    if out.parent and not out.parent.exists():
        raise UserError(f"The folder {out.parent} does not exist.")
    tmp = out.with_name(f".{out.name}.tmp")
    Image.fromarray(pixels).save(tmp, format="PNG")
    os.replace(tmp, out)
