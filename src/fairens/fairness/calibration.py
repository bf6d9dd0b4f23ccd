"""Disagreement between members and expected calibration error, per group."""

from __future__ import annotations

import numpy as np

from .groups import Grouping

ECE_BINS = 15


def disagreement(predictions: np.ndarray, grouping: Grouping) -> np.ndarray | None:
    """Mean over member pairs of the fraction of a group's samples they predict differently.

    Args:
        predictions: int [K, N], each member's predicted class.

    Returns:
        float64 [G], or None with a single member (no pairs).
    """
    n_members = len(predictions)
    if n_members < 2:
        return None
    # pair by pair: no [N, C] vote table, whose size grows with the number of classes
    apart = np.zeros(predictions.shape[1])
    for first in range(n_members - 1):
        apart += (predictions[first + 1:] != predictions[first]).sum(axis=0)
    n_pairs = n_members * (n_members - 1) / 2
    return grouping.sums(apart)[0] / (grouping.counts * n_pairs)


def _bin_of(confidence: np.ndarray) -> np.ndarray:
    """The equal-width confidence bin (0..ECE_BINS-1) of each confidence."""
    return np.clip(np.ceil(confidence * ECE_BINS).astype(np.int64) - 1, 0, ECE_BINS - 1)


def reliability_bins(confidence: np.ndarray, correct: np.ndarray,
                     grouping: Grouping) -> dict[str, object]:
    """The reliability diagram behind the ECE, per group and confidence bin, for the
    single members pooled (rows ``:-1`` of the inputs) and the ensemble (the last row).

    Returns:
        ``groups`` (names) and float64 [2, G, ECE_BINS] arrays ``count`` (samples per bin;
        members' counts divided by K), ``confidence`` (mean top probability) and
        ``accuracy`` (fraction right); bins without samples hold NaN.
    """
    n_groups = len(grouping)
    sums = np.zeros((3, 2, n_groups * ECE_BINS))
    for x in range(len(confidence)):
        row = int(x == len(confidence) - 1)
        cell = grouping.codes * ECE_BINS + _bin_of(confidence[x])
        size = n_groups * ECE_BINS
        sums[0, row] += np.bincount(cell, minlength=size)
        sums[1, row] += np.bincount(cell, weights=confidence[x], minlength=size)
        sums[2, row] += np.bincount(cell, weights=correct[x], minlength=size)
    sums = sums.reshape(3, 2, n_groups, ECE_BINS)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf, accuracy = sums[1] / sums[0], sums[2] / sums[0]
    count = sums[0] / np.array([max(len(confidence) - 1, 1), 1.0])[:, None, None]
    return {"groups": list(grouping.names), "count": count, "confidence": mean_conf,
            "accuracy": accuracy}


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               grouping: Grouping) -> np.ndarray:
    """ECE with 15 equal-width confidence bins, per group and predictor.

    ECE = sum over bins b of (n_b / n) |accuracy_b - mean confidence_b|, where a sample's
    confidence is its top probability and it is right when that class is its label.

    Args:
        confidence: float [X, N], the top probability of X predictors.
        correct: bool [X, N], whether that top class is the label.

    Returns:
        float64 [X, G].
    """
    bins = _bin_of(confidence)
    n_groups = len(grouping)
    cell = grouping.codes[None, :] * ECE_BINS + bins  # [X, N]: (group, bin)
    out = np.empty((len(confidence), n_groups))
    for x in range(len(confidence)):
        hits = np.bincount(cell[x], weights=correct[x], minlength=n_groups * ECE_BINS)
        conf = np.bincount(cell[x], weights=confidence[x], minlength=n_groups * ECE_BINS)
        gaps = np.abs(hits - conf).reshape(n_groups, ECE_BINS)  # n_b * |acc_b - conf_b|
        out[x] = gaps.sum(axis=1) / grouping.counts
    return out
