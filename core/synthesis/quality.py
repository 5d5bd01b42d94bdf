"""Quality of generated images, measured on features against held-out real images.

Every figure here takes feature arrays (N, F), in MedLab from the dataset's own small classifier
(core.tasks.feature_net): so the Fréchet distance is "FD on MedLab features", not FID, which is defined on
ImageNet Inception-v3 features. Which figures, and what is best:

- FD (Heusel et al. 2017): Fréchet distance of Gaussians fitted to both sets; 0 is best; biased upwards for
  small sets, so compare runs at the same sample count.
- KID (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased MMD² with the cubic polynomial kernel
  k(x, y) = (x·y / F + 1)³, averaged over random subsets, with its standard deviation; 0 is best, and unlike FD
  it is unbiased, so it can be slightly negative when the sets come from one distribution.
- Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020), through the
  `prdc` package with k = 5 nearest neighbours: precision / density say how many samples look real (fidelity),
  recall / coverage how much of the real variety the samples reach (diversity); 1 is best (density can exceed 1).
- Classifier two-sample test (Lopez-Paz & Oquab 2017): a logistic regression on standardised features and their
  squares (so a difference in spread, such as mode collapse, is seen as well as one in mean) tells real from
  synthetic under 5-fold cross-validation on balanced sets; 0.5 (chance) is best, 1.0 means fully separable.
- Memorisation: each sample's distance to its nearest training image against the real test images' own
  nearest-training-image distances (in the spirit of the nearest-neighbour checks of Borji 2019 and the
  "authenticity" of Alaa et al. 2022). A ratio of medians below 1, or many samples closer to a training image
  than almost every new real image is, means the model is reproducing its training images.
"""
from __future__ import annotations

import contextlib
import functools
import io
import math
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from scipy import linalg

NEAREST_K = 5                 # k of precision / recall / density / coverage (Naeem et al. 2020's choice)
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
TWO_SAMPLE_FOLDS = 5
MEMORISATION_PERCENTILE = 5.0  # a sample closer to a training image than this percentile of test images is "close"
MEMORISATION_RATIO = 0.5       # median sample / median test distance below this: memorising
MEMORISATION_SHARE = 0.25      # or at least this share of samples that close (5x the 5% expected; at least 5 of
                               # them): the 5th percentile of a few hundred test distances is itself noisy
CLOSEST_PAIRS = 8
_Fn = TypeVar("_Fn", bound=Callable[..., Any])


def one_thread(function: _Fn) -> _Fn:
    """Run `function` with one BLAS/OpenMP thread. These matrices are small, and on a busy 2-core server spinning
    threads made the figures for 500 samples take 4.5 s instead of 0.5 s (measured)."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return function(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


QUALITY_KEYS = ("fd", "kid", "kid_std", "precision", "recall", "density", "coverage", "two_sample_accuracy",
                "memorisation_ratio")


@one_thread
def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, F) (Heusel et al. 2017); NaN when a set
    has fewer than 2 rows. Like pytorch-fid, a tiny ridge is added when the covariance product is singular."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # a singular product (few samples, dead features) is handled just below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean.real))
    return max(value, 0.0)  # rounding can leave a tiny negative for identical sets


@one_thread
def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, subsets: int = KID_SUBSETS,
                              subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> tuple[float, float]:
    """(mean, standard deviation) over `subsets` random subsets of the unbiased MMD² with the cubic polynomial
    kernel (Bińkowski et al. 2018); subsets hold `subset_size` rows of each set (half the smaller set when it
    has fewer than twice that), drawn without replacement. (NaN, NaN) when a set has fewer than 4 rows."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    n = min(len(real), len(fake))
    m = min(subset_size, n // 2 if n < 2 * subset_size else n)  # smaller sets: half-size subsets, so the
    if m < 2:                                                     # spread over subsets means something
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    dims = real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        k_xx, k_yy, k_xy = ((x @ x.T / dims + 1) ** 3, (y @ y.T / dims + 1) ** 3, (x @ y.T / dims + 1) ** 3)
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values.append(within - 2 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))


@one_thread
def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray, nearest_k: int = NEAREST_K
                                      ) -> dict[str, float]:
    """{"precision", "recall", "density", "coverage"} of `fake` against `real` (Kynkäänniemi et al. 2019; Naeem
    et al. 2020) from the `prdc` package; NaN each when a set has no more than `nearest_k` + 1 rows."""
    if min(len(real), len(fake)) <= nearest_k + 1:  # prdc's k-th neighbour excludes the row itself
        return dict.fromkeys(("precision", "recall", "density", "coverage"), math.nan)
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        values = compute_prdc(np.asarray(real, np.float32), np.asarray(fake, np.float32), nearest_k=nearest_k)
    return {name: float(value) for name, value in values.items()}


