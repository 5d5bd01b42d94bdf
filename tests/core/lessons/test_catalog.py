"""The lesson definitions are complete, their runs are valid configs, and progress follows what exists."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core.lessons.catalog import (BROKEN_RUN_NAMES, DEMO_RUN_NAME, LESSON_KEYS, LESSONS, broken_configs, demo_config,
                                  gan_config, lesson_progress, lung_window)
from core.tasks import load_config

ROOT = Path(__file__).resolve().parents[3]


def test_six_lessons_each_with_why_one_action_and_a_question():
    assert LESSON_KEYS == ("window", "train", "evaluate", "break", "denoise", "synthesize")
    for lesson in LESSONS:
        assert lesson.title and lesson.action and len(lesson.why.split(". ")) >= 2
        assert lesson.question.rstrip().endswith("?")
        assert (ROOT / lesson.page).is_file()


@pytest.mark.parametrize("config", [demo_config(), gan_config(),
                                    *broken_configs({"imbalanced": "phantom-64", "leaky": "phantom-28",
                                                     "honest": "phantom-28"})])
def test_the_lessons_runs_are_valid_configs(config):
    loaded = load_config(config)
    assert loaded.dataset == config["dataset"] and loaded.name == config["name"]


def run(name="", task="classification", dataset="phantom-64", status="completed"):
    return SimpleNamespace(name=name, task=task, dataset=dataset, status=status)


def test_progress_follows_runs_and_visits():
    empty = lesson_progress([])
    assert {key: p.state for key, p in empty.items()} == dict.fromkeys(LESSON_KEYS, "todo")
    assert "lesson 2" in empty["evaluate"].note
    training = lesson_progress([run(DEMO_RUN_NAME, status="running")])
    assert training["train"].state == "started"
    records = [run(DEMO_RUN_NAME), *(run(name, dataset="lesson") for name in BROKEN_RUN_NAMES[:2]),
               run("gan", task="gan", status="running")]
    progress = lesson_progress(records, visited={"window", "evaluate", "synthesize"})
    assert {key: p.state for key, p in progress.items()} == {
        "window": "done", "train": "done", "evaluate": "done", "break": "started", "denoise": "todo",
        "synthesize": "started"}
    assert progress["break"].note == "2 of 4 runs finished."
    records += [run(name, dataset="lesson") for name in BROKEN_RUN_NAMES[2:]] + [run("g", task="gan")]
    progress = lesson_progress(records, visited={"synthesize"})
    assert progress["break"].state == "done" and progress["synthesize"].state == "done"


def test_the_lung_window_spans_the_middle_of_the_image_values():
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    center, width = lung_window(pixels)
    assert center == pytest.approx(127.5) and width == pytest.approx(0.6 * 255)
    assert lung_window(np.zeros((4, 4))) == (0.0, 1.0)
