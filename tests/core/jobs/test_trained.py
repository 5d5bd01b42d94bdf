from __future__ import annotations

import pytest

from core.errors import UserError
from core.jobs.store import RunStore
from core.jobs.trained import load_trained_run
from core.models import build_classifier

CLASSIFIERS = ("classification", "multilabel")


def test_a_trained_classifier_gives_its_card_and_loadable_weights(trained):
    run = load_trained_run(RunStore(), trained.run_id, CLASSIFIERS, "is not a classifier")
    assert run.card["task"] == "classification" and run.card["classes"] == ["normal", "nodule", "cavity", "scar"]
    model = build_classifier(run.card["architecture"], run.card["in_channels"], len(run.card["classes"]))
    model.load_state_dict(run.weights)  # strict: every tensor present with its shape


def test_the_wrong_kind_of_run_is_one_sentence(trained):
    with pytest.raises(UserError, match=r"^Run '.+' is not a restoration model, so it cannot enhance images\.$"):
        load_trained_run(RunStore(), trained.run_id, ("denoise",), "is not a restoration model, so it cannot enhance images")


def test_a_run_without_weights_yet_says_so():
    record = RunStore().create("default", {"task": "classification", "dataset": "phantom-64", "model": "small_cnn",
                                           "epochs": 3}, monitor=None)
    with pytest.raises(UserError, match="has no trained weights yet"):
        load_trained_run(RunStore(), record.id, CLASSIFIERS, "is not a classifier")


def test_an_unknown_run_is_one_sentence():
    with pytest.raises(UserError):
        load_trained_run(RunStore(), "run-nope", CLASSIFIERS, "is not a classifier")
