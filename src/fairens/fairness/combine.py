"""Ensemble predictions for many member subsets at once.

The ensemble of a subset S predicts argmax over classes of mean_{k in S} s_k, where s_k is
member k's score: softmax probabilities in float64 (``mean_prob``, the default), raw
logits (``mean_logit``) or a vote (``vote``: one-hot, plus the probabilities scaled by
1 / (2K), which cannot outweigh a single vote among at most K and so only break ties in the
vote count: by the mean probability, not by class index, which in long-tailed data would
favour the majority classes); remaining ties go to the first class index.
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
    votes = np.eye(probs.shape[-1])[probs.argmax(axis=-1)]
    return votes + probs / (2 * probs.shape[0])


def _slack(bound: np.ndarray) -> np.ndarray:
    # bounds are compared across differently rounded sums: keep anything within a few ulps
    return bound - 1e-12 * np.maximum(1.0, np.abs(bound))


class SubsetPredictor:
    """Predictions of the ensembles of many member subsets, exactly, without scoring every
    class for every subset.

    For subsets of size m, the winner's mean score is at least L_m = max_c (mean of the m
    smallest member scores of class c), and class c's mean is at most U_m(c) = mean of its
    m largest member scores; a class with U_m(c) < L_m can neither win nor tie. Only the
    remaining (sample, class) pairs are scored, as a ragged list, so one hard sample does
    not widen the work for every other. On K = 20 members, C = 100 classes this leaves one
    or two classes per sample for most m (benchmarks/aggregate_speed.py).

    Args:
        scores: float64 [K, N, C] member scores (see :func:`member_scores`).
        combine: how ``scores`` were made (votes prune to the classes some member predicts).
    """

    def __init__(self, scores: np.ndarray, combine: str) -> None:
        self.n_members, self.n_samples, _ = scores.shape
        self.member_predictions = scores.argmax(axis=2)  # [K, N]
        best = scores.max(axis=0)
        if combine == "vote":
            candidates = best >= 1  # a class no member votes for cannot win
        else:
            floor = scores.min(axis=0).max(axis=1, keepdims=True)
            candidates = best >= _slack(floor)
        self.sample, self.cls = np.nonzero(candidates)  # ragged pairs, by sample then class
        # every sample has a candidate, so these are the first pairs of samples 0..N-1
        self.starts = np.flatnonzero(np.r_[True, self.sample[1:] != self.sample[:-1]])
        self.values = scores[:, self.sample, self.cls]  # [K, P]
        ordered = np.sort(self.values, axis=0)
        self.low = np.cumsum(ordered, axis=0)  # row m-1: sum of the m smallest
        self.high = np.cumsum(ordered[::-1], axis=0)  # row m-1: sum of the m largest

    def predict(self, subsets: np.ndarray) -> np.ndarray:
        """Predicted class, int64 [S, N], for subsets int [S, m] all of one size m."""
        size = subsets.shape[1]
        if size == 1:
            return self.member_predictions[subsets[:, 0]]
        floor = np.maximum.reduceat(self.low[size - 1] / size, self.starts)
        keep = np.flatnonzero(self.high[size - 1] / size >= _slack(floor)[self.sample])
        sample, cls = self.sample[keep], self.cls[keep]
        starts = np.flatnonzero(np.r_[True, sample[1:] != sample[:-1]])
        widths = np.diff(np.r_[starts, len(keep)])
        out = np.empty((len(subsets), self.n_samples), dtype=np.int64)
        out[:] = cls[starts]  # a sample with one candidate left: it wins for every subset
        contested = np.repeat(widths > 1, widths)
        if contested.any():
            pairs = np.flatnonzero(contested)
            firsts = np.flatnonzero(np.r_[True, sample[pairs][1:] != sample[pairs][:-1]])
            out[:, sample[pairs][firsts]] = self._argmax(subsets, keep[pairs], cls[pairs], firsts)
        return out

    def _argmax(self, subsets: np.ndarray, pairs: np.ndarray, cls: np.ndarray,
                starts: np.ndarray) -> np.ndarray:
        """Winning class [S, n] of the samples whose candidate ``pairs`` start at ``starts``."""
        size = subsets.shape[1]
        values = self.values[:, pairs]
        widths = np.diff(np.r_[starts, len(pairs)])
        position = np.arange(len(pairs))
        out = np.empty((len(subsets), len(starts)), dtype=np.int64)
        # a block of subsets at a time: their member weights [s, K] and means [s, pairs]
        step = max(1, _CHUNK_BYTES // (8 * max(len(pairs), self.n_members)))
        for begin in range(0, len(subsets), step):
            block = subsets[begin:begin + step]
            weights = np.zeros((len(block), self.n_members))
            np.put_along_axis(weights, block, 1.0, axis=1)
            mean = (weights @ values) / size  # [s, pairs]
            best = np.repeat(np.maximum.reduceat(mean, starts, axis=1), widths, axis=1)
            first = np.minimum.reduceat(np.where(mean == best, position, len(pairs)), starts,
                                        axis=1)  # the first class among ties
            out[begin:begin + step] = cls[first]
        return out
