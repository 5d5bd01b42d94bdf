"""`enhance`: one image through a classical method or a trained restoration run; `enhance --compare`: methods and
trained runs side by side on degraded copies of clean images (PSNR, SSIM, seconds per image)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core.enhance.classical import CLASSICAL_METHODS, method_spec
from core.cli.output import print_json
from core.errors import UserError

# Readers, writers and trained runs (pydicom, torch) are imported by the command when it runs, so `--help`
# starts without them (see tests/core/cli/test_cli_imports.py).

OUTPUTS = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".dcm": "dicom"}


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("enhance", parents=[common],
                                 help="denoise, sharpen or upscale one image (classical method or trained run), or --compare methods")
    parser.add_argument("method", metavar="METHOD", help=f"one of {', '.join(CLASSICAL_METHODS)}, or a run id "
                        "(with --compare: a comma-separated list of them, or 'all')")
    parser.add_argument("input", metavar="IN", help="PNG, JPEG, TIFF or DICOM (with --compare: a dataset id, whose "
                        "validation images are used, or clean image files or a folder of them)")
    parser.add_argument("output", type=Path, metavar="OUT", nargs="?",
                        help=".png, .tif or .dcm (DICOM needs a DICOM input); not used with --compare")
    parser.add_argument("--compare", action="store_true", help="compare METHODs on degraded copies of IN's clean "
                        "images instead of enhancing one image: PSNR, SSIM and seconds per image, best first")
    parser.add_argument("--degradation", default="gaussian", help="with --compare: the simulated degradation, "
                        "gaussian, poisson or blur (default gaussian)")
    parser.add_argument("--images", type=int, default=6, help="with --compare: how many images (default 6)")
    parser.add_argument("--scale", type=int, choices=(2, 4), help="upscaling factor (bicubic, lanczos; with "
                        "--compare: downsample by it first, for super-resolution)")
    parser.add_argument("--sigma", type=float, help="noise level on [0, 1] for denoisers that take one (with "
                        "--compare: of the simulated noise, default 0.1)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="any method parameter")
    parser.add_argument("--frame", type=int, default=None, help="frame of a multi-frame file (default: middle)")
    parser.add_argument("--reference", type=Path, help="a clean image of the output's size: report PSNR and SSIM")
    parser.add_argument("--bits", type=int, choices=(8, 16), help="PNG/TIFF bit depth (default: the input's own, "
                        "with its own values; 8 or 16 fill that depth's range)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run_enhance)


def run_enhance(args: argparse.Namespace) -> int:
    if args.compare:
        return run_compare(args)
    if args.output is None:
        raise UserError("Give an output file (OUT): .png, .tif or .dcm.")
    args.input = Path(args.input)
    from core.data.readers import read_medical_image
    from core.enhance.run import enhance
    from core.enhance.writers import enhanced_dicom, native_bits, native_png, native_tiff
    from core.evaluate.export import write_atomically

    fmt = OUTPUTS.get(args.output.suffix.lower())
    if fmt is None:
        raise UserError(f"{args.output.name}: the output must end in .png, .tif, .tiff or .dcm.")
    if not args.input.is_file():
        raise UserError(f"{args.input} does not exist.")
    if args.output.parent and not args.output.parent.exists():
        raise UserError(f"The folder {args.output.parent} does not exist.")
    image = read_medical_image(args.input.read_bytes(), args.input.name)
    if fmt == "dicom" and image.dicom is None:
        raise UserError(f"A DICOM output needs a DICOM input; {args.input.name} is {image.format.upper()}.")
    params = _params(args)
    frame = image.frame_count // 2 if args.frame is None else args.frame
    result = enhance(image, frame, args.method, params, args.scale or 1)
    values = result.output.frames[0]
    if fmt == "dicom":
        data = enhanced_dicom(image.dicom, values, description=f"{args.method} ({', '.join(result.notes) or 'MedLab'})",
                              scale=values.shape[0] // result.input.height, frame=result.frame)
    else:  # the input's own values and depth, no display window
        data = (native_png if fmt == "png" else native_tiff)(values, result.data_range, args.bits)
    write_atomically(args.output, data)
    rng = result.data_range
    bits_out = None if fmt == "dicom" else args.bits or (32 if fmt == "tiff" and rng.bits is None else native_bits(rng))
    summary = {"method": args.method, "input": args.input.name, "output": str(args.output), "format": fmt,
               "shape_in": list(result.input.frames.shape[1:]), "shape_out": list(values.shape),
               "seconds": result.seconds, "params": result.params, "notes": result.notes,
               "data_range": rng.as_dict(), "bits_out": bits_out,
               "value_range_out": [float(np.nanmin(values)), float(np.nanmax(values))]}
    if args.reference:
        summary.update(_scores(args.reference, result))
    if args.json:
        print_json(summary)
    else:
        extra = (f", PSNR {summary['psnr']:.2f} dB, SSIM {summary['ssim']:.4f} on the data range "
                 f"{rng.describe()}") if "psnr" in summary else ""
        print(f"wrote {args.output} ({values.shape[1]}x{values.shape[0]}) in {result.seconds:.2f} s{extra}")
    return 0


def _params(args: argparse.Namespace) -> dict:
    from core.enhance.run import is_run_id

    params: dict = {}
    if is_run_id(args.method):
        if args.sigma is not None or args.param:
            raise UserError("A trained run takes no parameters: its noise level was set when it was trained.")
        return params
    spec = method_spec(args.method)
    names = {p.name for p in spec.params}
    for item in args.param:
        name, _, value = item.partition("=")
        if not value:
            raise UserError(f"--param must look like name=value, not '{item}'.")
        params[name] = float(value)
    if args.sigma is not None:
        key = next((n for n in ("sigma", "sigma_color") if n in names), None)
        if key is None:
            raise UserError(f"{args.method} takes no noise level; --sigma applies to: nl_means, bm3d, bilateral.")
        params[key] = args.sigma
    return params


def _scores(path: Path, result) -> dict:
    """PSNR/SSIM of the output, and of the input when it has the reference's size."""
    from core.data.readers import read_medical_image
    from core.enhance.run import scores

    if not path.is_file():
        raise UserError(f"The reference {path} does not exist.")
    reference = read_medical_image(path.read_bytes(), path.name).frames[0]
    found = scores(result.output.frames[0], reference, result.data_range)  # on the input's data range
    if result.input.frames[0].shape == reference.shape:
        before = scores(result.input.frames[0], reference, result.data_range)
        found.update({"psnr_input": before["psnr"], "ssim_input": before["ssim"]})
    return found


