"""Every number with a peer equivalent equals the peer's own code on the same predictions
(docs/statistics.md, "Names and their peers"): sklearn's class-balanced accuracy,
SubpopBench's group-mean (``adjusted_accuracy``) and worst-group accuracy, fairlearn's
equalized-odds and demographic-parity differences, torchmetrics' top-label ECE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from sklearn.metrics import balanced_accuracy_score
from torchmetrics.functional.classification import multiclass_calibration_error

from fairens.fairness import AnalysisOptions, analyse


def _world(n_classes: int, seed: int = 0, members: int = 5, n: int = 900):
    """Members of unequal skill on three groups of unequal size, one of them tiny."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    attr = rng.choice(["a", "b", "c", "tiny"], n, p=[0.5, 0.3, 0.19, 0.01])
    logits = rng.normal(size=(members, n, n_classes))
    logits[:, np.arange(n), labels] += np.where(attr == "c", 0.4, 1.3)
    groups = pd.DataFrame({"class": [f"c{label}" for label in labels], "attr": attr})
    return logits, labels, groups


def _ensemble(logits: np.ndarray) -> np.ndarray:
    probs = np.exp(logits - logits.max(axis=2, keepdims=True))
    return (probs / probs.sum(axis=2, keepdims=True)).mean(axis=0)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_numbers_equal_their_peers(n_classes: int) -> None:
    logits, labels, groups = _world(n_classes)
    fairness = analyse(logits=logits, labels=labels, groups=groups,
                       options=AnalysisOptions(min_group_size=20)).fairness
    members = logits.argmax(axis=2)
    ensemble = _ensemble(logits).argmax(axis=1)
    attr = groups["attr"].to_numpy()
    kept = attr != "tiny"  # the groups with at least min_group_size samples

    balanced = fairness.overall.class_balanced
    assert balanced.single_mean == pytest.approx(
        np.mean([balanced_accuracy_score(labels, p) for p in members]), abs=1e-12)
    assert balanced.ensemble == pytest.approx(balanced_accuracy_score(labels, ensemble),
                                              abs=1e-12)

    subpop = fairness.groupings["attr"].subpop
    assert subpop.groups == ["a", "b", "c"]

    def group_accuracy(predicted: np.ndarray) -> pd.Series:  # SubpopBench's per_group
        frame = pd.DataFrame({"g": attr[kept], "right": predicted[kept] == labels[kept]})
        return frame.groupby("g")["right"].mean()

    adjusted = [group_accuracy(p).mean() for p in members]  # adjusted_accuracy
    assert subpop.group_mean_accuracy.single_mean == pytest.approx(np.mean(adjusted), abs=1e-12)
    assert subpop.group_mean_accuracy.ensemble == pytest.approx(
        group_accuracy(ensemble).mean(), abs=1e-12)
    worst = [group_accuracy(p).min() for p in members]  # min_group accuracy
    assert subpop.worst_group.single_mean == pytest.approx(np.mean(worst), abs=1e-12)
    assert subpop.worst_group.ensemble.accuracy == pytest.approx(
        group_accuracy(ensemble).min(), abs=1e-12)

    classes = [1] if n_classes == 2 else range(n_classes)
    odds = max(equalized_odds_difference(labels[kept] == c, ensemble[kept] == c,
                                         sensitive_features=attr[kept]) for c in classes)
    assert subpop.equalized_odds.largest.ensemble.gap == pytest.approx(odds, abs=1e-12)
    if n_classes == 2:
        parity = fairness.groupings["attr"].parity["demographic_parity_difference"]
        assert parity.ensemble == pytest.approx(demographic_parity_difference(
            labels[kept], ensemble[kept], sensitive_features=attr[kept]), abs=1e-12)

    probs = torch.softmax(torch.from_numpy(logits), dim=2)
    target = torch.from_numpy(labels)
    theirs = [float(multiclass_calibration_error(p, target, n_classes, n_bins=15, norm="l1"))
              for p in probs]
    assert fairness.overall.ece.single_mean == pytest.approx(np.mean(theirs), abs=1e-6)
    assert fairness.overall.ece.ensemble == pytest.approx(float(multiclass_calibration_error(
        torch.from_numpy(_ensemble(logits)), target, n_classes, n_bins=15, norm="l1")),
        abs=1e-6)
