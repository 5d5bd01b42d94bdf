"""Putting a generative run to use: classifiers trained with its images, judged on the real test split against a
classifier trained on real images only. One call queues them as ordinary classification runs (the job queue runs
them like any other); `experiment_table` tabulates them, with test accuracy and balanced accuracy and their 95%
intervals from each run's report once it has finished.

- "baseline": the recommended recipe on the real dataset (a finished run of that recipe is reused).
- "tstr": train on synthetic, test on real (Esteban et al. 2017): N synthetic images per class as the only
  training images, with the real dataset's own validation and test images (core.synthesis.datasets), so every
  row is judged on the same real test images. Needs a class-conditional model.
- "augmented": the real dataset unchanged plus N synthetic training images of one chosen class (e.g. a rare one).

Which runs belong to which generator run is kept in the generator run's folder (EXPERIMENTS_FILE), so a page
finds them again after a reload; each run's name says it too.
"""
from __future__ import annotations

import time
from typing import Any

from core.data.catalog import open_dataset
from core.errors import UserError
from core.jobs.control import create_run
from core.jobs.limits import QueueLimits, check_queue_limit
from core.jobs.store import RunRecord, RunStore
from core.tasks import load_config
from core.train.run_folder import REPORT_FILE, read_json, write_json

EXPERIMENTS_FILE = "synthetic_experiments.json"
TITLES = {"baseline": "Real only (baseline)", "tstr": "Synthetic only (TSTR)", "augmented": "Real + synthetic"}
# config keys that do not change what a run learns: a finished run differing only in these is the same recipe
IGNORED_KEYS = ("name", "device", "amp", "seed", "channels_last")
SAMPLE_SEED = 0


def queue_synthetic_experiments(store: RunStore, workspace: str, generator_run_id: str, *,
                                n_per_class: int | None = None, boost_class: str | None = None,
                                boost_n: int | None = None, config: dict[str, Any] | None = None,
                                seed: int = SAMPLE_SEED, device: str | None = None,
                                limits: QueueLimits | None = None) -> list[dict[str, Any]]:
    """Queue the experiments of generator run `generator_run_id` (of `workspace`) and record them; returns the
    entries recorded ({"experiment", "title", "run", "dataset", "train_real", "train_synthetic", "reused",
    "class"}).

    `n_per_class`: synthetic images per class for TSTR (default: the real training images divided evenly over
    the classes, so TSTR trains on as many images as the baseline). `boost_class` (default: the class with the
    fewest real training images) gets `boost_n` synthetic images (default: enough to match the largest class, at
    least as many as it has). `config`: classification config keys applied to every run (default: the
    recommended recipe). Images are drawn here (not in a worker: a few seconds for a GAN or VAE, longer for a
    diffusion model on a CPU) on `device` (default: a GPU if there is one) from `seed`. `limits`: a workshop
    participant's (core.jobs.limits): refused as a whole, before any image is drawn, when the new runs do not all
    fit under the queued-runs limit; each run is capped like any run. Raises UserError with one sentence.
    """
    import torch

    from core.synthesis.datasets import real_plus_synthetic, synthetic_train_real_test
    from core.synthesis.sampling import draw, open_sampler

    record = _generator(store, workspace, generator_run_id)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    sampler, trained = open_sampler(store.run_dir(record), device)
    spec = trained.spec
    real = open_dataset(workspace, str(spec.get("dataset", "")))
    info = real.info
    if info.task != "classification" or len(info.classes) < 2:
        raise UserError(f"Run '{record.id}' was trained on '{info.name}', which has no single class per image, so "
                        "no classifier can be trained to judge its images.")
    overrides = {k: v for k, v in (config or {}).items() if k not in ("dataset", "task", "name")}
    base = load_config({"dataset": info.id, **overrides}).as_dict()  # the recipe; a bad key fails here, early
    train_counts = info.class_counts.get("train", {})
    train_real = sum(train_counts.values())
    train_class = spec.get("train_class", "") or ""
    entries: list[dict[str, Any]] = []
    tag = f"from {record.id}"

    choices = list(sampler.classes) if sampler.conditional else [train_class] if train_class else []
    reusable = _reusable_baseline(store, workspace, info.id, base)
    if limits is not None:
        new_runs = (reusable is None) + bool(sampler.conditional) + bool(choices)
        check_queue_limit(store, workspace, limits, adding=new_runs)
    if reusable is not None:
        entries.append(_entry("baseline", reusable, info.id, train_real, 0, reused=True))
    else:
        run = create_run(store, workspace, {**overrides, "dataset": info.id, "name": f"Real only (baseline) · {tag}"},
                         limits=limits)
        entries.append(_entry("baseline", run, info.id, train_real, 0))
    if sampler.conditional:
        per_class = n_per_class or max(1, round(train_real / len(info.classes)))
        samples = draw(sampler, per_class, None, seed, run=trained)
        dataset = synthetic_train_real_test(workspace, info.id, samples, f"{info.name} · TSTR {tag}")
        run = create_run(store, workspace, {**overrides, "dataset": dataset.info.id,
                                            "name": f"Synthetic only (TSTR) · {tag}"}, limits=limits)
        entries.append(_entry("tstr", run, dataset.info.id, 0, len(samples)))
    if choices:
        chosen = boost_class or min(choices, key=lambda c: (train_counts.get(c, 0), choices.index(c)))
        if chosen not in choices:
            raise UserError(f"Run '{record.id}' cannot make images of '{chosen}'; it can of {', '.join(choices)}.")
        own = train_counts.get(chosen, 0)
        count = boost_n or max(max(train_counts.values(), default=0) - own, own, 1)
        samples = draw(sampler, count, chosen, seed + 1, run=trained)
        dataset = real_plus_synthetic(workspace, info.id, samples, f"{info.name} + synthetic {chosen} {tag}")
        run = create_run(store, workspace, {**overrides, "dataset": dataset.info.id,
                                            "name": f"Real + synthetic {chosen} · {tag}"}, limits=limits)
        entries.append(_entry("augmented", run, dataset.info.id, train_real, len(samples), chosen))
    if len(entries) == 1:
        raise UserError(f"Run '{record.id}' draws images of no class (it was trained unconditionally on every "
                        "class), so no classifier can be trained on them; train a class-conditional model.")
    _record(store, record, {"created": time.time(), "seed": seed, "dataset": info.id, "entries": entries})
    return entries


