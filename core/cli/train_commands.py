"""Training commands: `train`, `runs`, `resume`, `stop`, `delete`."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from core.cli.output import print_json
from core.errors import UserError
from core.jobs.store import ACTIVE, RunRecord, RunStore
from core.text import counted

# The job control and the executor (which import torch and the tasks) are imported by the commands that train,
# so `runs` and `--help` start without them (see tests/core/cli/test_cli_imports.py).


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    train = commands.add_parser("train", parents=[common], help="train one model in the foreground")
    train.add_argument("--config", type=Path, required=True, metavar="FILE.json",
                       help='training config; {"dataset": ID} alone trains the recommended recipe')
    train.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    train.set_defaults(handler=run_train)

    runs = commands.add_parser("runs", parents=[common], help="list training runs")
    runs.add_argument("--all", action="store_true", help="runs of every workspace")
    runs.add_argument("--json", action="store_true", help="print a JSON list")
    runs.set_defaults(handler=run_runs)

    resume = commands.add_parser("resume", parents=[common], help="continue a stopped run, or a finished one for more epochs")
    resume.add_argument("run", metavar="RUN")
    resume.add_argument("--epochs", type=int, help="new total number of epochs (to continue a completed run)")
    resume.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    resume.set_defaults(handler=run_resume)

    stop = commands.add_parser("stop", parents=[common], help="stop a running or queued run")
    stop.add_argument("run", metavar="RUN")
    stop.add_argument("--json", action="store_true")
    stop.set_defaults(handler=run_stop)

    delete = commands.add_parser("delete", parents=[common], help="delete a finished run and its files")
    delete.add_argument("run", metavar="RUN")
    delete.set_defaults(handler=run_delete)


def read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"The config file {path} does not exist.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{path.name} is not valid JSON ({error.msg} at line {error.lineno}).") from None
    except UnicodeDecodeError:
        raise UserError(f"{path.name} is not a text file.") from None
    return data


def run_train(args: argparse.Namespace) -> int:
    from core.jobs.control import create_run

    store = RunStore()
    record = create_run(store, args.workspace, read_config(args.config), status="running")
    return _foreground(store, record, args.json)


def run_resume(args: argparse.Namespace) -> int:
    from core.jobs.control import prepare_resume
    from core.jobs.liveness import worker_identity

    store = RunStore()
    record = prepare_resume(store, args.run, args.epochs)
    # it is queued now; take it before a server's runner does
    if not store.transition(record.id, ("queued",), status="running", device_used=None, **worker_identity()):
        raise UserError(f"Run '{record.id}' was just taken by the app's job queue; watch it on the Train page.")
    return _foreground(store, store.get(record.id), args.json)


def _foreground(store: RunStore, record: RunRecord, as_json: bool) -> int:
    """Execute here; Ctrl-C asks for a graceful stop (a checkpoint is saved), a second Ctrl-C aborts."""
    from core.jobs.control import request_stop
    from core.jobs.execute import execute

    def on_interrupt(signum, frame) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("\nstopping after this step (Ctrl-C again to abort)...", file=sys.stderr)
        request_stop(store, record.id)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        if not as_json:
            parallel = _workers_text(store, record)
            print(f"training {record.id} ({record.model} on {record.dataset}, {counted(record.epochs, 'epoch')}"
                  f"{', ' + parallel if parallel else ''})", file=sys.stderr)
        final = execute(store, record.id)
    finally:
        signal.signal(signal.SIGINT, previous)
    summary = run_summary(store, final)
    if as_json:
        print_json(summary)
    else:
        print(f"{final.id}: {final.status}" + (f" ({final.message})" if final.message else ""))
        for key in ("test_accuracy", "test_auc", "best_value", "seconds"):
            if summary.get(key) is not None:
                print(f"  {key}: {summary[key]:.4g}")
    return 1 if final.status == "failed" else 0


def run_summary(store: RunStore, record: RunRecord) -> dict[str, Any]:
    """The JSON a script gets at the end of `train` or `resume`."""
    epochs = [event for event in store.events(record) if event.get("kind") == "epoch"]
    summary = record.summary_dict
    best = next((e for e in epochs if e.get("epoch") == record.best_epoch), None)
    return {
        "run_id": record.id, "status": record.status, "message": record.message, "workspace": record.workspace,
        "dataset": record.dataset, "model": record.model, "task": record.task, "device": record.device_used,
        "epochs_trained": record.epoch, "monitor": record.monitor, "best_epoch": record.best_epoch,
        "best_value": record.best_value, "best": best, "final": epochs[-1] if epochs else None,
        "test": {k: v for k, v in summary.items() if k.startswith("test_")},
        "test_accuracy": summary.get("test_accuracy"), "seconds": record.duration_s,
        "workers": store.config(record).get("workers", 1),
    }


def _workers_text(store: RunStore, record: RunRecord) -> str | None:
    from core.tasks import DATA_PARALLEL_TASKS, load_config
    from core.train.distributed import workers_text

    return workers_text(load_config(store.config(record))) if record.task in DATA_PARALLEL_TASKS else None


def run_runs(args: argparse.Namespace) -> int:
    store = RunStore()
    records = store.list(None if args.all else args.workspace)
    if not records and not args.all and (elsewhere := store.list()):  # e.g. a workshop's runs, in their workspaces
        spaces = len({r.workspace for r in elsewhere})
        print(f"No runs in workspace '{args.workspace}'; {len(elsewhere)} in {spaces} other "
              f"workspace{'s' if spaces != 1 else ''} (--all lists every run, --workspace NAME one workspace's).",
              file=sys.stderr)
    if args.json:
        print_json([r.public_dict() for r in records])
        return 0
    for r in records:
        best = f"{r.monitor}={r.best_value:.4f}" if r.best_value is not None else ""
        print(f"{r.id:26} {r.status:11} {r.model:15} {r.dataset:22} epoch {r.epoch}/{r.epochs} {best}")
    return 0


def run_stop(args: argparse.Namespace) -> int:
    from core.jobs.control import STOP_GRACE_S, force_stop, request_stop

    store = RunStore()
    record = request_stop(store, args.run)
    deadline = time.monotonic() + STOP_GRACE_S
    while record.status in ACTIVE and time.monotonic() < deadline:
        time.sleep(0.5)
        record = store.get(record.id)
    if record.status in ACTIVE:
        force_stop(store, record)
        record = store.get(record.id)
    if args.json:
        print_json({"run_id": record.id, "status": record.status, "message": record.message})
    else:
        print(f"{record.id}: {record.status}" + (f" ({record.message})" if record.message else ""))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from core.jobs.control import delete_run

    delete_run(RunStore(), args.run)
    print(f"deleted {args.run}")
    return 0
