"""`enhance`: one image through a classical method or a trained restoration run."""
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
                                 help="denoise, sharpen or upscale one image (classical method or trained run)")
    parser.add_argument("method", metavar="METHOD", help=f"one of {', '.join(CLASSICAL_METHODS)}, or a run id")
    parser.add_argument("input", type=Path, metavar="IN", help="PNG, JPEG, TIFF or DICOM")
    parser.add_argument("output", type=Path, metavar="OUT", help=".png, .tif or .dcm (DICOM needs a DICOM input)")
    parser.add_argument("--scale", type=int, choices=(2, 4), help="upscaling factor (bicubic, lanczos)")
    parser.add_argument("--sigma", type=float, help="noise level on [0, 1] for denoisers that take one")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="any method parameter")
    parser.add_argument("--frame", type=int, default=None, help="frame of a multi-frame file (default: middle)")
    parser.add_argument("--reference", type=Path, help="a clean image of the output's size: report PSNR and SSIM")
    parser.add_argument("--bits", type=int, choices=(8, 16), help="PNG/TIFF bit depth (default: the input's own, "
                        "with its own values; 8 or 16 fill that depth's range)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run_enhance)


def run_enhance(args: argparse.Namespace) -> int:
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
