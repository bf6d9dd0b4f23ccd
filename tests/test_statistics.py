"""The statistics of the verdicts: hand-computed variances and intervals, the choice of
groups on data they are not measured on, and a simulated null world with a known answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_analysis import LABELS, PROBS, hand_options

from fairens.fairness import AnalysisOptions, RankingData, analyse
from fairens.fairness.estimates import (
    Design,
    Estimate,
    holm,
    split_parts,
    uncertainty,
    wilson_interval,
)

from conftest import assert_close

REFERENCE = Path(__file__).parent / "data" / "same_data_reference.json"


def test_sampling_variance_of_a_mean_is_s2_over_n() -> None:
    values = np.array([1.0, 0.0, 1.0, 1.0])
    estimate = Estimate.mean(values, np.arange(4), np.empty((2, 0)), kind=1)
    spread = uncertainty(estimate, Design.build(np.zeros(4, np.int64)))
    assert estimate.value == 0.75
    assert spread.sampling == pytest.approx(values.var(ddof=1) / 4) == 0.0625
    assert spread.members == 0 and spread.df == 3


def test_counterfactual_pairs_are_resampled_as_clusters() -> None:
    # two pairs whose copies agree: the mean rests on 2 independent units, not 4
    values = np.array([1.0, 1.0, 0.0, 0.0])
    estimate = Estimate.mean(values, np.arange(4), np.empty((2, 0)), kind=1)
    strata = np.array([0, 1, 0, 1])  # e.g. colour and gray copies in two groups
    paired = uncertainty(estimate, Design.build(strata, np.array([7, 7, 9, 9])))
    single = uncertainty(estimate, Design.build(np.zeros(4, np.int64)))
    # clusters (1, 1) and (0, 0) in one stratum of their combination: totals +-0.25
    assert paired.sampling == pytest.approx(2 / 1 * (0.25 ** 2 + 0.25 ** 2)) == 0.25
    assert single.sampling == pytest.approx(1 / 12)


def test_ratio_variance_follows_the_chain_rule() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.random(50), rng.random(50) + 0.5
    samples = np.arange(50)
    ratio = Estimate.mean(x, samples, np.empty((2, 0)), kind=1) / \
        Estimate.mean(y, samples, np.empty((2, 0)), kind=1)
    r = x.mean() / y.mean()
    by_hand = np.var(x - r * y, ddof=1) / (50 * y.mean() ** 2)  # the delta method
    assert ratio.value == pytest.approx(r)
    assert uncertainty(ratio, Design.build(np.zeros(50, np.int64))).sampling == \
        pytest.approx(by_hand)


def _effects(delta: list[list[float]]) -> Estimate:
    return Estimate(0.5, np.empty(0, np.int64), np.empty(0), np.array(delta), np.empty((0, 2)))


def test_member_variance_keeps_the_systematic_part_only() -> None:
    design = Design.build(np.zeros(4, np.int64))
    # each member's effect is the same on both halves of the samples: all systematic
    d = np.array([0.1, 0.06, 0.0, -0.05, -0.1, -0.01])
    systematic = _effects([d, d])
    # per member, the product of its two halves' centred effects, counted both ways; the
    # jackknife variance (K - 1) / K x R / (R - 1) x their sum, with R = 2 halves
    c = 2 * (d - d.mean()) ** 2
    assert uncertainty(systematic, design).members == pytest.approx(5 / 6 * 2 * c.sum())
    # effects of opposite sign on the two halves: noise of each member on its samples
    noise = _effects([[0.1, -0.1, 0.0], [-0.1, 0.1, 0.0]])
    assert uncertainty(noise, design).members == 0


def test_a_member_variance_the_effects_do_not_show_is_left_out() -> None:
    design = Design.build(np.zeros(4, np.int64))
    # two members agree across halves, two disagree: the mean product is not clearly > 0
    mixed = _effects([[0.1, -0.1, 0.1, -0.1], [0.1, -0.1, -0.1, 0.1]])
    assert uncertainty(mixed, design).members == 0


def test_wilson_interval_at_100_percent() -> None:
    perfect = Estimate.mean(np.ones(50), np.arange(50), np.empty((2, 0)), kind=1)
    spread = uncertainty(perfect, Design.build(np.zeros(50, np.int64)))
    low, high = wilson_interval(perfect, spread)  # 50 distinct samples
    t = stats.t.ppf(0.975, 49)  # the pseudo-observations' variance, on 49 degrees of freedom
    assert low == pytest.approx(1 / (1 + t * t / 50)) and high == 1.0
    assert 0.92 < low < 0.93


def test_holm_by_hand() -> None:
    assert holm([0.01, 0.04, 0.03, None]) == [pytest.approx(0.03), pytest.approx(0.06),
                                              pytest.approx(0.06), None]


def test_stratified_parts_split_every_group_evenly() -> None:
    strata = np.repeat([0, 1, 2], [10, 7, 1])
    parts = split_parts(Design.build(strata), [0], 2)
    assert [np.bincount(parts[strata == s], minlength=2).tolist() for s in range(3)] == \
        [[5, 5], [4, 3], [1, 0]]
    with_pairs = Design.build(np.zeros(6, np.int64), np.array([1, 1, 2, 2, 3, 3]))
    assert len(split_parts(with_pairs, [0], 2)) == 3  # pairs are split whole


def test_ece_is_of_the_combine_evaluated() -> None:
    groups = pd.DataFrame({"class": LABELS.astype(str)})
    fairness = analyse(logits=np.log(PROBS), labels=LABELS, groups=groups,
                       options=hand_options(k=1, combine="vote")).fairness.to_json()
    ece = {c: g["ece"]["ensemble"] for c, g in fairness["groupings"]["class"]["groups"].items()}
    # votes split on samples 0, 1, 3, 4 (confidence 0.5, the vote share) and agree on 2
    # (confidence 1); ties go to the higher mean probability, so every sample is right
    assert ece == {"0": pytest.approx(0.5), "1": pytest.approx(0.25), "2": pytest.approx(0.5)}


def test_small_groups_are_reported_but_never_chosen() -> None:
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2], [40, 40, 1])
    logits = 2 * np.eye(3)[labels][None] + rng.normal(size=(4, len(labels), 3))
    logits[:, -1] = [0, 5, 0]  # the one-sample class is always wrong
    groups = pd.DataFrame({"class": labels.astype(str)})
    summary = analyse(logits=logits, labels=labels, groups=groups).fairness.groupings["class"]
    assert not summary.groups["2"].eligible and summary.groups["2"].ensemble == 0.0
    assert "2" not in summary.worst_group.by_half and summary.bottom_k.k == 1


def test_validation_predictions_choose_the_groups() -> None:
    # on validation class 'a' is the worst, on test class 'b': validation decides
    test_labels, val_labels = np.repeat([0, 1, 2, 3], 20), np.repeat([0, 1, 2, 3], 10)
    test_right = np.repeat([[0.9, 0.5, 0.8, 0.95]], 20, axis=0).T.ravel() > 0.7
    val_right = np.repeat([[0.2, 0.9, 0.8, 0.95]], 10, axis=0).T.ravel() > 0.7
    test_logits = np.where(test_right[:, None], 3 * np.eye(4)[test_labels], 0)[None]
    val_logits = np.where(val_right[:, None], 3 * np.eye(4)[val_labels], 0)[None]
    names = np.array(list("abcd"))
    fairness = analyse(
        logits=test_logits.repeat(3, axis=0), labels=test_labels,
        groups=pd.DataFrame({"class": names[test_labels]}),
        options=AnalysisOptions(k=1),
        validation=RankingData(val_logits.repeat(3, axis=0), val_labels,
                               pd.DataFrame({"class": names[val_labels]}))).fairness.to_json()
    assert fairness["ranking"]["method"] == "validation"
    summary = fairness["groupings"]["class"]
    assert summary["bottom_k"]["groups"] == ["a"] and summary["worst_group"]["group"] == "a"
    assert summary["bottom_k"]["single_mean"] == 1.0  # measured on test, where 'a' is fine


def _world(seed: int, n_classes: int = 20, per_class: int = 30, members: int = 5):
    """A null world: exchangeable classes, each sample's difficulty from a U-shaped Beta,
    members erring independently given it (no class truly gains more than another)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    wrong = rng.random((members, len(labels))) < rng.beta(0.24, 0.76, len(labels))
    other = (labels + rng.integers(1, n_classes, (members, len(labels)))) % n_classes
    predicted = np.where(wrong, other, labels)
    logits = 4.0 * np.eye(n_classes)[predicted] + 0.5 * rng.standard_normal(
        (members, len(labels), n_classes))
    return logits, labels, pd.DataFrame({"class": [f"c{c:02d}" for c in labels]})


