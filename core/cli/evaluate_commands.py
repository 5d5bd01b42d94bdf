"""Evaluation commands: `evaluate`, `predict`, `export`, `cv`."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.cli.output import print_json
from core.errors import UserError
from core.evaluate.formats import FORMATS
from core.evaluate.intervals import CI_METHODS, METHOD_TEXT, with_ci_method
from core.jobs.store import ACTIVE, RunRecord, RunStore

# Reports, predictors, exports and the job queue (torch, onnx, the tasks) are imported by the commands that use
# them, so `--help` starts without them (see tests/core/cli/test_cli_imports.py).


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser("evaluate", parents=[common], help="the stored test report of a run")
    evaluate.add_argument("run", metavar="RUN")
    evaluate.add_argument("--ci", choices=tuple(CI_METHODS), default=None,
                          help="interval for proportions (accuracy, sensitivity, ...): wilson (the stored default) "
                               "or clopper-pearson (exact, wider); other metrics keep their bootstrap")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=run_evaluate)

    predict = commands.add_parser("predict", parents=[common],
                                  help="classify image files (or, with a sequence run, clips: multi-frame DICOM, "
                                       "video, ZIP of frames) with a trained run")
    predict.add_argument("run", metavar="RUN")
    predict.add_argument("files", nargs="+", type=Path, metavar="FILE")
    predict.add_argument("--cam", type=Path, metavar="DIR", help="write a Grad-CAM overlay PNG per file here")
    predict.add_argument("--method", choices=("gradcam", "gradcam++"), default="gradcam")
    predict.add_argument("--csv", type=Path, metavar="FILE", help="also write the predictions as CSV here")
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(handler=run_predict)

    exp = commands.add_parser("export", parents=[common], help="export a trained run for deployment")
    exp.add_argument("run", metavar="RUN")
    exp.add_argument("--format", choices=FORMATS, required=True)
    exp.add_argument("--out", type=Path, required=True, metavar="PATH")
    exp.add_argument("--json", action="store_true")
    exp.set_defaults(handler=run_export)

    cv = commands.add_parser("cv", parents=[common], help="k-fold cross-validation through the job queue")
    cv.add_argument("--config", type=Path, required=True, metavar="FILE.json")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--json", action="store_true")
    cv.set_defaults(handler=run_cv)


def load_report(folder: Path) -> dict | None:
    """The stored test report of a run folder (core.evaluate.report, imported on first use)."""
    from core.evaluate.report import load_report as load

    return load(folder)


def run_evaluate(args: argparse.Namespace) -> int:
    from core.evaluate.report import report_warnings
    from core.tasks.generative import GENERATIVE_TASKS

    store = RunStore()
    record = store.get(args.run)
    if record.task in GENERATIVE_TASKS:
        return evaluate_generative(args, store.run_dir(record), record)
    report = load_report(store.run_dir(record))
    if report is None:
        raise UserError(f"Run '{args.run}' has no test report: it is {record.status}; reports are made when a run "
                        "completes.")
    if args.ci:
        report["metrics"]["headline"] = with_ci_method(report["metrics"]["headline"], args.ci)
        report["metrics"]["ci_method"] = args.ci
    report["warnings"] = report_warnings(report)
    if args.json:
        print_json(report)
        return 0
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{record.id}: {record.model} on {record.dataset}, {report['n_test']} test images")
    for name, value in report["metrics"]["headline"].items():
        if isinstance(value, dict) and value.get("value") is not None:
            method = METHOD_TEXT.get(value.get("method", "bootstrap"), value.get("method"))
            print(f"  {name:28} {value['value']:.4f}  (95% CI {value['ci_low']:.4f}-{value['ci_high']:.4f}, {method})")
    return 0


def evaluate_generative(args: argparse.Namespace, folder: Path, record: RunRecord) -> int:
    """The stored quality report of a generative run (core.synthesis.report): FD and KID on MedLab features,
    precision/recall, density/coverage, the two-sample test, memorisation and, for autoencoders trained on one
    class, the anomaly AUCs."""
    from core.synthesis.report import load_synthesis_report, quality_lines

    if args.ci:
        raise UserError(f"Option --ci applies to classifiers' reports; run '{record.id}' is a {record.task} model.")
    report = load_synthesis_report(folder)
    if report is None:
        raise UserError(f"Run '{record.id}' has no quality report: it is {record.status}; reports are made when a "
                        "run completes.")
    if args.json:
        print_json(report)
        return 0
    for warning in report.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{record.id}: {record.model} ({record.task}) on {record.dataset}, {report['n_samples']} samples against "
          f"{report['n_test']} real test images")
    for line in quality_lines(report):
        print(line)
    close = report.get("memorisation") or {}
    if close.get("ratio") is not None:
        flag = "; flagged as memorising" if close.get("flagged") else ""
        print(f"  memorisation ({close['space']}): {close['close_share']:.0%} of samples closer to a training image "
              f"than 95% of test images are (about 5% expected){flag}")
    anomaly = report.get("anomaly")
    if anomaly and anomaly.get("auc") is not None:
        per_class = ", ".join(f"{name} {auc:.3f}" for name, auc in anomaly["per_class"].items() if auc is not None)
        print(f"  anomaly AUC against '{anomaly['normal_class']}': {anomaly['auc']:.4f} ({per_class})")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    store = RunStore()
    record = store.get(args.run)
    if record.task == "sequence":
        return predict_sequences(args, store.run_dir(record))
    from core.evaluate.predict import load_predictor, predict_files, predictions_csv

    check_csv(args.csv)
    predictor = load_predictor(store.run_dir(record))
    if args.cam:
        args.cam.mkdir(parents=True, exist_ok=True)
    predictions, errors = [], []
    for path in args.files:  # in the order given; an unreadable file is one line on stderr, the rest go on
        data, reason = read_input(path)
        if data is None:
            errors.append((str(path), reason))
            continue
        predicted, unreadable = predict_files(predictor, [(path.name, data)], args.cam, args.method)
        predictions += predicted
        errors += [(str(path), reason) for _, reason in unreadable]
    for name, reason in errors:
        print(f"error: {name}: {reason}", file=sys.stderr)
    if args.csv:
        args.csv.write_text(predictions_csv(predictions))
    results = [{"ood": bool(p.ood and p.ood.flagged), "ood_reasons": p.ood.reasons if p.ood else [],
                "file": p.file, "label": p.label, "probabilities": p.probabilities,
                "cam": str(args.cam / f"{Path(p.file).stem}_cam.png") if args.cam else None} for p in predictions]
    if args.json:
        print_json(results)
    else:
        for r in results:  # an out-of-distribution flag leads its line, before the prediction it discredits
            print(f"{r['file']}: {_ood_flag(r)}{r['label']} ({max(r['probabilities'].values()):.2f})")
    return 2 if errors else 0  # any unreadable input fails the command; the readable ones are still printed


def predict_sequences(args: argparse.Namespace, folder: Path) -> int:
    """`predict` with a sequence run: each file is one clip (multi-frame DICOM, video, NIfTI 4D, ZIP of frames),
    cut to the run's T frames by its dataset's frame policy; printed with its out-of-distribution flag, the
    prediction and the most important frame (temporal occlusion); --cam writes Grad-CAM on that frame."""
    from PIL import Image

    from core.evaluate.explain import overlay
    from core.evaluate.predict_sequence import load_sequence_predictor, predict_clip_files, sequence_predictions_csv

    if args.method != "gradcam":
        raise UserError("Option --method applies to image runs; a sequence run is explained by Grad-CAM on its most "
                        "important frame.")
    check_csv(args.csv)
    predictor = load_sequence_predictor(folder)
    if args.cam:
        args.cam.mkdir(parents=True, exist_ok=True)
    predictions, errors = [], []
    for path in args.files:  # in the order given, as for images
        data, reason = read_input(path)
        if data is None:
            errors.append((str(path), reason))
            continue
        predicted, unreadable = predict_clip_files(predictor, [(path.name, data)])
        predictions += predicted
        errors += [(str(path), reason) for _, reason in unreadable]
        for p in predicted if args.cam else ():
            heat = overlay(p.frames[p.key_frame], p.heat)
            Image.fromarray(heat).save(args.cam / f"{Path(p.file).stem}_cam.png")
    for name, reason in errors:
        print(f"error: {name}: {reason}", file=sys.stderr)
    if args.csv:
        args.csv.write_text(sequence_predictions_csv(predictions))
    results = [{"ood": p.out_of_distribution, "ood_reasons": p.ood.reasons if p.ood else [], "file": p.file,
                "label": p.label, "probabilities": p.probabilities, "frames": len(p.frames),
                "frames_in_file": p.source_frame_count, "key_frame": p.key_frame + 1,
                "key_source_frame": int(p.source_frames[p.key_frame]) + 1,
                "importance": [round(float(v), 6) for v in p.importance],
                "attention": None if p.attention is None else [round(float(v), 6) for v in p.attention],
                "notes": p.notes,
                "cam": str(args.cam / f"{Path(p.file).stem}_cam.png") if args.cam else None} for p in predictions]
    if args.json:
        print_json(results)
    else:
        for r in results:
            print(f"{r['file']}: {_ood_flag(r)}{r['label']} ({max(r['probabilities'].values()):.2f}); most important "
                  f"frame {r['key_frame']} of {r['frames']} (frame {r['key_source_frame']} of {r['frames_in_file']} "
                  "in the file)")
    return 2 if errors else 0


def check_csv(path: Path | None) -> None:
    """A UserError before any work when the --csv file's folder does not exist."""
    if path is not None and not path.parent.is_dir():
        raise UserError(f"The folder {path.parent} does not exist.")