def run_compare(args: argparse.Namespace) -> int:
    from core.enhance.compare import classical_baselines, compare, comparison_degradation, trained_methods
    from core.jobs.store import RunStore
    from core.jobs.workspace import restoration_runs

    if args.images < 1:
        raise UserError(f"--images must be at least 1, not {args.images}.")
    scale = args.scale or 1
    degradation = comparison_degradation(args.degradation, 0.1 if args.sigma is None else args.sigma, scale)
    images, source = _clean_images(args.input, args.workspace, args.images)
    store = RunStore()
    baselines = classical_baselines(degradation)
    if args.method == "all":
        methods = {**baselines, **trained_methods(restoration_runs(args.workspace, store, scale), scale)}
    else:
        methods = _named_methods([name.strip() for name in args.method.split(",") if name.strip()], baselines,
                                 degradation, store)
    result = compare(images, degradation, methods, source)
    if args.json:
        print_json(result.as_dict())
        return 0
    print(f"{result.source}, {result.degradation}:")
    width = max(len(row["method"]) for row in result.rows)
    for row in result.rows:
        print(f"  {row['method']:<{width}}  PSNR {row['psnr']:6.2f} dB  SSIM {row['ssim']:.4f}  "
              f"{row['seconds_per_image']:.3f} s/image")
    return 0


def _named_methods(names: list[str], baselines: dict, degradation, store) -> dict:
    """The methods named on the command line: classical method keys (run as the comparison runs them) or run
    ids of trained restoration runs."""
    from core.enhance.classical import apply_classical
    from core.enhance.compare import NO_METHOD, trained_methods
    from core.enhance.run import is_run_id
    from core.train.run_folder import find_run_folder

    if not names:
        raise UserError("Name at least one method to compare, or 'all'.")
    methods: dict = {NO_METHOD: baselines[NO_METHOD]} if NO_METHOD in baselines else {}
    for name in names:
        if is_run_id(name):
            methods.update(trained_methods({f"Trained: {name}": find_run_folder(name)}, degradation.scale))
            continue
        spec = method_spec(name)  # raises the sentence listing the methods
        methods[spec.title] = (lambda image, name=name: apply_classical(name, image, scale=degradation.scale)) \
            if degradation.scale > 1 else (lambda image, name=name: apply_classical(name, image))
    return methods


def _clean_images(source: str, workspace: str, count: int) -> tuple[list[np.ndarray], str]:
    """Clean images from a dataset id (its validation split) or image files or a folder of them (each on its
    own data range, core.data.native), as float arrays in [0, 1], and where they came from in words."""
    path = Path(source)
    if not path.exists():
        from core.data.catalog import open_dataset
        from core.enhance.compare import validation_images

        dataset = open_dataset(workspace, source)  # raises "no dataset ..." for a name that is neither
        images = validation_images(dataset, count)
        return images, f"{len(images)} validation images of {dataset.info.name}"
    from core.data.native import full_range_unit
    from core.data.readers import read_medical_image

    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")) if path.is_dir() else [path]
    images = []
    for file in files[:count]:
        image = read_medical_image(file.read_bytes(), file.name)
        unit = full_range_unit(image, image.frame_count // 2)
        images.append(unit[..., 0] if unit.ndim == 3 and unit.shape[-1] == 1 else unit)
    if not images:
        raise UserError(f"{path} holds no images to compare methods on.")
    return images, f"{len(images)} image{'s' if len(images) != 1 else ''} from {path}"
