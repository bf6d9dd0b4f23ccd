"""Disagreement between members and expected calibration error, per group."""

from __future__ import annotations

from dataclasses import dataclass

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


def calibration_bins(confidence: np.ndarray, correct: np.ndarray,
                     grouping: Grouping) -> np.ndarray:
    """Per predictor, group and one of 15 equal-width confidence bins: the samples, their
    summed confidence and how many are right, where a sample's confidence is its top
    probability and it is right when that class is its label.

    Args:
        confidence: float [X, N], the top probability of X predictors.
        correct: bool [X, N], whether that top class is the label.

    Returns:
        float64 [X, 3, G, ECE_BINS]: samples, summed confidence, number right.
    """
    bins = np.clip(np.ceil(confidence * ECE_BINS).astype(np.int64) - 1, 0, ECE_BINS - 1)
    n_groups = len(grouping)
    size = n_groups * ECE_BINS
    cell = grouping.codes[None, :] * ECE_BINS + bins  # [X, N]: (group, bin)
    out = np.empty((len(confidence), 3, size))
    for x in range(len(confidence)):
        out[x, 0] = np.bincount(cell[x], minlength=size)
        out[x, 1] = np.bincount(cell[x], weights=confidence[x], minlength=size)
        out[x, 2] = np.bincount(cell[x], weights=correct[x], minlength=size)
    return out.reshape(len(confidence), 3, n_groups, ECE_BINS)


def expected_calibration_error(sums: np.ndarray) -> np.ndarray:
    """ECE per predictor and group, from :func:`calibration_bins`: float64 [X, G].

    ECE = sum over bins b of (n_b / n) |accuracy_b - mean confidence_b|.
    """
    gaps = np.abs(sums[:, 2] - sums[:, 1])  # n_b * |acc_b - conf_b|
    return gaps.sum(axis=2) / sums[:, 0].sum(axis=2)


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram per group: ``groups`` (names) and float64 [2, G, ECE_BINS]
    arrays (row 0 the members pooled, row 1 the ensemble) ``count`` (samples per bin;
    members' counts divided by K), ``confidence`` (mean top probability) and ``accuracy``
    (fraction right); bins without samples hold NaN."""

    groups: list[str]
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


def reliability_bins(sums: np.ndarray, grouping: Grouping) -> Reliability:
    """The reliability diagram behind the ECE, from :func:`calibration_bins` of the members
    (rows ``:-1``) and the ensemble (the last row): members pooled, then the ensemble."""
    pooled = np.stack([sums[:-1].sum(axis=0), sums[-1]], axis=1)  # [3, 2, G, B]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf, accuracy = pooled[1] / pooled[0], pooled[2] / pooled[0]
    count = pooled[0] / np.array([max(len(sums) - 1, 1), 1.0])[:, None, None]
    return Reliability(list(grouping.names), count, mean_conf, accuracy)
