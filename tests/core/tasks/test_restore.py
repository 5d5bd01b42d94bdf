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
    assert (config.model, config.degradation, config.sigma, config.loss) == ("resunet", "gaussian", 0.1, "l1")
    sr = load_config({"task": "super_resolution", "dataset": TILES})
    assert (sr.model, sr.loss) == ("srresnet", "l1_ssim")
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

    spec = build_task(load_config({"task": "denoise", "dataset": TILES}), "default").rebuild_spec()
    assert (spec["intensity"], spec["resize"], spec["native_resolution"]) == ("full_range", "tile", True)
    uploads = [(f"{i}.png", blob_png(size=40, seed=i)) for i in range(6)]
    for prep, expected in ((Preprocessing(size=32), ("window", "default", False)),
                           (Preprocessing(size=32, resize="tile", intensity="full_range"), ("full_range", None, True))):
        summary = import_uploads("default", uploads, "blobs", prep)
        spec = build_task(load_config({"task": "denoise", "dataset": summary.dataset_id, "patch_size": 32}),
                          "default").rebuild_spec()
        assert (spec["intensity"], spec.get("window"), spec["native_resolution"]) == expected
    assert spec["value_ranges"] == [{"low": 0.0, "high": 255.0, "basis": "8-bit samples", "files": 6}]


@pytest.mark.parametrize("gpu, device, kind", [(False, "auto", "cpu"), (True, "auto", "cuda"), (True, "cpu", "cpu"),
                                               (False, "cuda:1", "cuda"), (True, "cuda", "cuda")])
def test_recipe_length_follows_the_device_it_trains_on(monkeypatch, gpu, device, kind):
    from core.tasks import recipe
    from core.tasks.restore import DEVICE_RECIPES, device_kind, device_recipe

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert device_kind(device) == kind
    for task in ("denoise", "super_resolution"):
        expected = DEVICE_RECIPES[kind][task]
        assert device_recipe(task, device) == expected
        config = load_config({"task": task, "dataset": TILES, "device": device})
        assert (config.epochs, config.max_steps_per_epoch) == (expected["epochs"], expected["max_steps_per_epoch"])
        assert config.as_dict()["max_steps_per_epoch"] == expected["max_steps_per_epoch"]  # stored with the run
        assert recipe(task, TILES).epochs == DEVICE_RECIPES[device_kind("auto")][task]["epochs"]
    chosen = load_config({"task": "denoise", "dataset": TILES, "device": device, "epochs": 3, "max_steps_per_epoch": 7})
    assert (chosen.epochs, chosen.max_steps_per_epoch) == (3, 7)  # more epochs stay one field away


def test_cpu_recipe_is_shorter_or_equal_and_the_step_cap_is_checked():
    from core.tasks.restore import DEVICE_RECIPES

    for task in ("denoise", "super_resolution"):
        cpu, cuda = DEVICE_RECIPES["cpu"][task], DEVICE_RECIPES["cuda"][task]
        assert cpu["epochs"] * cpu["max_steps_per_epoch"] <= cuda["epochs"] * cuda["max_steps_per_epoch"]
    for bad in (0, -3):
        with pytest.raises(UserError, match="'max_steps_per_epoch'"):
            load_config({"task": "denoise", "dataset": TILES, "max_steps_per_epoch": bad})
    with pytest.raises(UserError, match="'epochs'"):
        load_config({"task": "denoise", "dataset": TILES, "epochs": 0})


@pytest.mark.parametrize("train_images, batch, cap, steps", [
    (82, 16, 100, 82),      # the built-in tiles: 16 patches per image, under the cap
    (2284, 16, 100, 100),   # phantom-64: 2,284 steps uncapped, 100 with the CPU cap
    (2284, 16, 1000, 1000),
    (3, 16, 100, 3),
    (1, 64, 100, 1),        # at least one step
])
def test_an_epoch_is_patches_per_image_up_to_the_step_cap(train_images, batch, cap, steps):
    from core.tasks.restore import PATCHES_PER_IMAGE, epoch_steps

    assert PATCHES_PER_IMAGE == 16
    assert epoch_steps(train_images, batch, cap) == steps


def test_a_big_dataset_trains_a_capped_epoch():
    config = load_config({"task": "denoise", "dataset": "phantom-64", "max_steps_per_epoch": 5, "batch_size": 4,
                          "patch_size": 32})
    task = build_task(config, "default")
    task.setup(CPU)
    assert len(task.splits["train"]) == 2284 and task.steps_per_epoch == 5
    batches = list(task.train_batches(0))
    assert len(batches) == 5 and all(clean.shape == (4, 1, 32, 32) for clean, _ in batches)
