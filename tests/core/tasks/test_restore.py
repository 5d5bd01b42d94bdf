"""Restoration through the generic loop: a short training beats the noisy input; SR and SRGAN run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.jobs.control import create_run
from core.jobs.execute import execute
from core.jobs.store import RunStore
from core.tasks import build_task, load_config
from core.train.loop import LoopState, fit

CPU = torch.device("cpu")
TILES = "real-tiles-128"


def test_recipe_defaults_and_bad_keys():
    config = load_config({"task": "denoise", "dataset": TILES})
    assert (config.model, config.degradation, config.sigma, config.loss) == ("resunet", "gaussian", 0.1, "l1_ssim")
    assert load_config({"task": "super_resolution", "dataset": TILES}).model == "srresnet"
    for data, field in [({"task": "denoise", "dataset": TILES, "scale": 3}, "scale"),
                        ({"task": "denoise", "dataset": TILES, "loss": "adversarial"}, "loss"),
                        ({"task": "denoise", "dataset": TILES, "model": "srresnet"}, "model"),
                        ({"task": "denoise", "dataset": TILES, "degradation": "salt"}, "degradation"),
                        ({"task": "denoise", "dataset": TILES, "patch_size": 50}, "patch_size")]:
        with pytest.raises(UserError, match=f"'{field}'"):
            load_config(data)


def test_short_denoiser_training_improves_validation_psnr_over_the_noisy_input():
    config = load_config({"task": "denoise", "dataset": TILES, "epochs": 3, "batch_size": 8, "patch_size": 48,
                          "lr": 2e-3})
    task = build_task(config, "default")
    task.setup(CPU)
    state = fit(task, LoopState(), [])
    last = state.history[-1]
    assert last["val_psnr"] > last["val_psnr_input"] + 2.0  # clearly better than doing nothing
    assert state.history[-1]["val_psnr"] > state.history[0]["val_psnr"] - 0.5


def test_super_resolution_and_adversarial_fine_tuning_run_and_report_bicubic(tmp_path):
    store = RunStore()
    base = create_run(store, "default", {"task": "super_resolution", "dataset": TILES, "epochs": 1,
                                         "batch_size": 4, "patch_size": 32}, status="running")
    done = execute(store, base.id)
    assert done.status == "completed", done.message
    report = json.loads((store.run_dir(done) / "report.json").read_text())
    assert {"Bicubic", "Lanczos"} <= {row["method"] for row in report["comparison"]}
    assert done.summary_dict["test_baseline"] == "bicubic"
    gan = create_run(store, "default", {"task": "super_resolution", "dataset": TILES, "epochs": 1, "batch_size": 4,
                                        "patch_size": 32, "loss": "adversarial", "init_from": base.id}, status="running")
    finished = execute(store, gan.id)
    assert finished.status == "completed", finished.message


def test_init_from_must_match_the_network():
    store = RunStore()
    record = create_run(store, "default", {"task": "denoise", "dataset": TILES, "epochs": 1}, status="completed")
    with pytest.raises(UserError, match="init_from"):
        build_task(load_config({"task": "super_resolution", "dataset": TILES, "init_from": record.id}), "default")
