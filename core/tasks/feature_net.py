"""The dataset's feature network (STUB: being written; the signatures are the interface)."""
from __future__ import annotations

import numpy as np
import torch

from core.data.store import Dataset
from core.tasks.tensors import SplitTensors


class FeatureNet:
    test_accuracy: float

    def features(self, images: torch.Tensor) -> np.ndarray:
        """(N, F) features of images (N, C, H, W) in [0, 1] of any size."""
        raise NotImplementedError

    def features_of_split(self, split: SplitTensors) -> np.ndarray:
        raise NotImplementedError


def feature_network(workspace: str, dataset: Dataset, device: torch.device) -> FeatureNet:
    raise NotImplementedError
