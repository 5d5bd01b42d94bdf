"""k-fold cross-validation: k runs through the job queue, each validating on one fold of the pooled train and
validation images (the test split stays held out), summarised as mean and spread per metric."""
from __future__ import annotations

import secrets
import time
from typing import Any

import numpy as np

from core.errors import UserError
from core.jobs.control import create_run
from core.jobs.limits import QueueLimits, check_queue_limit
from core.jobs.store import RunRecord, RunStore


def submit_cross_validation(store: RunStore, workspace: str, config: dict[str, Any], folds: int,
                            limits: QueueLimits | None = None) -> list[RunRecord]:
    """Queue one run per fold. `limits`: a workshop participant's (core.jobs.limits): refused as a whole when
    the folds do not all fit under the queued-runs limit; each fold is capped like any run."""
    if not 2 <= folds <= 20:
        raise UserError(f"Cross-validation needs 2 to 20 folds, not {folds}.")
    if limits is not None:
        check_queue_limit(store, workspace, limits, adding=folds)
    group = f"cv-{time.strftime('%y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    label = config.get("name") or config.get("model", "small_cnn")
    return [create_run(store, workspace, {**config, "folds": folds, "fold": fold, "cv_group": group,
                                          "name": f"{label} · fold {fold + 1}/{folds}"}, limits=limits)
            for fold in range(folds)]


def cv_runs(store: RunStore, workspace: str, group: str) -> list[RunRecord]:
    runs = [r for r in store.list(workspace) if store.config(r).get("cv_group") == group]
    return sorted(runs, key=lambda r: store.config(r)["fold"])


def cv_groups(store: RunStore, workspace: str) -> list[str]:
    groups = {store.config(r).get("cv_group") for r in store.list(workspace)}
    return sorted((g for g in groups if g), reverse=True)


def cv_summary(store: RunStore, workspace: str, group: str) -> dict[str, Any]:
    """Mean, standard deviation and values over the completed folds, for each test metric and the best
    validation value."""
    runs = cv_runs(store, workspace, group)
    if not runs:
        raise UserError(f"There is no cross-validation '{group}' in workspace '{workspace}'.")
    completed = [r for r in runs if r.status == "completed"]
    per_run = [{**{k: v for k, v in r.summary_dict.items() if k.startswith("test_") and isinstance(v, float)},
                "best_val": r.best_value} for r in completed]
    metrics = {}
    for name in sorted({k for row in per_run for k in row}):
        values = [row[name] for row in per_run if row.get(name) is not None]
        if values:
            metrics[name] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1
                             else 0.0, "values": values}
    return {"cv_group": group, "folds": len(runs), "completed": len(completed),
            "statuses": {r.id: r.status for r in runs}, "monitor": runs[0].monitor, "metrics": metrics}