def experiment_table(workspace: str, generator_run_id: str, store: RunStore | None = None) -> list[dict[str, Any]]:
    """The latest experiments of a generator run, one row each: experiment, title, training images (real and
    synthetic), run id, status and, once finished, "test_accuracy" and "test_balanced_accuracy" as {"value",
    "ci_low", "ci_high"} (95% intervals from the run's report; None before). [] when none were queued."""
    store = store or RunStore()
    record = _generator(store, workspace, generator_run_id)
    batches = experiment_batches(store, record)
    if not batches:
        return []
    rows = []
    for entry in batches[-1]["entries"]:
        row = {**entry, "status": "deleted", "test_accuracy": None, "test_balanced_accuracy": None}
        try:
            run = store.get(entry["run"])
        except UserError:  # the run was deleted since
            rows.append(row)
            continue
        row.update(status=run.status, epoch=run.epoch, epochs=run.epochs)
        if run.status == "completed":
            row.update(_test_metrics(store, run))
        rows.append(row)
    return rows


def experiment_batches(store: RunStore, record: RunRecord) -> list[dict[str, Any]]:
    """Every set of experiments queued for a generator run, oldest first."""
    path = store.run_dir(record) / EXPERIMENTS_FILE
    return list(read_json(path).get("batches", [])) if path.exists() else []


# --- helpers ----------------------------------------------------------------------------------------------------
def _generator(store: RunStore, workspace: str, run_id: str) -> RunRecord:
    record = store.get(run_id)  # "There is no run ..." when unknown
    if record.workspace != workspace:
        raise UserError(f"There is no run '{run_id}' in workspace '{workspace}'.")
    return record


def _reusable_baseline(store: RunStore, workspace: str, dataset_id: str, base: dict[str, Any]) -> RunRecord | None:
    """A finished (or queued, running) run of the same recipe on the real dataset, to reuse as the baseline."""
    wanted = {k: v for k, v in base.items() if k not in IGNORED_KEYS}
    for run in store.list(workspace, statuses=("completed", "queued", "running")):
        if run.task != "classification" or run.dataset != dataset_id:
            continue
        try:
            saved = {k: v for k, v in store.config(run).items() if k != "augmentation"}  # added when it ran
            config = load_config(saved).as_dict()
        except (UserError, OSError, ValueError):
            continue
        if {k: v for k, v in config.items() if k not in IGNORED_KEYS} == wanted:
            return run
    return None


def _entry(experiment: str, run: RunRecord, dataset_id: str, train_real: int, train_synthetic: int,
           chosen: str = "", reused: bool = False) -> dict[str, Any]:
    title = TITLES[experiment] + (f" ({chosen})" if chosen else "")
    return {"experiment": experiment, "title": title, "run": run.id, "dataset": dataset_id,
            "train_real": train_real, "train_synthetic": train_synthetic, "class": chosen or None, "reused": reused}


def _record(store: RunStore, record: RunRecord, batch: dict[str, Any]) -> None:
    path = store.run_dir(record) / EXPERIMENTS_FILE
    write_json(path, {"generator": record.id, "batches": [*experiment_batches(store, record), batch]})


def _test_metrics(store: RunStore, run: RunRecord) -> dict[str, Any]:
    """Test accuracy and balanced accuracy with their intervals, from report.json (else the summary, no interval)."""
    found: dict[str, Any] = {}
    path = store.run_dir(run) / REPORT_FILE
    headline = (read_json(path).get("metrics") or {}).get("headline", {}) if path.exists() else {}
    summary = run.summary_dict
    for name in ("accuracy", "balanced_accuracy"):
        entry = headline.get(name)
        if isinstance(entry, dict) and entry.get("value") is not None:
            found[f"test_{name}"] = {key: entry.get(key) for key in ("value", "ci_low", "ci_high")}
        elif summary.get(f"test_{name}") is not None:
            found[f"test_{name}"] = {"value": summary[f"test_{name}"], "ci_low": None, "ci_high": None}
    return found
