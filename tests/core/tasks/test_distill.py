"""Knowledge distillation: the loss against its closed form, and the config's refusals."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.errors import UserError
from core.tasks import load_config, recipe
from core.tasks.distill import DistillConfig, distillation_loss


def softmax(values: list[float]) -> list[float]:
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_two_class_kl_at_temperature_two_matches_the_hand_computed_value():
    # teacher logits (2, 0) at T = 2: p = (e/(e+1), 1/(e+1)) = (0.7311, 0.2689); student (0, 0): q = (0.5, 0.5)
    # KL = ln 2 + p ln p + (1 - p) ln(1 - p) with p = e / (e + 1)
    p = math.e / (math.e + 1)
    kl = math.log(2) + p * math.log(p) + (1 - p) * math.log(1 - p)
    assert kl == pytest.approx(0.110944, abs=1e-6)
    student, teacher, labels = torch.zeros(1, 2), torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    assert distillation_loss(student, teacher, labels, 2.0, 1.0).item() == pytest.approx(4 * kl, rel=1e-6)


@pytest.mark.parametrize("temperature, weight", [(1.0, 0.5), (2.0, 0.3), (4.0, 0.9), (0.5, 0.7)])
def test_the_loss_is_the_weighted_sum_of_t_squared_kl_and_cross_entropy(temperature, weight):
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(5, 3, generator=generator), torch.randn(5, 3, generator=generator)
    labels = torch.tensor([0, 2, 1, 1, 0])
    kl = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        p, q = softmax([v / temperature for v in t_row]), softmax([v / temperature for v in s_row])
        kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q)) / len(student)
    ce = sum(-math.log(softmax(row)[label]) for row, label in zip(student.tolist(), labels.tolist())) / len(student)
    expected = weight * temperature ** 2 * kl + (1 - weight) * ce
    assert distillation_loss(student, teacher, labels, temperature, weight).item() == pytest.approx(expected, rel=1e-5)


def test_weight_zero_is_cross_entropy_and_weight_one_ignores_the_labels():
    generator = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(4, 3, generator=generator), torch.randn(4, 3, generator=generator)
    labels = torch.tensor([0, 1, 2, 0])
    assert torch.equal(distillation_loss(student, teacher, labels, 3.0, 0.0), F.cross_entropy(student, labels))
    other_labels = torch.tensor([2, 2, 2, 2])
    assert distillation_loss(student, teacher, labels, 3.0, 1.0) == distillation_loss(
        student, teacher, other_labels, 3.0, 1.0)
    # a student that already matches the teacher has nothing left to learn from it
    assert distillation_loss(teacher, teacher, labels, 3.0, 1.0).item() == pytest.approx(0.0, abs=1e-7)


def test_soft_gradient_is_t_times_the_probability_gap_and_keeps_its_scale_at_high_temperature():
    generator = torch.Generator().manual_seed(2)
    teacher = torch.randn(6, 4, generator=generator)
    logits = torch.randn(6, 4, generator=generator)
    labels = torch.zeros(6, dtype=torch.long)
    for temperature in (1.0, 4.0, 20.0):
        student = logits.clone().requires_grad_(True)
        distillation_loss(student, teacher, labels, temperature, 1.0).backward()
        gap = torch.softmax(logits / temperature, 1) - torch.softmax(teacher / temperature, 1)
        torch.testing.assert_close(student.grad, temperature * gap / len(logits), rtol=1e-5, atol=1e-7)
    # Hinton et al. 2015, section 2.1: at high T with zero-mean logits the gradient tends to (z - v) / (K N)
    centred_teacher, centred_student = teacher - teacher.mean(1, keepdim=True), logits - logits.mean(1, keepdim=True)
    student = centred_student.clone().requires_grad_(True)
    distillation_loss(student, centred_teacher, labels, 1000.0, 1.0).backward()
    torch.testing.assert_close(student.grad, (centred_student - centred_teacher) / (4 * 6), rtol=1e-2, atol=1e-5)


def test_teacher_logits_get_no_gradient():
    teacher = torch.randn(3, 2, requires_grad=True)
    distillation_loss(torch.randn(3, 2, requires_grad=True), teacher, torch.tensor([0, 1, 0]), 2.0, 0.5).backward()
    assert teacher.grad is None


def test_distillation_config_keys_and_their_refusals():
    config = recipe("distillation", "phantom-64")
    assert isinstance(config, DistillConfig) and config.model == "small_cnn"
    assert (config.temperature, config.distill_weight, config.teacher_run) == (2.0, 0.5, "")
    for key, value, words in (("temperature", 0, "'temperature' must be above 0"),
                              ("distill_weight", 1.5, "'distill_weight' must be between 0 and 1"),
                              ("teacher_run", 3, "'teacher_run' must be text, not 3")):
        with pytest.raises(UserError, match=words):
            load_config({"task": "distillation", "dataset": "x", key: value})
    with pytest.raises(UserError, match="Unknown config key 'teacher_run'"):
        load_config({"dataset": "x", "teacher_run": "abc"})  # a plain classifier has no teacher
