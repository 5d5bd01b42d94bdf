"""Is a new image like the training data? Three independent checks, each with a sentence saying why.

1. Input: colour where the model only saw greyscale (Hasler & Süsstrunk's colourfulness), or brightness and
   contrast outside what the training images span.
2. Features: the Mahalanobis distance of the model's penultimate features to the nearest class mean, with a
   shared covariance (Lee et al., "A Simple Unified Framework for Detecting Out-of-Distribution Samples and
   Adversarial Attacks", NeurIPS 2018), against the distances of the validation images.
3. Confidence: the (temperature-calibrated) top probability below what almost all validation images reach
   (Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution Examples", ICLR 2017).
   A gap under CONFIDENCE_TOLERANCE is float32 rounding, not a flag; a saturated validation split (limit near 1)
   therefore flags only what is visibly less sure.

Each reason prints its value and limit with as many decimals as it takes to show them apart.

The reference values are fitted once per run (on its training and validation splits) and stored with it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.covariance import LedoitWolf

COLOUR_LIMIT = 0.05        # colourfulness of a "greyscale" image stays below this (tinted scans included)
RANGE_PERCENTILES = (0.5, 99.5)
DISTANCE_PERCENTILE = 99.0
CONFIDENCE_PERCENTILE = 1.0
CONFIDENCE_TOLERANCE = 1e-6   # float32 softmax resolves about 6e-8 near 1: a gap this small is not "below"


def colourfulness(image: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness of an (H, W, 3) image in [0, 1]; 0 for greyscale."""
    if image.ndim != 3 or image.shape[2] != 3:
        return 0.0
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


@dataclass
class OODReference:
    greyscale_training: bool
    mean_range: tuple[float, float]       # brightness (mean of the prepared image) of training images
    std_range: tuple[float, float]        # contrast (standard deviation) of training images
    class_means: list[list[float]] = field(default_factory=list)   # (K, F)
    precision: list[list[float]] = field(default_factory=list)     # (F, F) inverse shared covariance
    distance_limit: float = float("inf")  # DISTANCE_PERCENTILE of validation distances
    confidence_limit: float = 0.0         # CONFIDENCE_PERCENTILE of validation top probabilities

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> OODReference:
        return cls(**json.loads(path.read_text()))

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Distance of each feature row to its nearest class mean (Mahalanobis, shared covariance)."""
        means, precision = np.asarray(self.class_means), np.asarray(self.precision)
        differences = features[:, None, :] - means[None, :, :]                       # (N, K, F)
        squared = np.einsum("nkf,fg,nkg->nk", differences, precision, differences)
        return np.sqrt(np.maximum(squared.min(axis=1), 0))


def fit_reference(train_images: np.ndarray, train_features: np.ndarray, train_labels: np.ndarray,
                  val_features: np.ndarray, val_confidence: np.ndarray, greyscale: bool) -> OODReference:
    """Fit the reference from prepared training images (N, C, H, W in [0, 1]), training features and labels
    (class index, or for multi-label data the first positive label, -1 for none) and validation features and
    top probabilities."""
    means = train_images.mean(axis=(1, 2, 3))
    stds = train_images.std(axis=(1, 2, 3))
    low, high = RANGE_PERCENTILES
    labels = np.asarray(train_labels)
    classes = [c for c in np.unique(labels) if c >= 0]
    class_means = np.stack([train_features[labels == c].mean(axis=0) for c in classes]) if classes else \
        train_features.mean(axis=0, keepdims=True)
    centred = train_features - class_means[np.searchsorted(classes, labels)] if classes else \
        train_features - class_means
    precision = LedoitWolf().fit(centred).precision_  # shrinkage keeps it invertible with few images
    reference = OODReference(
        greyscale_training=greyscale,
        mean_range=(float(np.percentile(means, low)), float(np.percentile(means, high))),
        std_range=(float(np.percentile(stds, low)), float(np.percentile(stds, high))),
        class_means=class_means.tolist(), precision=precision.tolist(),
        confidence_limit=float(np.percentile(val_confidence, CONFIDENCE_PERCENTILE)) if len(val_confidence) else 0.0,
    )
    if len(val_features):
        reference.distance_limit = float(np.percentile(reference.distances(val_features), DISTANCE_PERCENTILE))
    return reference


@dataclass
class OODResult:
    flagged: bool
    reasons: list[str]
    scores: dict[str, float]


def check(reference: OODReference, raw_colourfulness: float, prepared: np.ndarray, features: np.ndarray,
          confidence: float) -> OODResult:
    """Check one image: its colourfulness before preparation, the prepared (C, H, W) array the model saw, its
    penultimate features (F,) and its top (calibrated) probability."""
    reasons = []
    mean, std = float(prepared.mean()), float(prepared.std())
    distance = float(reference.distances(features[None])[0])
    if reference.greyscale_training and raw_colourfulness > COLOUR_LIMIT:
        reasons.append("it is a colour image, but the model was trained on greyscale images")
    for name, value, bounds in (("brightness", mean, reference.mean_range), ("contrast", std, reference.std_range)):
        if not _within(value, bounds):
            shown, low, high = _apart(value, *bounds)
            reasons.append(f"its {name} ({shown}) is outside the training range ({low}-{high})")
    if distance > reference.distance_limit:
        shown, limit = _apart(distance, reference.distance_limit, decimals=1)
        reasons.append(f"the model's features are unlike the training images (distance {shown}; "
                       f"{DISTANCE_PERCENTILE:.0f}% of validation images are below {limit})")
    if confidence < reference.confidence_limit - CONFIDENCE_TOLERANCE:
        shown, limit = _apart(confidence, reference.confidence_limit)
        reasons.append(f"the model is unsure (top probability {shown}, below the {limit} that "
                       f"{100 - CONFIDENCE_PERCENTILE:.0f}% of validation images reach)")
    scores = {"colourfulness": raw_colourfulness, "brightness": mean, "contrast": std, "feature_distance": distance,
              "confidence": confidence}
    return OODResult(bool(reasons), reasons, scores)


def _within(value: float, bounds: tuple[float, float], margin: float = 0.02) -> bool:
    return bounds[0] - margin <= value <= bounds[1] + margin


def _apart(value: float, *limits: float, decimals: int = 2, most: int = 9) -> tuple[str, ...]:
    """`value` and `limits` printed with the fewest decimals (at least `decimals`) at which the value reads
    differently from every limit, so a reason never says "1.00, below 1.00"."""
    for places in range(decimals, most + 1):
        texts = tuple(f"{number:.{places}f}" for number in (value, *limits))
        if texts[0] not in texts[1:]:
            return texts
    return tuple(repr(float(number)) for number in (value, *limits))