def test_a_null_world_rarely_yields_a_bottom_versus_top_claim() -> None:
    """Ranking on the measured data claimed a bottom-vs-top difference in 20-60% of such
    worlds (at 20%, 4 claims or fewer in 40 worlds happen 8% of the time); choosing the
    groups on other data removes the bias and keeps claims near the nominal 5%."""
    claims, differences = {"auto": 0, "same_data": 0}, {"auto": [], "same_data": []}
    for seed in range(40):
        logits, labels, groups = _world(seed)
        for ranking in claims:
            versus = analyse(logits=logits, labels=labels, groups=groups,
                             options=AnalysisOptions(ranking=ranking, crosscheck=False)
                             ).fairness.to_json()["groupings"]["class"]["bottom_vs_top"]
            claims[ranking] += versus["verdict"] != "no_difference"
            differences[ranking].append(versus["difference"])
    assert claims["auto"] <= 4  # binomial(40, 0.05) exceeds 4 with probability 0.05
    # every class is alike, so the true difference is 0: choosing the bottom groups on the
    # data that measure them makes it look positive (they regress, and gain, the most)
    assert abs(np.mean(differences["auto"])) < 0.015  # its standard error here: 0.0045
    assert np.mean(differences["same_data"]) > 0.02


def test_same_data_ranking_reproduces_the_earlier_numbers() -> None:
    reference = json.loads(REFERENCE.read_text())
    rng = np.random.default_rng(20261129)
    n_members, n, n_classes = 6, 300, 6
    labels = rng.integers(0, n_classes, n)
    shared = 2.0 * np.eye(n_classes)[labels] + rng.normal(size=(n, n_classes))
    logits = shared[None] + 0.9 * rng.normal(size=(n_members, n, n_classes))
    groups = pd.DataFrame({"class": [f"c{c}" for c in labels],
                           "site": rng.choice(["north", "south", "east"], n),
                           "train_frequency": np.where(labels >= 4, "minority", "majority")})
    for k, groupings in ((1, None), (2, ["class"])):
        fairness = analyse(logits=logits, labels=labels, groups=groups,
                           minority={"class": ["c4", "c5"]},
                           options=AnalysisOptions(k=k, ranking="same_data", min_group_size=1,
                                                   intervals=False, crosscheck=False)
                           ).fairness.to_json()
        expected = reference[f"k={k}"]
        for key in ("single_mean", "single_std", "ensemble"):
            assert fairness["overall"][key] == pytest.approx(expected["overall"][key], abs=1e-12)
        for name in groupings or expected["groupings"]:
            assert_close(fairness["groupings"][name], expected["groupings"][name], name,
                         subset=True)