@one_thread
def two_sample_accuracy(real: np.ndarray, fake: np.ndarray, folds: int = TWO_SAMPLE_FOLDS, seed: int = 0) -> float:
    """Cross-validated accuracy of a classifier telling `real` from `fake` rows (Lopez-Paz & Oquab 2017): 0.5 is
    best. Both sets are cut to the smaller one's size (seeded), so chance is exactly 0.5; the classifier is a
    logistic regression on standardised features and their squares, under 5-fold cross-validation that keeps
    exactly equal rows in one fold. Well below 0.5 means samples sit on top of real images (copies that differ
    a little). NaN with fewer than `folds` rows per set."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    n = min(len(real), len(fake))
    if n < folds:
        return math.nan
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.asarray(real, np.float64)[rng.choice(len(real), n, replace=False)],
                        np.asarray(fake, np.float64)[rng.choice(len(fake), n, replace=False)]])
    y = np.repeat([0, 1], n)
    # rows that are exactly equal (an image in both sets) share a fold, so a copy is never told apart from its
    # original by having seen the original; each other row is its own group
    _, groups = np.unique(np.ascontiguousarray(x).view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))),
                          return_inverse=True)
    model = make_pipeline(StandardScaler(), FunctionTransformer(_with_squares), StandardScaler(),
                          LogisticRegression(C=1.0, max_iter=2000))
    with warnings.catch_warnings():  # a few hard sets stop before full convergence; the accuracy is still fair
        warnings.simplefilter("ignore")
        scores = cross_val_score(model, x, y, groups=groups.ravel(),
                                 cv=StratifiedGroupKFold(folds, shuffle=True, random_state=seed))
    return float(np.mean(scores))


def _with_squares(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, x ** 2], axis=1)


@one_thread
def memorisation(samples: np.ndarray, train: np.ndarray, test: np.ndarray, space: str,
                 closest: int = CLOSEST_PAIRS) -> dict[str, Any]:
    """How close the samples come to the training images, against how close new real (test) images come.

    Args:
        samples, train, test: (N, D) vectors of generated, training and held-out real images in one space.
        space: what the vectors are, said in the report (e.g. "features of the dataset's classifier").
        closest: how many of the closest (sample, training image) pairs to list.

    Returns:
        {"space", "ratio": median sample / median test nearest-training distance (below 1: samples sit closer to
        the training images than new real images do), "sample_median", "test_median", "threshold": the
        MEMORISATION_PERCENTILE of the test distances, "close_share": the share of samples nearer than it (about
        5% for a model that does not copy), "expected_share", "close_count", "flagged": memorising,
        "pairs": [{"sample", "train", "distance"}] closest first, "pair_distances": their distances}; figures
        are NaN (and not flagged) when a set is empty.
    """
    samples, train, test = (_rows(a) for a in (samples, train, test))
    result: dict[str, Any] = {"space": space, "ratio": math.nan, "sample_median": math.nan,
                              "test_median": math.nan, "threshold": math.nan, "close_share": math.nan,
                              "expected_share": MEMORISATION_PERCENTILE / 100, "close_count": 0, "flagged": False,
                              "pairs": [], "pair_distances": []}
    if not len(samples) or not len(train) or not len(test):
        return result
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=1).fit(train)
    sample_distance, sample_nearest = (a[:, 0] for a in index.kneighbors(samples))
    test_distance = index.kneighbors(test)[0][:, 0]
    sample_median, test_median = float(np.median(sample_distance)), float(np.median(test_distance))
    threshold = float(np.percentile(test_distance, MEMORISATION_PERCENTILE))
    close = sample_distance <= threshold
    ratio = sample_median / test_median if test_median > 0 else (1.0 if sample_median == 0 else math.inf)
    share = float(close.mean())
    order = np.argsort(sample_distance, kind="stable")[:closest]
    result.update(
        ratio=float(ratio), sample_median=sample_median, test_median=test_median, threshold=threshold,
        close_share=share, close_count=int(close.sum()),
        flagged=bool(ratio < MEMORISATION_RATIO or (share >= MEMORISATION_SHARE and close.sum() >= 5)),
        pairs=[{"sample": int(i), "train": int(sample_nearest[i]), "distance": float(sample_distance[i])}
               for i in order])
    result["pair_distances"] = [pair["distance"] for pair in result["pairs"]]
    return result


def _rows(array: np.ndarray) -> np.ndarray:
    """(N, D) float32 rows of an (N, ...) array (empty arrays included)."""
    array = np.asarray(array, np.float32)
    return array.reshape(len(array), int(np.prod(array.shape[1:], dtype=int)))


@one_thread
def quality_figures(real: np.ndarray, fake: np.ndarray, train: np.ndarray | None = None, seed: int = 0,
                    space: str = "features of the dataset's classifier") -> dict[str, Any]:
    """Every figure at once: {"fd", "kid", "kid_std", "precision", "recall", "density", "coverage",
    "two_sample_accuracy", "memorisation_ratio", "n_real", "n_fake", "memorisation": the details of
    `memorisation` (None without `train`)}. `real` are held-out real features (N, F), `fake` the samples',
    `train` the training images' (for the memorisation check). A figure that the set sizes do not allow is NaN."""
    kid, kid_std = kernel_inception_distance(real, fake, seed=seed)
    close = memorisation(fake, train, real, space) if train is not None else None
    return {"fd": frechet_distance(real, fake), "kid": kid, "kid_std": kid_std,
            **precision_recall_density_coverage(real, fake),
            "two_sample_accuracy": two_sample_accuracy(real, fake, seed=seed),
            "memorisation_ratio": close["ratio"] if close else math.nan,
            "n_real": int(len(real)), "n_fake": int(len(fake)), "memorisation": close}
