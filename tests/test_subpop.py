"""SubpopBench-style metrics: group-mean accuracy, worst-group accuracy and equalized-odds
gaps, by hand, against fairlearn, and their intervals in simulated worlds whose truth is
known."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import equalized_odds_difference

from fairens.fairness import AnalysisOptions, analyse


def _binary_world(accuracy: list[float], per_group: int, members: int, seed: int):
    """Two classes; each member is right on each sample with its group's probability,
    independently: the mean member's group accuracy is ``accuracy[g]``, the ensemble's
    (a majority vote for an odd number of members) P(Binomial(K, p) > K / 2)."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(len(accuracy)), per_group)
    labels = rng.integers(0, 2, len(group))
    right = rng.random((members, len(group))) < np.asarray(accuracy)[group]
    predicted = np.where(right, labels, 1 - labels)
    logits = np.where(np.arange(2) == predicted[..., None], 1.0, -1.0)
    groups = pd.DataFrame({"class": np.where(labels == 1, "yes", "no"),
                           "attr": [f"g{g}" for g in group]})
    return logits, labels, groups


def _majority(p: float, k: int) -> float:
    return sum(comb(k, j) * p ** j * (1 - p) ** (k - j) for j in range(k // 2 + 1, k + 1))


def test_group_mean_and_worst_group_accuracy_by_hand() -> None:
    logits, labels, groups = _binary_world([0.9, 0.6, 0.75], 40, 3, seed=1)
    subpop = analyse(logits=logits, labels=labels, groups=groups,
                     options=AnalysisOptions(min_group_size=20)).fairness.to_json()[
        "groupings"]["attr"]["subpop"]
    predicted = logits.argmax(axis=2)
    codes = groups["attr"].to_numpy()
    per_group = {g: (predicted[:, codes == g] == labels[codes == g]).mean(axis=1)
                 for g in ("g0", "g1", "g2")}
    ensemble = np.array([(np.mean(predicted[:, codes == g], axis=0) > 0.5).astype(int)
                         == labels[codes == g] for g in ("g0", "g1", "g2")], dtype=object)
    ensemble_acc = [float(np.mean(e)) for e in ensemble]
    assert subpop["group_mean_accuracy"]["single_mean"] == pytest.approx(
        np.mean([a.mean() for a in per_group.values()]))
    assert subpop["group_mean_accuracy"]["ensemble"] == pytest.approx(np.mean(ensemble_acc))
    worst = subpop["worst_group"]
    assert worst["ensemble"]["accuracy"] == pytest.approx(min(ensemble_acc))
    assert worst["ensemble"]["group"] == f"g{int(np.argmin(ensemble_acc))}"
    own = np.min(np.stack(list(per_group.values())), axis=0)
    assert worst["single_mean"] == pytest.approx(own.mean())
    assert worst["single_std"] == pytest.approx(own.std())
    assert worst["gain"] == pytest.approx(min(ensemble_acc) - own.mean())
    average_member = np.mean(np.stack(list(per_group.values())), axis=1)
    assert worst["average_member"]["accuracy"] == pytest.approx(average_member.min())
    assert worst["level_per_group"] == pytest.approx(1 - 0.05 / 3)


def test_equalized_odds_matches_fairlearn_for_each_member_and_the_ensemble() -> None:
    rng = np.random.default_rng(3)
    k, n, c = 4, 600, 3
    labels = rng.integers(0, c, n)
    attr = rng.choice(["p", "q", "r"], n)
    logits = rng.normal(size=(k, n, c))
    logits[:, np.arange(n), labels] += np.where(attr == "r", 0.3, 1.2)
    groups = pd.DataFrame({"class": [f"c{label}" for label in labels], "attr": attr})
    odds = analyse(logits=logits, labels=labels, groups=groups).fairness.to_json()[
        "groupings"]["attr"]["subpop"]["equalized_odds"]
    ensemble = logits.astype(np.float64)
    ensemble = (np.exp(ensemble) / np.exp(ensemble).sum(axis=2, keepdims=True)).mean(axis=0)
    predicted = ensemble.argmax(axis=1)
    by_class = [equalized_odds_difference(labels == j, predicted == j, sensitive_features=attr)
                for j in range(c)]
    assert odds["largest"]["ensemble"]["gap"] == pytest.approx(max(by_class), abs=1e-12)
    assert odds["classes"]["c1"]["ensemble"]["gap"] == pytest.approx(by_class[1], abs=1e-12)
    members = [max(equalized_odds_difference(labels == j, logits[m].argmax(axis=1) == j,
                                             sensitive_features=attr) for j in range(c))
               for m in range(k)]
    assert odds["members"]["mean"] == pytest.approx(np.mean(members), abs=1e-12)


def test_class_groupings_get_no_equalized_odds_and_tiny_groups_are_left_out() -> None:
    logits, labels, groups = _binary_world([0.8, 0.7], 30, 3, seed=2)
    groups.loc[:2, "attr"] = "tiny"
    fairness = analyse(logits=logits, labels=labels, groups=groups,
                       options=AnalysisOptions(min_group_size=10)).fairness.to_json()["groupings"]
    assert "equalized_odds" not in fairness["class"]["subpop"]
    assert fairness["attr"]["subpop"]["groups"] == ["g0", "g1"]


def test_intervals_cover_the_known_truth() -> None:
    """Over simulated worlds, the 95% intervals of group-mean accuracy, worst-group accuracy
    and the equalized-odds gap hold the true population values at least ~95% of the time
    (the worst-group and gap intervals are simultaneous, so they may cover more)."""
    accuracy, members, worlds = [0.85, 0.7, 0.78, 0.62], 5, 100
    truth = {"single": accuracy, "ensemble": [_majority(p, members) for p in accuracy]}
    hits = {key: 0 for key in ("balanced", "worst_single", "worst_ensemble", "gap_single",
                               "gap_ensemble")}
    for seed in range(worlds):
        logits, labels, groups = _binary_world(accuracy, 60, members, seed)
        subpop = analyse(logits=logits, labels=labels, groups=groups,
                         options=AnalysisOptions(crosscheck=False)).fairness.to_json()[
            "groupings"]["attr"]["subpop"]
        low, high = subpop["group_mean_accuracy"]["ci"]["ensemble"]
        hits["balanced"] += low <= np.mean(truth["ensemble"]) <= high
        for side, key in (("average_member", "single"), ("ensemble", "ensemble")):
            low, high = subpop["worst_group"][side]["ci"]
            hits[f"worst_{key}"] += low <= min(truth[key]) <= high
            # two classes: TPR = p and FPR = 1 - p in every group, so both gaps are max - min
            odds_side = "single_mean" if side == "average_member" else side
            low, high = subpop["equalized_odds"]["largest"][odds_side]["ci"]
            hits[f"gap_{key}"] += low <= max(truth[key]) - min(truth[key]) <= high
    coverage = {key: value / worlds for key, value in hits.items()}
    assert all(value >= 0.9 for value in coverage.values()), coverage
