"""Lesson 4's datasets: built-in phantom data broken on purpose, so a model's numbers lie and a learner sees how.

Two ways the numbers lie, each with its honest counterpart made of the same images:

- Class imbalance ("Lesson 4: imbalanced"): the 64 px chest phantom with one class (cavity) kept at RARE_SHARE
  (3 %) of every split, as a rare finding is in a clinic. Accuracy is dominated by the common classes, so it stays
  high while the rare class's sensitivity collapses; the honest counterpart is the same dataset trained with
  class weights (a weighted loss), judged by balanced accuracy and the rare class's sensitivity. Measured with the
  recommended recipe (CPU, seed 0): accuracy 0.949 both ways; balanced accuracy 0.756 -> 0.923; cavity
  sensitivity 1/12 -> 10/12.
- Patients leaking across splits ("Lesson 4: leaky split" and "Lesson 4: patient split"): lesion-free phantom
  images (the phantom's "normal" class), each patient's two images re-exposed as repeat examinations (8 images a
  patient), labelled per patient at random, so nothing in an image shows the label. Split by patient (honest), a
  model can do no better than chance (50 %); split by image (leaky), every test patient also has images in
  training, and a model that memorises anatomy scores far above chance on a task that cannot be learned (measured,
  30 epochs of the recipe: 0.986 leaky against 0.500 honest). Both keep the patient in items.csv "group".

Every function is deterministic: the same arguments give the same arrays. See Roberts et al., "Common pitfalls and
recommendations for using machine learning to detect and prognosticate for COVID-19", Nature Machine Intelligence
2021 (patient overlap between splits), and Saito & Rehmsmeier, PLoS ONE 2015 (accuracy under class imbalance).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.phantom import PHANTOM_CLASSES, generate_phantom
from core.data.splits import SPLITS, assign_splits
from core.data.store import Dataset, DatasetInfo, count_by_split, datasets_dir, new_dataset_id, stored_datasets, \
    write_dataset

LESSON_SEED = 4
SIZE = 64
RARE_CLASS = "cavity"
RARE_SHARE = 0.03               # the rare class's share of every split
IMBALANCED_COUNT = 3200         # phantom images drawn before the rare class is thinned
LEAK_PATIENTS = 60              # patients of the leak datasets
EXPOSURES = 4                   # re-exposures of each of a patient's two images (8 images a patient)
LEAK_CLASSES = ("normal", "nodule")
GENERATOR = "lesson4-1"         # bump when a generator changes, so stale copies are made again

IMBALANCED_NAME = "Lesson 4: imbalanced"
LEAKY_NAME = "Lesson 4: leaky split"
HONEST_NAME = "Lesson 4: patient split"
KINDS = {"imbalanced": IMBALANCED_NAME, "leaky": LEAKY_NAME, "honest": HONEST_NAME}


@dataclass
class BrokenData:
    """A dataset before it is stored: uint8 (N, H, W) images, int64 (N,) labels, (N,) patients and splits."""

    kind: str                   # "imbalanced" | "leaky" | "honest"
    images: np.ndarray
    labels: np.ndarray
    patients: np.ndarray
    splits: np.ndarray
    classes: tuple[str, ...]
    description: str


def imbalanced_data(count: int = IMBALANCED_COUNT, share: float = RARE_SHARE, seed: int = LESSON_SEED
                    ) -> BrokenData:
    """The phantom (`count` images, 64 px) split by patient, then thinned so RARE_CLASS is `share` of each split
    (whole patients are dropped, lowest numbers kept, so no patient is split). Raises ValueError for a share
    outside (0, 0.5)."""
    if not 0 < share < 0.5:
        raise ValueError(f"share must be between 0 and 0.5, got {share}")
    phantom = generate_phantom(SIZE, count, seed)
    splits = assign_splits(phantom.labels, phantom.patients, seed=seed)
    rare = PHANTOM_CLASSES.index(RARE_CLASS)
    keep = phantom.labels != rare
    for split in SPLITS:
        common = int(((phantom.labels != rare) & (splits == split)).sum())
        wanted = round(share * common / (1 - share))          # rare / (common + rare) = share
        rare_here = np.flatnonzero((phantom.labels == rare) & (splits == split))
        patients = list(dict.fromkeys(phantom.patients[rare_here]))  # in order of appearance
        kept_patients: set[str] = set()
        kept = 0
        for patient in patients:
            if kept >= wanted:
                break
            kept_patients.add(patient)
            kept += int((phantom.patients[rare_here] == patient).sum())
        keep[rare_here] = np.isin(phantom.patients[rare_here], list(kept_patients))
    description = (f"Lesson 4 (class imbalance): the chest phantom with '{RARE_CLASS}' kept at {share:.0%} of every "
                   "split, as a rare finding is in a clinic. Accuracy stays high while the rare class's sensitivity "
                   "falls: compare accuracy with balanced accuracy, and the rare class's row of the confusion "
                   "matrix.")
    return BrokenData("imbalanced", phantom.images[keep], phantom.labels[keep].astype(np.int64),
                      phantom.patients[keep], splits[keep], PHANTOM_CLASSES, description)


def leak_data(leaky: bool, patients: int = LEAK_PATIENTS, exposures: int = EXPOSURES, seed: int = LESSON_SEED
              ) -> BrokenData:
    """Lesion-free phantom images of `patients` patients, each patient's two images re-exposed `exposures` times
    (as repeat examinations: gamma, contrast, brightness and noise drawn anew), labelled normal/nodule per patient
    at random (balanced), so no image shows its label. `leaky`: split by image (a patient's images land on both
    sides); else by patient (the honest split of the same images)."""
    phantom = generate_phantom(SIZE, 8 * patients, seed)  # a quarter are "normal": 2 images of each of 2n patients
    normal = np.flatnonzero(phantom.labels == PHANTOM_CLASSES.index("normal"))
    chosen = normal[np.isin(phantom.patients[normal], np.unique(phantom.patients[normal])[:patients])]
    rng = np.random.default_rng([seed, 4])
    base, base_patients = phantom.images[chosen], phantom.patients[chosen]
    images = np.concatenate([_reexpose(base, rng) for _ in range(exposures)])
    patient_of = np.tile(base_patients, exposures)
    unique = np.unique(base_patients)
    patient_label = dict(zip(unique, rng.permutation(np.arange(len(unique)) % len(LEAK_CLASSES))))
    labels = np.array([patient_label[p] for p in patient_of], dtype=np.int64)
    order = np.argsort(patient_of, kind="stable")  # a patient's images together, as an import would list them
    images, patient_of, labels = images[order], patient_of[order], labels[order]
    groups = np.array([f"image-{i}" for i in range(len(images))]) if leaky else patient_of
    splits = assign_splits(labels, groups, seed=seed)
    common = (f"Lesson 4 (patients leaking across splits): lesion-free chest phantom images, {2 * exposures} per "
              "patient (repeat examinations), whose label (normal or nodule) was drawn per patient: no image shows "
              "it, so an honest model can do no better than chance (50%). ")
    description = common + ("Split by IMAGE: most test patients also have images in training, and a model that "
                            "memorises their anatomy scores above chance." if leaky else
                            "Split by PATIENT (the honest split of the same images): no patient is on both sides.")
    return BrokenData("leaky" if leaky else "honest", images, labels, patient_of, splits, LEAK_CLASSES, description)


def _reexpose(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 images with a new exposure each (gamma, contrast, brightness within the phantom's own ranges) and new
    Gaussian noise: the same anatomy, as a repeat examination shows it."""
    n = len(images)
    x = images.astype(np.float32) / 255.0
    gamma = np.exp(rng.random(n) * 0.6 - 0.3).astype(np.float32)[:, None, None]
    contrast = (0.85 + rng.random(n) * 0.3).astype(np.float32)[:, None, None]
    bright = (rng.random(n) * 0.1 - 0.05).astype(np.float32)[:, None, None]
    x = 0.5 + bright + contrast * (np.clip(x, 0, 1) ** gamma - 0.5)
    x += rng.standard_normal(x.shape, dtype=np.float32) * (0.01 + rng.random(n) * 0.02).astype(np.float32)[:, None, None]
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)


