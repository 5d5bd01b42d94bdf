"""The guided lessons on the Home page, for workshops and first-time users: six steps through the workbench with
built-in data, each with a few sentences of why, one button that sets a page up, and a question to look at.

Lessons are data here (the UI draws them, pages/ui/lessons.py); what each button does is the UI's. A lesson's
progress is read from what exists (runs, lesson datasets) and, for a lesson that leaves nothing behind (looking at
an image), from whether this session opened it: `lesson_progress`. The runs a lesson queues are defined here as
configs, so the CLI could queue the same ones (`python -m core train --config`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol

from core.data.builtin import DEFAULT_DATASET_ID

DEMO_RUN_NAME = "Demo model"   # the clinician's quick start: the recommended recipe on the built-in phantom
GENERATIVE = ("gan", "vae", "autoencoder", "diffusion")
CLASSIFIERS = ("classification", "multilabel")


@dataclass(frozen=True)
class Lesson:
    key: str          # a stable name: "window", "train", "evaluate", "break", "denoise", "synthesize"
    title: str
    why: str          # two or three sentences: why this matters
    action: str       # the one button's label
    question: str     # what to look at once the page is set up
    page: str         # the page the button opens


LESSONS: tuple[Lesson, ...] = (
    Lesson("window", "Look at a chest image and its window",
           "A radiograph holds more grey levels than a screen shows, so every viewer picks a window: the range of "
           "values spread from black to white. A narrow window on the lung fields makes a faint opacity stand out; "
           "a wide one shows everything at low contrast. A model sees the values, not the window.",
           "Open a chest image with a lung window",
           "Move the level and width sliders: at which window does the lesion stand out best, and what disappears "
           "into black or white?", "pages/dataset.py"),
    Lesson("train", "Train the recommended model",
           "A small convolutional network learns the four classes of the built-in chest phantom in about a minute "
           "on a CPU. Watching the curves while it trains shows what learning looks like: the training loss falls, "
           "and validation accuracy says whether it carries over to patients it has not seen.",
           "Train the recommended model",
           "Do the training and validation losses fall together? At which epoch does validation accuracy stop "
           "improving?", "pages/train.py"),
    Lesson("evaluate", "Read the confusion matrix, ROC and Grad-CAM",
           "One accuracy number hides which classes are confused and how sure the model is. The confusion matrix "
           "shows who is mistaken for whom, the ROC curve the trade-off between sensitivity and specificity, and "
           "Grad-CAM where in the image the model looked.",
           "Open the test report of the latest run",
           "Which two classes are confused most? On a misclassified image, does Grad-CAM point at the lesion or at "
           "something else?", "pages/evaluate.py"),
    Lesson("break", "Break it on purpose: imbalance and leaking patients",
           "Numbers can look good and mean little. With a rare class, accuracy stays high while that class is "
           "missed; with a patient's images on both sides of the split, the model recognises the patient instead "
           "of the disease. This lesson makes both datasets from the phantom and trains on each next to its honest "
           "counterpart.",
           "Make the broken datasets and train on them",
           "In Evaluate → Compare: both imbalanced runs reach about the same accuracy, but compare their balanced "
           "accuracy, and the cavity row of the no-remedy run's confusion matrix. The leaky split scores well above "
           "50% on labels no image shows; the patient split of the same images stays near chance. Which would you "
           "have believed?",
           "pages/evaluate.py"),
    Lesson("denoise", "Denoise and compare with non-local means",
           "Noise hides low-contrast detail, and every denoiser trades noise for blur. Non-local means, a classic "
           "filter, averages similar patches; a trained network learns what the images should look like. PSNR and "
           "SSIM against the clean original say which keeps more.",
           "Compare denoisers on noisy chest images",
           "Press Compare: which method has the best PSNR and SSIM? Does the best score also look best (try one "
           "image in the One image tab)?", "pages/enhance.py"),
    Lesson("synthesize", "Synthesize images and judge them",
           "Generative models make new images that look like the training data, which can help when data is "
           "scarce, or mislead when the samples are poor or copy training images. Judging them takes more than a "
           "look: distances between feature distributions, precision and recall, and a memorisation check.",
           "Sample a generative model",
           "Do the samples look like chest images of their class? In Quality: is recall low (missing variety), and "
           "are samples closer to training images than real test images are (memorisation)?",
           "pages/synthesize.py"),
)
LESSON_KEYS = tuple(lesson.key for lesson in LESSONS)


def demo_config() -> dict[str, Any]:
    """The clinician's quick start and lesson 2: the recommended classification recipe on the built-in phantom."""
    return {"dataset": DEFAULT_DATASET_ID, "name": DEMO_RUN_NAME}


