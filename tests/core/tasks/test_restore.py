"""Restoration through the generic loop: a short training beats the noisy input; SR and SRGAN run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

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
                        ({"task": "denoise", "dataset": TILES, "patch_size": 50}, "patch_size"),
                        ({"task": "super_resolution", "dataset": TILES, "loss": "adversarial", "patch_size": 16},
                         "patch_size")]:  # below the discriminator's 32 px
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
    gan_config = {"task": "super_resolution", "dataset": TILES, "epochs": 1, "batch_size": 4, "patch_size": 32,
                  "loss": "adversarial"}
    base_best = load_file(store.run_dir(done) / "best.safetensors")
    # the generator at step 0 is the base run's best network, not a fresh one (whose output layer is all zeros)
    assert base_best["tail.weight"].abs().sum() > 0
    tuned = build_task(load_config({**gan_config, "init_from": base.id}), "default")
    tuned.setup(CPU)
    start = tuned.weights()
    assert start.keys() == base_best.keys()
    assert all(torch.equal(start[key], value) for key, value in base_best.items())
    gan = create_run(store, "default", {**gan_config, "init_from": base.id}, status="running")
    finished = execute(store, gan.id)
    assert finished.status == "completed", finished.message
    tuned_last = load_file(store.run_dir(finished) / "last.safetensors")
    assert not all(torch.equal(tuned_last[key], value) for key, value in base_best.items())  # and it trained


def test_init_from_must_match_the_network():
    store = RunStore()
    record = create_run(store, "default", {"task": "denoise", "dataset": TILES, "epochs": 1}, status="completed")
    with pytest.raises(UserError, match="init_from"):
        build_task(load_config({"task": "super_resolution", "dataset": TILES, "init_from": record.id}), "default")


def test_model_card_records_how_the_training_images_were_scaled():
    from core.data.importer import import_uploads
    from core.data.preprocess import Preprocessing
    from tests.fixtures import blob_png

    card = build_task(load_config({"task": "denoise", "dataset": TILES}), "default").rebuild_spec()
    assert (card["intensity"], card["resize"], card["native_resolution"]) == ("full_range", "tile", True)
    uploads = [(f"{i}.png", blob_png(size=40, seed=i)) for i in range(6)]
    for prep, expected in ((Preprocessing(size=32), ("window", "default", False)),
                           (Preprocessing(size=32, resize="tile", intensity="full_range"), ("full_range", None, True))):
        summary = import_uploads("default", uploads, "blobs", prep)
        card = build_task(load_config({"task": "denoise", "dataset": summary.dataset_id, "patch_size": 32}),
                          "default").rebuild_spec()
        assert (card["intensity"], card.get("window"), card["native_resolution"]) == expected
    assert card["value_ranges"] == [{"low": 0.0, "high": 255.0, "basis": "8-bit samples", "files": 6}]