def build(kind: str, **kwargs) -> BrokenData:
    """The data of one lesson dataset: kind is "imbalanced", "leaky" or "honest" (ValueError otherwise)."""
    if kind == "imbalanced":
        return imbalanced_data(**kwargs)
    if kind in ("leaky", "honest"):
        return leak_data(kind == "leaky", **kwargs)
    raise ValueError(f"unknown lesson dataset kind {kind!r}; known: {', '.join(KINDS)}")


def patients_on_both_sides(patients: np.ndarray, splits: np.ndarray) -> set[str]:
    """The patients with images in the test split and in another split (the leak)."""
    test = set(patients[splits == "test"])
    other = set(patients[splits != "test"])
    return test & other


def find_lesson_dataset(workspace: str, kind: str) -> DatasetInfo | None:
    """The workspace's stored lesson dataset of `kind` (made by this generator version), or None."""
    for info in stored_datasets(workspace):
        if info.preprocessing.get("lesson") == kind and info.preprocessing.get("generator") == GENERATOR:
            return info
    return None


def store_lesson_dataset(workspace: str, kind: str, **kwargs) -> DatasetInfo:
    """Write the lesson dataset of `kind` into `workspace` once (core.data.store.write_dataset, atomic); a second
    call returns the stored one. `kwargs` go to the generator (tests pass small counts). About 1-3 s each."""
    import pandas as pd  # here, as the store does: listing datasets needs no pandas

    found = find_lesson_dataset(workspace, kind)
    if found is not None:
        return found
    data = build(kind, **kwargs)
    classes = list(data.classes)
    split_counts, class_counts = count_by_split("classification", classes, data.labels, data.splits)
    numbers: dict[str, int] = {}
    names = []
    for patient in data.patients:
        numbers[patient] = numbers.get(patient, 0) + 1
        names.append(f"{patient}-{numbers[patient]}")
    items = pd.DataFrame({"name": names, "file": "", "frame": 0, "label": [classes[i] for i in data.labels],
                          "split": data.splits, "group": data.patients, "format": "phantom", "width": SIZE,
                          "height": SIZE})
    name = KINDS[kind]
    info = DatasetInfo(
        id=new_dataset_id(name), name=name, task="classification", classes=classes, size=SIZE, channels=1,
        num_images=len(data.images), split_counts=split_counts, class_counts=class_counts, source="lesson",
        description=data.description,
        preprocessing={"size": SIZE, "channels": 1, "resize": "generated at size", "window": "generated",
                       "dtype": "uint8", "labels_from": "generator", "split_seed": LESSON_SEED,
                       "split_by": "image" if kind == "leaky" else "patient", "lesson": kind,
                       "generator": GENERATOR})
    folder: Path = datasets_dir(workspace) / info.id
    return write_dataset(folder, info, data.images[..., None], data.labels, items).info


def stored_split(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(patients, splits) of a stored dataset, from its items.csv."""
    items = dataset.items
    return items["group"].astype(str).to_numpy(), items["split"].astype(str).to_numpy()