def read_input(path: Path) -> tuple[bytes | None, str]:
    """(the file's bytes, "") or (None, why it cannot be read)."""
    if not path.exists():
        return None, "does not exist"
    if not path.is_file():
        return None, "is not a file"
    try:
        return path.read_bytes(), ""
    except OSError as error:
        return None, f"could not be read ({error.strerror or error})"


def _ood_flag(result: dict) -> str:
    """The words that lead an out-of-distribution result's line, before the prediction they discredit."""
    if not result["ood"]:
        return ""
    return "OUT OF DISTRIBUTION, prediction not reliable (" + "; ".join(result["ood_reasons"]) + "): "


def run_export(args: argparse.Namespace) -> int:
    from core.evaluate.export import export, write_atomically
    from core.evaluate.predict import load_predictor

    store = RunStore()
    record = store.get(args.run)
    if args.out.parent and not args.out.parent.exists():
        raise UserError(f"The folder {args.out.parent} does not exist.")
    if record.task == "sequence":   # clips (N, T, C, S, S): ONNX, TorchScript or the card; no INT8 yet
        from core.evaluate.export_sequence import export_sequence
        from core.evaluate.predict_sequence import load_sequence_predictor

        predictor = load_sequence_predictor(store.run_dir(record))
        data, facts = export_sequence(predictor, record, store.config(record), store.run_dir(record), args.format)
    else:
        predictor = load_predictor(store.run_dir(record))
        data, facts = export(predictor, record, store.config(record), store.run_dir(record), args.format)
    write_atomically(args.out, data)
    summary = {"run_id": record.id, "format": args.format, "out": str(args.out), "bytes": len(data), **facts}
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {args.out} ({len(data) / 1e6:.2f} MB)")
        if "int8_bytes" in facts:   # INT8 and the card: float and INT8 side by side
            from core.evaluate.int8_compare import comparison_rows

            rows = [("", "Float ONNX", "INT8 ONNX"), *comparison_rows(facts)]
            widths = [max(len(row[i]) for row in rows) for i in range(3)]
            for row in rows:
                print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
            print(f"{facts['quantisation_reason']} Times: {facts['timing']}. {facts.get('int8_hardware', '')}".rstrip())
    return 0


def run_cv(args: argparse.Namespace) -> int:
    from core.cli.train_commands import read_config
    from core.jobs.cv import cv_runs, cv_summary, submit_cross_validation
    from core.jobs.runner import JobRunner

    store = RunStore()
    runs = submit_cross_validation(store, args.workspace, read_config(args.config), args.folds)
    group = store.config(runs[0])["cv_group"]
    if not args.json:
        print(f"{group}: {len(runs)} runs queued", file=sys.stderr)
    runner = JobRunner(store).start()  # the same queue the app uses; an app server may take some folds too
    try:
        while any(r.status in ACTIVE for r in cv_runs(store, args.workspace, group)):
            time.sleep(1)
    finally:
        runner.shutdown()
    summary = cv_summary(store, args.workspace, group)
    if args.json:
        print_json(summary)
    else:
        for name, values in summary["metrics"].items():
            print(f"  {name:28} {values['mean']:.4f} ± {values['std']:.4f}")
    return 0 if summary["completed"] == summary["folds"] else 1