def gan_config() -> dict[str, Any]:
    """Lesson 6 when no generative run exists: the recommended GAN recipe on the built-in phantom."""
    return {"task": "gan", "dataset": DEFAULT_DATASET_ID, "name": "Lesson 6: GAN"}


LEAK_EPOCHS = 30  # the leak runs train long enough to memorise patients (validation, leaky too, picks the best)


def broken_configs(dataset_ids: dict[str, str]) -> list[dict[str, Any]]:
    """Lesson 4's runs, each next to its honest counterpart, given the stored lesson datasets' ids by kind
    ("imbalanced", "leaky", "honest")."""
    return [
        {"dataset": dataset_ids["imbalanced"], "name": "Lesson 4: imbalanced, no remedy"},
        {"dataset": dataset_ids["imbalanced"], "imbalance": "class_weights",
         "name": "Lesson 4: imbalanced, class weights"},
        {"dataset": dataset_ids["leaky"], "epochs": LEAK_EPOCHS, "name": "Lesson 4: leaky split"},
        {"dataset": dataset_ids["honest"], "epochs": LEAK_EPOCHS, "name": "Lesson 4: patient split"},
    ]


BROKEN_RUN_NAMES = tuple(config["name"] for config in broken_configs({"imbalanced": "", "leaky": "", "honest": ""}))


class RunLike(Protocol):
    """What progress needs of a run record (core.jobs.store.RunRecord has it)."""

    status: str
    task: str
    dataset: str
    name: str


@dataclass(frozen=True)
class Progress:
    state: str   # "done" | "started" | "todo"
    note: str    # one short sentence


ACTIVE = ("queued", "running", "stopping")


def lesson_progress(records: Iterable[RunLike], visited: Iterable[str] = ()) -> dict[str, Progress]:
    """Each lesson's progress by key, from the workspace's runs and the lessons opened in this session.

    window, denoise: done once opened. train: done when a classifier on the built-in phantom completed, started
    while one is queued or running. evaluate: done once opened with a completed classifier. break: done when all of
    lesson 4's runs completed. synthesize: done once opened with a completed generative run (started while one
    trains)."""
    records, visited = list(records), set(visited)
    phantom = [r for r in records if r.task in CLASSIFIERS and r.dataset == DEFAULT_DATASET_ID]
    classifiers = [r for r in records if r.task in CLASSIFIERS]
    broken = [r for r in records if r.name in BROKEN_RUN_NAMES]
    generative = [r for r in records if r.task in GENERATIVE]

    def by_runs(runs: list[RunLike], done: str, started: str, todo: str, opened: bool = True) -> Progress:
        if any(r.status == "completed" for r in runs) and opened:
            return Progress("done", done)
        if any(r.status in ACTIVE for r in runs) or any(r.status == "completed" for r in runs):
            return Progress("started", started)
        return Progress("todo", todo)

    finished = {r.name for r in broken if r.status == "completed"}
    return {
        "window": Progress("done", "Opened.") if "window" in visited else Progress("todo", "Not opened yet."),
        "train": by_runs(phantom, "A model on the built-in phantom has finished.", "Training now.",
                         "No model trained yet."),
        "evaluate": (Progress("done", "Report opened.") if "evaluate" in visited and
                     any(r.status == "completed" for r in classifiers) else
                     Progress("todo", "Needs a finished run (lesson 2).") if not any(r.status == "completed"
                                                                                      for r in classifiers) else
                     Progress("todo", "A finished run is ready to read.")),
        "break": (Progress("done", "All four runs finished.") if finished >= set(BROKEN_RUN_NAMES) else
                  Progress("started", f"{len(finished)} of {len(BROKEN_RUN_NAMES)} runs finished.") if broken else
                  Progress("todo", "Not started.")),
        "denoise": Progress("done", "Opened.") if "denoise" in visited else Progress("todo", "Not opened yet."),
        "synthesize": by_runs(generative, "Samples looked at.", "A generative model is training or ready to look "
                              "at.", "No generative model yet.", opened="synthesize" in visited),
    }


LESSON_IMAGE_DATASET = "phantom-128"   # lessons 1 and 5 look at the largest built-in chest phantom
LUNG_PERCENTILES = (20.0, 80.0)


def lung_window(pixels: Any) -> tuple[float, float]:
    """(center, width) of a window narrowed to a phantom radiograph's lung fields and soft tissue: from its 20th to
    its 80th percentile (air below goes black, spine and heart above go white), in the image's own units."""
    import numpy as np

    low, high = (float(v) for v in np.percentile(np.asarray(pixels, dtype=np.float64), LUNG_PERCENTILES))
    return (low + high) / 2, max(high - low, 1.0)
