"""Which test samples each predictor gets right: members, every curve subset's ensemble
and the whole ensemble, computed in one pass over chunks of samples.

Each sample's predictions depend on its own logits only, so the pass holds one chunk of
float64 scores at a time and keeps compact per-sample results: memory grows with
N x (K + curve sizes) bytes, not with N x K x C x 8 or N x (number of subsets) x 8
(benchmarks/aggregate_speed.py --memory measures the peak).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .combine import SubsetPredictor, member_scores, softmax64
from .groups import Grouping

_CHUNK_BYTES = 1 << 28  # working memory of one chunk of samples


@dataclass(frozen=True)
class Correctness:
    """Per-sample results of every predictor the analysis uses.

    Attributes:
        member_predictions: int32 [K, N], each member's predicted class.
        ensemble_predictions: int64 [N], the K-member ensemble's.
        members: bool [K, N], whether member k is right on sample n.
        leave_one_out: bool [K, N] (empty for K = 1), whether the ensemble of all members
            but member k is right.
        leave_one_out_predictions: [K, N] (empty for K = 1), that ensemble's predicted class
            (the smallest unsigned integer type that holds the classes).
        subsets: per ensemble size m of the curve (:func:`~.subsets.curve_sizes`, ascending,
            the last K), the member subsets int [S_m, m] it uses.
        curve_mean: float64 [sizes, N], per size the fraction of its subsets right on
            sample n.
        subset_bits: uint8 [S, ceil(N / 8)], packed correctness of every subset (sizes in
            order, subsets in drawn order).
        group_sums: per grouping, float64 [S, G], right answers of each subset per group.
        confidence: float64 [K + 1, N], top softmax probability of each member, and the
            ensemble's confidence in its prediction under the combine evaluated (mean
            probability, softmax of the mean logits, or vote share).
        calibration_correct: bool [K + 1, N], whether those predictions are right.
    """

    member_predictions: np.ndarray
    ensemble_predictions: np.ndarray
    members: np.ndarray
    leave_one_out: np.ndarray
    leave_one_out_predictions: np.ndarray
    subsets: list[np.ndarray]
    curve_mean: np.ndarray
    subset_bits: np.ndarray
    group_sums: list[np.ndarray]
    confidence: np.ndarray
    calibration_correct: np.ndarray

    @property
    def ensemble(self) -> np.ndarray:
        """bool [N], whether the K-member ensemble is right."""
        return self.curve_mean[-1] == 1.0

    @property
    def sizes(self) -> list[int]:
        """The ensemble sizes of the curve, ascending."""
        return [drawn.shape[1] for drawn in self.subsets]

    def position(self, size: int) -> int:
        """The index of ensemble size ``size`` among :attr:`sizes`."""
        return self.sizes.index(size)

    def subset_rows(self, size: int) -> range:
        """Rows of ``subset_bits`` and ``group_sums`` that hold the subsets of ``size``."""
        index = self.position(size)
        start = sum(len(s) for s in self.subsets[:index])
        return range(start, start + len(self.subsets[index]))

    def subset_correct(self, row: int, samples: np.ndarray) -> np.ndarray:
        """bool [n], whether the ensemble of subset ``row`` is right on ``samples`` (int [n])."""
        packed = self.subset_bits[row, samples >> 3]
        return ((packed >> (7 - (samples & 7))) & 1).astype(bool)


def _chunk_size(n_members: int, n_classes: int, n_subsets: int) -> int:
    # float64 probabilities and scores, the predictor's sorted copies, subset predictions;
    # a multiple of 8 samples, so that each chunk packs into whole bytes
    per_sample = 8 * n_members * n_classes * 6 + 17 * n_subsets
    return 8 * max(8, _CHUNK_BYTES // per_sample // 8)


def _member_blocks(n_members: int) -> list[slice]:
    """Blocks of members whose leave-one-out subsets [block, K - 1] take at most 32 MB."""
    step = max(1, (1 << 25) // (8 * n_members))
    return [slice(start, min(start + step, n_members)) for start in range(0, n_members, step)]


def _without(block: slice, n_members: int) -> np.ndarray:
    """int64 [block, K - 1]: for each member of ``block``, every other member."""
    left_out = np.arange(block.start, block.stop)
    everyone = np.broadcast_to(np.arange(n_members), (len(left_out), n_members))
    return everyone[everyone != left_out[:, None]].reshape(len(left_out), n_members - 1)


def _ensemble_confidence(logits: np.ndarray, probs: np.ndarray, predicted: np.ndarray,
                         combine: str) -> np.ndarray:
    """float64 [n]: how sure the ensemble is of its prediction, under its own combine."""
    rows = np.arange(len(predicted))
    if combine == "mean_prob":
        return probs.mean(axis=0)[rows, predicted]
    if combine == "mean_logit":
        return softmax64(np.asarray(logits, dtype=np.float64).mean(axis=0))[rows, predicted]
    return (probs.argmax(axis=2) == predicted).mean(axis=0)  # the winner's vote share


def correctness(logits: np.ndarray, labels: np.ndarray, combine: str,
                subsets: list[np.ndarray], groupings: list[Grouping]) -> Correctness:
    """Run every member and every subset's ensemble on every sample, chunk by chunk.

    Args:
        logits: float [K, N, C].
        labels: int [N].
        combine: ``mean_prob``, ``mean_logit`` or ``vote``.
        subsets: per curve size m, int [S_m, m] member subsets (the last: all members).
        groupings: the groupings whose per-group sums of subset correctness are kept.
    """
    n_members, n, n_classes = logits.shape
    n_subsets = sum(len(s) for s in subsets)
    member_predictions = np.empty((n_members, n), dtype=np.int32)
    leave_one_out = np.empty((n_members if n_members > 1 else 0, n), dtype=bool)
    left_out_predictions = np.empty(leave_one_out.shape, dtype=np.min_scalar_type(n_classes))
    ensemble_predictions = np.empty(n, dtype=np.int64)
    curve_mean = np.empty((len(subsets), n))
    subset_bits = np.empty((n_subsets, (n + 7) // 8), dtype=np.uint8)
    group_sums = [np.zeros((n_subsets, len(g))) for g in groupings]
    confidence = np.empty((n_members + 1, n))
    calibration_correct = np.empty((n_members + 1, n), dtype=bool)
    step = _chunk_size(n_members, n_classes, n_subsets)
    for start in range(0, n, step):
        chunk = slice(start, min(start + step, n))
        truth = labels[chunk]
        probs = softmax64(logits[:, chunk])
        scores = probs if combine == "mean_prob" else member_scores(logits[:, chunk], combine)
        predictor = SubsetPredictor(scores, combine)
        member_predictions[:, chunk] = predictor.member_predictions
        right = np.empty((n_subsets, chunk.stop - start), dtype=bool)
        row = 0
        for index, drawn in enumerate(subsets):
            predicted = predictor.predict(drawn)  # [S_m, n]
            right[row:row + len(drawn)] = predicted == truth
            curve_mean[index, chunk] = right[row:row + len(drawn)].mean(axis=0)
            row += len(drawn)
        ensemble = predicted[0]  # the last size: all members
        ensemble_predictions[chunk] = ensemble
        if n_members > 1:
            for block in _member_blocks(n_members):
                left_out_predictions[block, chunk] = predictor.predict(_without(block,
                                                                               n_members))
            leave_one_out[:, chunk] = left_out_predictions[:, chunk] == truth
        subset_bits[:, start // 8:(chunk.stop + 7) // 8] = np.packbits(right, axis=1)
        for sums, grouping in zip(group_sums, groupings, strict=True):
            sums += grouping.sums(right, samples=chunk)
        confidence[:-1, chunk] = probs.max(axis=2)
        confidence[-1, chunk] = _ensemble_confidence(logits[:, chunk], probs, ensemble, combine)
        calibration_correct[:-1, chunk] = predictor.member_predictions == truth
        calibration_correct[-1, chunk] = ensemble == truth
    return Correctness(
        member_predictions=member_predictions, ensemble_predictions=ensemble_predictions,
        members=member_predictions == labels, leave_one_out=leave_one_out,
        leave_one_out_predictions=left_out_predictions, subsets=subsets,
        curve_mean=curve_mean, subset_bits=subset_bits, group_sums=group_sums,
        confidence=confidence, calibration_correct=calibration_correct)
