"""Ensemble predictions for many member subsets at once.

The ensemble of a subset S predicts argmax over classes of mean_{k in S} s_k, where s_k is
member k's score: softmax probabilities in float64 (``mean_prob``, the default), raw
logits (``mean_logit``) or a one-hot vote (``vote``); ties go to the first class index.
"""

from __future__ import annotations

import numpy as np

from ..errors import bad_setting

COMBINES = ("mean_prob", "mean_logit", "vote")
_CHUNK_BYTES = 1 << 27  # working memory per block of subsets


def softmax64(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def member_scores(logits: np.ndarray, combine: str) -> np.ndarray:
    """float64 [K, N, C] scores whose subset mean's argmax is that subset's prediction."""
    if combine not in COMBINES:
        raise bad_setting("combine", combine, f"one of {', '.join(COMBINES)}")
    if combine == "mean_logit":
        return np.asarray(logits, dtype=np.float64)
    probs = softmax64(logits)
    if combine == "mean_prob":
        return probs
    n_classes = probs.shape[-1]
    return np.eye(n_classes)[probs.argmax(axis=-1)]


def _candidates(scores: np.ndarray, combine: str) -> np.ndarray:
    """bool [N, C]: the classes that can win for some subset of members.

    Every subset's mean of class c* = argmax_c min_k s_kc is at least L = min_k s_kc*, so
    the winner's mean is >= L and a class whose best member score is below L can never
    win or tie. For votes the winner has at least one vote. Pruning the others keeps the
    result exact and makes the per-subset work a few classes instead of C.
    """
    best = scores.max(axis=0)
    if combine == "vote":
        return best > 0
    floor = scores.min(axis=0).max(axis=1, keepdims=True)
    return best >= floor - 1e-12 * np.maximum(1.0, np.abs(floor))


def ensemble_predictions(scores: np.ndarray, subsets: np.ndarray, combine: str) -> np.ndarray:
    """Predicted class of each subset's ensemble for each sample.

    Args:
        scores: float64 [K, N, C] member scores (see :func:`member_scores`).
        subsets: int [S, m] member indices, all subsets of the same size m.
        combine: how ``scores`` were made.

    Returns:
        int64 [S, N].
    """
    n_members, n_samples, _ = scores.shape
    size = subsets.shape[1]
    candidates = _candidates(scores, combine)
    width = int(candidates.sum(axis=1).max())
    # candidate classes first, in ascending order; padding repeats the first candidate,
    # so a first-index argmax never picks it over a real one
    classes = np.argsort(~candidates, axis=1, kind="stable")[:, :width]
    pad = np.arange(width) >= candidates.sum(axis=1, keepdims=True)
    classes = np.where(pad, classes[:, :1], classes)
    reduced = np.take_along_axis(scores, classes[None], axis=2).reshape(n_members, -1)
    weights = np.zeros((len(subsets), n_members))
    np.put_along_axis(weights, subsets, 1.0, axis=1)
    out = np.empty((len(subsets), n_samples), dtype=np.int64)
    step = max(1, _CHUNK_BYTES // (8 * reduced.shape[1]))
    for start in range(0, len(subsets), step):
        mean = (weights[start:start + step] @ reduced) / size
        best = mean.reshape(-1, n_samples, width).argmax(axis=2)
        out[start:start + step] = np.take_along_axis(classes, best.T, axis=1).T
    return out
