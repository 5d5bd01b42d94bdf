"""`sample`: images from a trained generative run, as marked-synthetic PNGs (a folder or a ZIP), DICOM Secondary
Captures (an --out folder whose name ends in .dcm), and/or a new dataset of synthetic training images."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from core.cli.output import print_json
from core.errors import UserError

# torch, the models and Pillow are imported when the command runs, so `--help` starts without them
# (see tests/core/cli/test_cli_imports.py).


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    sample = commands.add_parser("sample", parents=[common], help="draw synthetic images from a trained GAN, "
                                 "VAE or diffusion run (marked synthetic in every file)")
    sample.add_argument("run", metavar="RUN", help="the id of a generative run (`python -m core runs`)")
    sample.add_argument("--n", type=int, default=16, help="images to draw; for a class-conditional model without "
                        "--class, images per class (default 16)")
    sample.add_argument("--class", dest="class_name", metavar="C", help="draw only this class (class-conditional "
                        "models, or the one class an unconditional model was trained on)")
    sample.add_argument("--seed", type=int, default=0, help="the same seed gives the same images (default 0)")
    sample.add_argument("--temperature", type=float, default=1.0, help="noise scale; below 1 gives more typical, "
                        "less varied images (a GAN's truncation; default 1)")
    sample.add_argument("--out", type=Path, metavar="DIR|FILE.zip", help="a .zip file, or a folder for the PNGs "
                        "(a folder name ending in .dcm gets DICOM Secondary Captures instead)")
    sample.add_argument("--as-dataset", metavar="NAME", help="also store the images as a new dataset of synthetic "
                        "training images")
    sample.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    sample.add_argument("--json", action="store_true", help="print a JSON summary")
    sample.set_defaults(handler=run_sample)


def run_sample(args: argparse.Namespace) -> int:
    if args.out is None and not args.as_dataset:
        raise UserError("Say where the images go: --out DIR or --out FILE.zip, and/or --as-dataset NAME.")
    if args.out is not None:
        parent = args.out.resolve().parent
        if not parent.is_dir():
            raise UserError(f"The folder {parent} does not exist.")
        if args.out.exists() and args.out.suffix.lower() == ".zip" and args.out.is_dir():
            raise UserError(f"{args.out} is a folder; give a file name ending in .zip.")
        if args.out.suffix.lower() != ".zip" and args.out.is_file():
            raise UserError(f"{args.out} is a file; give a folder, or a file name ending in .zip.")
    if args.n < 1:
        raise UserError(f"--n must be at least 1, not {args.n}.")
    if args.as_dataset is not None and not args.as_dataset.strip():
        raise UserError("--as-dataset needs a name for the new dataset.")
    from core.train.run_folder import find_run_folder

    find_run_folder(args.run)  # an unknown run is said before torch is loaded
    from core.synthesis.sampling import draw, load_sampler

    sampler, run = load_sampler(args.run, _device(args.device))
    samples = draw(sampler, args.n, args.class_name, args.seed, args.temperature, run=run)
    summary = {"run": run.run_id, "model": samples.model, "n": args.n, "images": len(samples),
               "classes": list(samples.per_class()) or None, "per_class": samples.per_class(),
               "seed": args.seed, "temperature": args.temperature, "synthetic": True,
               "out": None if args.out is None else str(args.out), "files": 0, "dataset": None}
    if args.out is not None:
        summary["files"] = _write(samples, args.out)
    if args.as_dataset:
        from core.synthesis.datasets import add_samples

        dataset = add_samples(args.workspace, args.as_dataset, samples)
        summary["dataset"] = {"id": dataset.info.id, "name": dataset.info.name, "images": dataset.info.num_images,
                              "split": "train"}
    if args.json:
        print_json(summary)
    else:
        where = [f"{summary['files']} files in {args.out}"] if args.out is not None else []
        if summary["dataset"]:
            where.append(f"dataset '{summary['dataset']['name']}' ({summary['dataset']['id']}, all in train)")
        per_class = ", ".join(f"{count} {name}" for name, count in samples.per_class().items())
        print(f"drew {len(samples)} synthetic images from {run.run_id}{f' ({per_class})' if per_class else ''}: "
              f"{'; '.join(where)}")
    return 0


def _write(samples, out: Path) -> int:
    """The images into `out` (a ZIP, or a folder of PNGs, or of DICOMs for a folder named *.dcm); the number of
    image files written."""
    from core.synthesis.export import samples_zip, write_samples_folder

    if out.suffix.lower() == ".zip":
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_bytes(samples_zip(samples))
        os.replace(tmp, out)
        return len(samples)
    return len(write_samples_folder(samples, out, dicom=out.suffix.lower() == ".dcm"))


def _device(name: str) -> str:
    if name == "cpu":
        return name
    import torch

    if not (name in ("cuda", "auto") or name.startswith("cuda:") and name[5:].isdigit()):
        raise UserError(f"--device must be cpu, cuda or cuda:N, not '{name}'.")
    if not torch.cuda.is_available():
        if name == "auto":
            return "cpu"
        raise UserError(f"--device {name}: this machine has no CUDA GPU; use --device cpu.")
    return "cuda" if name == "auto" else name
