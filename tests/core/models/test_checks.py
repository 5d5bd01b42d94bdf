"""The boundary checks for a person's choice of network: each bad value is one sentence naming its field."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from core.models.checks import (check_channel_values, check_count, check_in_channels, check_name, check_scale,
                                is_whole)

# (value, low, expected)
TEST_CASES_WHOLE = [(1, 1, True), (0, 1, False), (0, 0, True), (np.int64(3), 1, True), (2.0, 1, False),
                    (True, 0, False), ("3", 1, False), (None, 0, False)]
# (call, message): every bad choice is refused with a UserError whose sentence names the field
TEST_CASES_BAD = [
    (lambda: check_name("AlexNet", ("small_cnn",), "classifier"),
     "model 'AlexNet' is not a known classifier; choose one of small_cnn."),
    (lambda: check_count(0, "num_classes", 1), "num_classes must be a whole number of at least 1, got 0."),
    (lambda: check_count(2.5, "width", 1), "width must be a whole number of at least 1, got 2.5."),
    (lambda: check_in_channels(2), "in_channels must be 1 (grey) or 3 (colour), got 2."),
    (lambda: check_in_channels(True), "in_channels must be 1 (grey) or 3 (colour), got True."),
    (lambda: check_scale(2, (1,), "resunet"), "scale must be 1 (denoising keeps the size) for resunet, got 2."),
    (lambda: check_scale(3, (2, 4), "srresnet"), "scale must be 2 or 4 for srresnet, got 3."),
    (lambda: check_channel_values((0.1, 0.2), 3, "input_mean"),
     "input_mean has 2 values but the model takes 3 input channel(s)."),
    (lambda: check_channel_values((0.2, 0.0, 0.2), 3, "input_std", positive=True),
     "input_std must be greater than 0, got (0.2, 0.0, 0.2)."),
]
# (call, expected): good choices come back normalised
TEST_CASES_GOOD = [
    (lambda: check_name(" ResNet18 ", ("small_cnn", "resnet18"), "classifier"), "resnet18"),
    (lambda: check_count(np.int64(4), "width", 1), 4),
    (lambda: check_in_channels(3), 3),
    (lambda: check_scale(4, (2, 4), "srresnet"), 4),
    (lambda: check_channel_values(None, 3, "input_std", positive=True), None),
    (lambda: check_channel_values(0.5, 3, "input_mean"), None),
    (lambda: check_channel_values([0.2, 0.3, 0.4], 3, "input_std", positive=True), None),
]
NETWORK_FILES = ("classifier.py", "discriminator.py", "small_cnn.py", "srresnet.py", "ssim.py", "unet.py")


@pytest.mark.parametrize("value,low,expected", TEST_CASES_WHOLE)
def test_is_whole(value: object, low: int, expected: bool) -> None:
    assert is_whole(value, low) is expected


@pytest.mark.parametrize("call,message", TEST_CASES_BAD)
def test_bad_choices_are_one_sentence(call, message: str) -> None:
    with pytest.raises(UserError) as caught:
        call()
    assert str(caught.value) == message


@pytest.mark.parametrize("call,expected", TEST_CASES_GOOD)
def test_good_choices_pass_normalised(call, expected: object) -> None:
    result = call()
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("file_name", NETWORK_FILES)
def test_network_files_neither_raise_user_errors_nor_import_from_other_networks(file_name: str) -> None:
    """User errors belong to the builders; a network imports only torch, the shared checks and its base."""
    tree = ast.parse((Path(__file__).parents[3] / "core" / "models" / file_name).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "core.errors" not in imported
    assert imported <= {"__future__", "collections.abc", "numbers", "torch", "torch.nn.functional",
                        "core.models.checks", "core.models.classifier"}
