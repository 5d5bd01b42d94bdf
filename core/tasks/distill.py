"""Knowledge distillation: a small student classifier trained on a trained teacher run's softened outputs plus the
labels (Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", NIPS Deep Learning Workshop 2015).

A distillation run is a single-label classification run whose loss also asks the student to match the teacher's
class probabilities at a temperature T. The teacher (a completed classification run of the same workspace and
dataset) is loaded through the run folder API (core.train.run_folder) and run in eval mode without gradients on
every augmented training batch, the standard on-the-fly method. Everything else is the classifier's: the shared
loop, validation (plain cross-entropy and accuracy, comparable with a student trained alone), the classification
report, and a rebuild spec (model.json) that is the student's own, so Evaluate, Predict and Export treat the run
like any classifier; the spec and the summary also name the teacher run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F

from core.data.augment import Augmentation, load_augmentation
from core.data.store import Dataset, DatasetInfo
from core.errors import UserError
from core.models import build_classifier
from core.tasks.classify import ClassifyConfig, ClassifyTask
from core.train.run_folder import (BEST_WEIGHTS, REBUILD_SPEC, SUMMARY_FILE, TrainedRun, load_trained_run, read_json,
                                   run_folder)

DISTILL_KEYS = ("teacher_run", "temperature", "distill_weight")  # what a distillation config adds to a classifier's


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      temperature: float, weight: float, class_weights: torch.Tensor | None = None,
                      label_smoothing: float = 0.0) -> torch.Tensor:
    """Hinton et al. (2015)'s distillation loss, averaged over the batch:

        weight * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - weight) * CE(student, labels)

    The soft term's gradient with respect to the student's logits is T * (q_T - p_T) / N (q, p: the student's
    and teacher's softened probabilities); the factor T^2 keeps its size about constant as T changes, so the
    weight means the same at every temperature (in the high-temperature limit, with zero-mean logits, the gradient
    tends to (z - v) / (K N), matching logits). The hard term is the classifier's ordinary cross-entropy at T = 1,
    with its optional class weights and label smoothing.

    Args:
        student_logits: (N, K) raw student outputs (float).
        teacher_logits: (N, K) raw teacher outputs, treated as constants (detached here).
        labels: (N,) true class indices (int64).
        temperature: T > 0; 1 is the plain softmax, higher values soften both distributions.
        weight: w in [0, 1]; 0 gives plain cross-entropy, 1 only the soft targets.
        class_weights: optional (K,) weights of the hard term (see torch.nn.functional.cross_entropy).
        label_smoothing: label smoothing of the hard term, in [0, 1).

    Returns:
        the scalar loss.

    Raises:
        ValueError: mismatched shapes, T not above 0 or w outside [0, 1] (a programming error: configs are
        checked with a UserError first).
    """
    if student_logits.shape != teacher_logits.shape or student_logits.ndim != 2:
        raise ValueError(f"student and teacher logits must both be (N, K), got {tuple(student_logits.shape)} and "
                         f"{tuple(teacher_logits.shape)}.")
    if not temperature > 0 or not 0 <= weight <= 1:
        raise ValueError(f"temperature must be above 0 and weight within [0, 1], got {temperature} and {weight}.")
    hard = F.cross_entropy(student_logits, labels, weight=class_weights, label_smoothing=label_smoothing)
    if weight == 0:
        return hard
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=1),
                    F.log_softmax(teacher_logits.detach() / temperature, dim=1), reduction="batchmean",
                    log_target=True)
    return weight * temperature ** 2 * soft + (1 - weight) * hard


@dataclass
class DistillConfig(ClassifyConfig):
    """A classification config plus the teacher and the two loss settings. The defaults besides those are the
    classification recipe (a small CNN student). T = 2 with equal weights: on the 64 px phantom with a ResNet-18
    teacher (bench/deploy_distillation.py), Hinton et al.'s high temperature and low label weight (T = 4, w = 0.9)
    cost the student 4.6 points of test accuracy after 3 epochs, where T = 2, w = 0.5 did not."""

    task: str = "distillation"
    teacher_run: str = ""             # the id of a completed single-label classification run of the same dataset
    temperature: float = 2.0          # T: softens teacher and student probabilities (1 = plain softmax)
    distill_weight: float = 0.5       # w: weight of the soft-target term; 1 - w weighs the labels' cross-entropy
    tasks: ClassVar[tuple[str, ...]] = ("distillation",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.temperature <= 100:
            raise UserError(f"Config field 'temperature' must be above 0 and at most 100, not {self.temperature}.")
        if not 0 <= self.distill_weight <= 1:
            raise UserError(f"Config field 'distill_weight' must be between 0 and 1, not {self.distill_weight}.")
        if not self.name and self.teacher_run:  # told apart from its student-alone run in every list
            self.name = f"{self.model} distilled from {self.teacher_run}"


class DistillTargets(NamedTuple):
    """The training targets of one batch: the labels (N,) and the teacher's logits (N, K) for the same images."""

    labels: torch.Tensor
    teacher_logits: torch.Tensor


def teacher_folder(config: DistillConfig, info: DatasetInfo, workspace: str) -> Path:
    """The folder of `config.teacher_run` in `workspace`, checked without loading weights: the run exists, has
    completed, is a single-label classifier of the same dataset, and takes this run's channels and image size.
    Raises UserError naming the field."""
    run_id = config.teacher_run
    if not run_id:
        raise UserError("Config field 'teacher_run' is required for distillation: the id of a completed "
                        "classification run on this dataset.")
    folder = run_folder(workspace, run_id)
    if "/" in run_id or run_id in (".", "..") or not folder.is_dir():
        raise UserError(f"Config field 'teacher_run': there is no run '{run_id}' in this workspace.")
    if not (folder / SUMMARY_FILE).exists() or not (folder / BEST_WEIGHTS).exists() or \
            not (folder / REBUILD_SPEC).exists():
        raise UserError(f"Config field 'teacher_run': run '{run_id}' has not completed; a teacher must be a "
                        "finished run.")
    spec = read_json(folder / REBUILD_SPEC)
    if spec.get("task") != "classification":
        raise UserError(f"Config field 'teacher_run': run '{run_id}' is not a single-label classifier, so it "
                        "cannot teach one.")
    if spec.get("dataset") != info.id or list(spec.get("classes", [])) != list(info.classes):
        raise UserError(f"Config field 'teacher_run': run '{run_id}' was trained on dataset "
                        f"'{spec.get('dataset')}', not '{info.id}'; the teacher must know this dataset's classes "
                        "and never have seen its test images.")
    image_size = config.image_size or info.size
    if spec.get("in_channels") != info.channels or spec.get("image_size") != image_size:
        raise UserError(f"Config field 'teacher_run': run '{run_id}' takes {spec.get('image_size')}-pixel images "
                        f"of {spec.get('in_channels')} channel(s), this run {image_size}-pixel ones of "
                        f"{info.channels}; set 'image_size' to the teacher's.")
    return folder


class DistillTask(ClassifyTask):
    """A student classifier trained by knowledge distillation from a teacher run (the report: the classifier's)."""

    kinds = ("distillation",)
    config_class = DistillConfig
    data_parallel = False  # one worker: distillation with several data-parallel ranks is not built or tested yet

    @classmethod
    def build(cls, config: DistillConfig, dataset: Dataset, workspace: str) -> DistillTask:
        folder = teacher_folder(config, dataset.info, workspace)
        teacher = load_trained_run(folder, ("classification",), "is not a single-label classifier")
        return cls(config, dataset, load_augmentation(workspace, config.dataset), teacher)

    def __init__(self, config: DistillConfig, dataset: Dataset, augmentation: Augmentation,
                 teacher: TrainedRun) -> None:
        super().__init__(config, dataset, augmentation)
        self.teacher_run = teacher

    @staticmethod
    def check(config: DistillConfig, info: DatasetInfo) -> str:
        if info.task == "multilabel":
            raise UserError(f"Dataset '{info.id}' has several labels per image; distillation trains single-label "
                            "classifiers.")
        return ClassifyTask.check(config, info)

    @classmethod
    def check_in_workspace(cls, config: DistillConfig, info: DatasetInfo, workspace: str) -> str:
        monitor = cls.check(config, info)
        teacher_folder(config, info, workspace)
        return monitor

    def setup(self, device: torch.device) -> None:
        super().setup(device)
        spec = self.teacher_run.spec
        with torch.random.fork_rng(devices=[]):  # building the teacher leaves the seeded random stream untouched:
            # the student sees the same initial weights and batches as the same recipe trained alone
            teacher = build_classifier(spec["architecture"], spec["in_channels"], len(spec["classes"]))
        teacher.load_state_dict(self.teacher_run.weights)  # includes its input normalisation
        teacher = teacher.to(device).eval().requires_grad_(False)
        self.teacher = teacher.to(memory_format=torch.channels_last) if self.channels_last else teacher

    # --- training -------------------------------------------------------------------------------------------
    def train_batches(self, epoch: int, start_step: int = 0):
        """The classifier's batches (images (B, C, S, S) augmented on the device), each with DistillTargets: its
        labels and the teacher's logits (B, K) for exactly those augmented images."""
        for images, labels in super().train_batches(epoch, start_step):
            yield images, DistillTargets(labels, self.teacher_logits(images))

    @torch.no_grad()
    def teacher_logits(self, images: torch.Tensor) -> torch.Tensor:
        """The teacher's logits (N, K) in float32 for images (N, C, S, S) in [0, 1] (eval mode, no gradients)."""
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            return self.teacher(images).float()

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor | DistillTargets, training: bool) -> torch.Tensor:
        if not isinstance(labels, DistillTargets):  # validation and test: plain cross-entropy, as a student alone
            return super()._loss(logits, labels, training)
        return distillation_loss(logits, labels.teacher_logits, labels.labels, self.config.temperature,
                                 self.config.distill_weight, class_weights=self.class_weights,
                                 label_smoothing=self.config.label_smoothing)

    # --- what outlives training -----------------------------------------------------------------------------
    def teacher_facts(self) -> dict[str, Any]:
        spec = self.teacher_run.spec
        return {"teacher_run": self.teacher_run.run_id, "teacher_architecture": spec.get("architecture"),
                "temperature": self.config.temperature, "distill_weight": self.config.distill_weight}

    def final_report(self) -> dict[str, Any]:
        return {**super().final_report(), **self.teacher_facts()}

    def rebuild_spec(self) -> dict[str, Any]:
        """The student's own spec (a plain classifier: Evaluate, Predict and Export use it unchanged), plus which
        teacher it learnt from."""
        return {**super().rebuild_spec(), "distillation": self.teacher_facts()}
