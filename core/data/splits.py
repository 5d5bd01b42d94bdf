"""Seeded train/validation/test splits: stratified by class, grouped by patient so no patient spans two splits.

A split is computed once when a dataset is stored and saved with it, so every run sees the same test set.
Synthetic images (made by a generative model) are only ever training images: `keep_in_train` keeps them out of
the validation and test splits and out of every cross-validation fold's validation share.
"""
from __future__ import annotations

import warnings

import numpy as np

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)


def assign_splits(
    strata: np.ndarray,
    groups: np.ndarray,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    keep_in_train: np.ndarray | None = None,
) -> np.ndarray:
    """Return an array of "train" / "val" / "test", one per item.

    Args:
        strata: one stratum per item (the class index; for multi-label data the rarest positive label;
            -1 when unlabelled). Class proportions are kept close to equal across splits.
        groups: one group key per item (a pseudonymous patient key, or the file an item came from);
            all items of a group land in the same split.
        fractions: train, val, test shares; they must sum to 1.
        seed: the same seed gives the same split.
        keep_in_train: (N,) bool, items that go to train whatever happens (synthetic images); the other items
            are split among themselves exactly as they would be without them.
    """
    if keep_in_train is not None and np.asarray(keep_in_train, dtype=bool).any():
        keep = np.asarray(keep_in_train, dtype=bool)
        result = np.full(len(keep), "train", dtype=object)
        result[~keep] = assign_splits(np.asarray(strata)[~keep], np.asarray(groups)[~keep], fractions, seed)
        return result.astype(str)
    strata = np.asarray(strata)
    groups = np.asarray(groups).astype(str)
    n = len(strata)
    result = np.full(n, "train", dtype=object)
    if n == 0:
        return result.astype(str)
    _, val_frac, test_frac = fractions
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")

    unique_groups = np.unique(groups)
    if len(unique_groups) < 3:  # too few groups to give every split one: everything trains
        return result.astype(str)

    test_idx = _take_share(np.arange(n), strata, groups, test_frac, seed)
    result[test_idx] = "test"
    rest = np.setdiff1d(np.arange(n), test_idx)
    if val_frac > 0 and len(np.unique(groups[rest])) >= 2:
        val_idx = _take_share(rest, strata[rest], groups[rest], val_frac / (1 - test_frac), seed + 1)
        result[val_idx] = "val"
    return result.astype(str)


def _take_share(indices: np.ndarray, strata: np.ndarray, groups: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Pick about `share` of `indices` as whole groups, stratified by class.

    One fold of a seeded StratifiedGroupKFold with round(1 / share) folds; it also spreads a class held by fewer
    groups than folds as well as it can (a plain grouped shuffle, the fallback when there are fewer groups than
    folds, leaves a rare class out of the held-out share about half the time).
    """
    if share <= 0:
        return np.array([], dtype=int)
    from sklearn.model_selection import GroupShuffleSplit  # scikit-learn takes a second to import

    n_groups = len(np.unique(groups))
    n_folds = int(round(1 / share))
    picked = np.array([], dtype=int)
    if 2 <= n_folds <= n_groups:
        try:
            with warnings.catch_warnings():  # "the least populated class has only N members": handled above
                warnings.simplefilter("ignore", UserWarning)
                picked = _fold_with_most_classes(strata, groups, n_folds, seed)
        except ValueError:  # every class has fewer items than folds
            picked = np.array([], dtype=int)
    if len(picked) == 0:  # few groups: a plain grouped shuffle
        shuffle = GroupShuffleSplit(n_splits=1, test_size=max(share, 1 / n_groups), random_state=seed)
        _, picked = next(shuffle.split(np.zeros(len(strata)), strata, groups))
    return indices[_add_missing_classes(picked, strata, groups, seed)]


def _fold_with_most_classes(strata: np.ndarray, groups: np.ndarray, n_folds: int, seed: int,
                            attempts: int = 20) -> np.ndarray:
    """The held-out part of the first StratifiedGroupKFold fold (seeded) that holds every class; failing that,
    the same with up to `attempts` reshuffles; failing that, the fold seen holding the most classes.

    With few items per class (a dozen clips, say) the first fold can hold a single class, so a validation or test
    split could not measure the others; on larger data the first fold already holds every class and is kept, so
    stored splits do not change."""
    from sklearn.model_selection import StratifiedGroupKFold

    wanted = len(np.unique(strata))
    best, best_count = None, -1
    for attempt in range(attempts):
        folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed + 7919 * attempt)
        for _, held_out in folds.split(np.zeros(len(strata)), strata, groups):
            count = len(np.unique(strata[held_out]))
            if count == wanted:
                return held_out
            if count > best_count:
                best, best_count = held_out, count
    return best


def _add_missing_classes(held_out: np.ndarray, strata: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray:
    """`held_out` plus, for each class it lacks that at least 3 other groups hold, one seeded random such group
    (whole), so the held-out split can measure that class and training keeps at least two of its groups."""
    rng = np.random.default_rng(seed)
    chosen = set(groups[held_out])
    for stratum in np.unique(strata):
        if stratum in set(strata[np.isin(groups, list(chosen))]):
            continue
        candidates = sorted(set(groups[strata == stratum]) - chosen)
        if len(candidates) >= 3:
            chosen.add(candidates[int(rng.integers(len(candidates)))])
    return np.flatnonzero(np.isin(groups, list(chosen)))


def stratum_of(labels: np.ndarray) -> np.ndarray:
    """The stratum used for splitting: the class index, or for multi-hot labels the rarest positive label
    (so rare findings are spread over the splits), or -1 when an item has no positive label."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        return labels.astype(int)
    frequency = labels.sum(axis=0)
    order = np.argsort(frequency)  # rarest first
    strata = np.full(len(labels), -1, dtype=int)
    for label in order[::-1]:  # later (rarer) labels overwrite earlier ones
        strata[labels[:, label] > 0] = label
    return strata


def cross_validation_fold(pool: np.ndarray, strata: np.ndarray, groups: np.ndarray, folds: int, fold: int,
                          seed: int = 0, keep_in_train: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) dataset indices for fold `fold` of `folds`: the pooled train+val images are cut into
    stratified folds of whole groups (patients); the test split is never part of the pool. Items marked in
    `keep_in_train` ((len(pool),) bool: synthetic images) train in every fold and never validate."""
    from sklearn.model_selection import StratifiedGroupKFold

    if keep_in_train is not None and np.asarray(keep_in_train, dtype=bool).any():
        keep = np.asarray(keep_in_train, dtype=bool)
        train, val = cross_validation_fold(pool[~keep], np.asarray(strata)[~keep], np.asarray(groups)[~keep],
                                           folds, fold, seed)
        return np.sort(np.concatenate([train, pool[keep]])), val
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    train, val = list(splitter.split(np.zeros(len(pool)), strata, groups))[fold]
    return pool[train], pool[val]