def test_no_interval_is_nan_or_infinite() -> None:
    logits, labels, groups = _world(7, n_classes=6, per_class=12, members=3)
    fairness = analyse(logits=logits, labels=labels, groups=groups).fairness.to_json()
    json.dumps(fairness, allow_nan=False)  # raises on NaN or infinity


def _near_perfect_run(members: int = 10, per_class: int = 50):
    """Like the main job's digits: the bottom classes with real errors, the top three at
    100% for the ensemble and nearly so for members (5 member errors in 1,500 answers)."""
    rng = np.random.default_rng(11)
    labels = np.repeat(np.arange(10), per_class)
    logits = 5.0 * np.eye(10)[labels][None] + rng.normal(size=(members, len(labels), 10))
    hard = labels < 3
    logits[:, hard] += 2.2 * rng.normal(size=(members, int(hard.sum()), 10))
    top = np.flatnonzero(labels >= 7)
    logits[:, top] = 12.0 * np.eye(10)[labels[top]]
    for member, sample in zip(range(5), top[:35:7], strict=True):  # 5 member errors, class 7
        logits[member, sample] = 12.0 * np.eye(10)[(labels[sample] + 1) % 10]
    return logits, labels, pd.DataFrame({"class": [f"{c}" for c in labels]})


@pytest.mark.parametrize("scale", ["gain", "rel_gain", "error_reduction"])
def test_near_perfect_groups_never_yield_a_claim_from_zero_variance(scale: str) -> None:
    logits, labels, groups = _near_perfect_run()
    fairness = analyse(logits=logits, labels=labels, groups=groups,
                       options=AnalysisOptions(scale=scale, crosscheck=False)).fairness.to_json()
    summary = fairness["groupings"]["class"]
    perfect = summary["groups"]["9"]
    assert perfect["ensemble"] == 1.0 and perfect["gain"] == 0.0
    low, high = perfect["ci"]["gain"]
    assert low < -0.01 and high > 0.01  # a perfect group of 50 is not known to +-0
    versus = summary["bottom_vs_top"]
    assert versus["verdict"] in ("no_difference", "not_tested", "bottom_more")
    assert all(entry["p"] is None or entry["p"] > 0 for entry in versus["scales"].values())
    refused = versus["scales"]["error_reduction"]
    assert refused["ci"] is None and refused["refused"].startswith(
        "the top side has ") and "single-model errors" in refused["refused"]


