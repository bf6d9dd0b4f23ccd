"""Group-fairness metrics from fairlearn for binary targets, and counterfactual flip rates."""

from __future__ import annotations

import warnings

import numpy as np
from fairlearn.metrics import demographic_parity_difference

from .groups import Grouping
from .result import MemberSpread

# equalized odds is subpop's (one gap per grouping, on the same groups)
PARITY_METRICS = {"demographic_parity_difference": demographic_parity_difference}


def parity_differences(labels: np.ndarray, member_predictions: np.ndarray,
                       ensemble_predictions: np.ndarray,
                       grouping: Grouping, eligible: np.ndarray) -> dict[str, MemberSpread]:
    """fairlearn's demographic parity difference (class 1 positive) of every member and of
    the ensemble, for one protected grouping, over the samples of its ``eligible`` groups
    (the groups its subpopulation metrics use).

    Returns per metric the members' mean and spread, and the ensemble's value.
    """
    keep = eligible[grouping.codes]
    sensitive = grouping.sample_groups()[keep]
    labels, member_predictions = labels[keep], member_predictions[:, keep]
    ensemble_predictions = ensemble_predictions[keep]
    out = {}
    for name, metric in PARITY_METRICS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fairlearn warns about groups without positives
            members = np.array([metric(labels, p, sensitive_features=sensitive)
                                for p in member_predictions])
            ensemble = metric(labels, ensemble_predictions, sensitive_features=sensitive)
        out[name] = MemberSpread(float(members.mean()), float(members.std()), float(ensemble))
    return out


def flip_rates(predictions: np.ndarray, pair_ids: np.ndarray, labels: np.ndarray,
               n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counterfactual flip rate of each predictor: the fraction of pairs (samples sharing a
    ``pair_id``, differing only in the protected attribute) whose prediction changes.

    Args:
        predictions: int [X, N].
        pair_ids: int [N]; pairs of one sample are ignored.
        labels: int [N]; a pair's class is the label of its first sample.

    Returns:
        (overall float64 [X], per class float64 [X, C] (NaN where a class has no pair),
        pairs per class int64 [C]).
    """
    order = np.argsort(pair_ids, kind="stable")
    sorted_ids = pair_ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    starts = starts[sizes > 1]
    ranked = predictions[:, order]
    changed = (np.maximum.reduceat(ranked, starts, axis=1)
               != np.minimum.reduceat(ranked, starts, axis=1))  # [X, pairs]
    pair_class = labels[order][starts]
    per_class_pairs = np.bincount(pair_class, minlength=n_classes)
    per_class = np.stack([np.bincount(pair_class, weights=c, minlength=n_classes)
                          for c in changed]) / np.where(per_class_pairs, per_class_pairs, np.nan)
    return changed.mean(axis=1), per_class, per_class_pairs