def test_an_adjusted_p_value_is_never_below_its_raw_p_value() -> None:
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(6), 40)
    logits = 2.0 * np.eye(6)[labels][None] + rng.normal(size=(6, len(labels), 6))
    frequency = np.where(labels >= 3, "minority", "majority")
    fairness = analyse(logits=logits, labels=labels, minority={"class": ["3", "4", "5"]},
                       groups=pd.DataFrame({"class": labels.astype(str),
                                            "train_frequency": frequency}),
                       options=AnalysisOptions(crosscheck=False)).fairness.to_json()
    tests = [summary[key] for summary in fairness["groupings"].values()
             for key in ("bottom_vs_top", "minority_vs_majority") if key in summary]
    repeated = fairness["groupings"]["train_frequency"]["minority_vs_majority"]
    assert "not counted twice" in repeated["note"]
    assert all(t["p_adjusted"] >= t["p"] for t in tests if t["p"] is not None)


def test_the_worst_group_named_under_crossfitting_is_the_one_measured() -> None:
    for seed in range(30):
        logits, labels, groups = _world(seed, n_classes=8, per_class=30, members=5)
        worst = analyse(logits=logits, labels=labels, groups=groups,
                        options=AnalysisOptions(crosscheck=False, ranking="crossfit")
                        ).fairness.to_json()["groupings"]["class"]["worst_group"]
        if len(set(worst["by_half"])) > 1:
            break
    else:
        raise AssertionError("no world where the halves chose different worst groups")
    assert worst["measured_on"] == "one half" and worst["group"] == worst["by_half"][0]
    # the first half ranks and the second measures (the layout's seeded stratified split)
    from fairens.fairness.groups import Grouping
    codes = Grouping.from_column("class", groups["class"], labels).codes
    half = split_parts(Design.build(codes), [0, 0, 0])
    probs = np.exp(logits - logits.max(axis=2, keepdims=True))
    right = (probs / probs.sum(axis=2, keepdims=True)).mean(axis=0).argmax(axis=1) == labels
    named = (groups["class"].to_numpy() == worst["group"]) & (half == 1)
    assert worst["ensemble"] == pytest.approx(right[named].mean())


def test_a_seeded_heterogeneous_null_world_keeps_its_error_rate() -> None:
    """Classes that differ in accuracy but not in gain (the benchmark's ``hetero_gain``
    worlds, small): claims stay rare and intervals cover the true difference."""
    import sys
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    import verdict_calibration as calibration
    setting = calibration.Setting("hetero_gain", 10, 40, 5)
    truths = calibration._truths(setting)
    rows = [calibration.one_world((setting, seed, truths, "crossfit")) for seed in range(30)]
    assert sum(row["bottom_claim"] for row in rows) <= 3  # binomial(30, 0.05) > 3: p = 0.06
    assert np.mean([row["cover_gain"] for row in rows]) >= 0.85
