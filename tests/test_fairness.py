"""fairness.json numbers against values computed by hand, and the fast paths against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from fairens.errors import FairensError
from fairens.fairness import AnalysisOptions, analyse
from fairens.fairness.combine import SubsetPredictor, member_scores, softmax64
from fairens.fairness.subsets import curve_subsets

# Two members, five samples, three classes. Member 1's probabilities on sample 1 are
# member 0's with classes 0 and 1 swapped, so the ensemble ties there exactly (-> class 0).
PROBS = np.array([
    [[.6, .3, .1], [.3, .6, .1], [.2, .7, .1], [.5, .4, .1], [.1, .1, .8]],
    [[.4, .5, .1], [.6, .3, .1], [.3, .6, .1], [.2, .7, .1], [.5, .1, .4]],
])
LABELS = np.array([0, 0, 1, 1, 2])
GROUPS = pd.DataFrame({"class": ["0", "0", "1", "1", "2"], "color": ["a", "b", "a", "b", "b"]})


def hand_options(**options) -> AnalysisOptions:
    """Options for the five-sample example: every group may be chosen, ranked on the data it
    is measured on (the hand computations below do exactly that), no intervals."""
    return AnalysisOptions(**{"ranking": "same_data", "min_group_size": 1, "intervals": False,
                              **options})


def hand_example(**options):
    return analyse(logits=np.log(PROBS), labels=LABELS, groups=GROUPS,
                   options=hand_options(**options)).fairness


def subset(entry: dict, keys=("n", "k", "group", "groups", "single_mean", "single_std",
                              "ensemble", "gain", "rel_gain")) -> dict:
    """The required fields of a fairness.json entry (the analysis adds more)."""
    return {key: value for key, value in entry.items() if key in keys}


def test_overall_by_hand() -> None:
    result = hand_example(k=2)
    # member 0 is right on samples 0, 2, 4; member 1 on 1, 2, 3; the ensemble on all five
    assert subset(result["overall"]) == {"single_mean": 0.6, "single_std": 0.0, "ensemble": 1.0}
    assert (result["members"], result["combine"], result["k"]) == (2, "mean_prob", 2)


def test_groups_by_hand() -> None:
    groups = hand_example(k=2)["groupings"]["class"]["groups"]
    assert subset(groups["0"]) == {"n": 2, "single_mean": 0.5, "single_std": 0.0, "ensemble": 1.0,
                           "gain": 0.5, "rel_gain": 1.0}
    assert subset(groups["1"]) == {"n": 2, "single_mean": 0.75, "single_std": 0.25, "ensemble": 1.0,
                           "gain": 0.25, "rel_gain": pytest.approx(1 / 3)}
    # a group with a single sample: one member right, one wrong
    assert subset(groups["2"]) == {"n": 1, "single_mean": 0.5, "single_std": 0.5, "ensemble": 1.0,
                           "gain": 0.5, "rel_gain": 1.0}
    color = hand_example(k=2)["groupings"]["color"]["groups"]
    assert color["a"]["single_mean"] == 0.75 and color["b"]["single_mean"] == pytest.approx(0.5)


def test_bottom_top_and_worst_break_ties_by_name() -> None:
    grouping = hand_example(k=2)["groupings"]["class"]
    # three classes: k is at most half of them, so bottom and top never overlap; classes 0
    # and 2 tie at 0.5: ranked by name, 0 first
    assert subset(grouping["bottom_k"]) == {"k": 1, "groups": ["0"], "single_mean": 0.5,
                                            "ensemble": 1.0, "gain": 0.5, "rel_gain": 1.0}
    assert subset(grouping["top_k"]) == {"k": 1, "groups": ["1"], "single_mean": 0.75,
                                         "ensemble": 1.0, "gain": 0.25,
                                         "rel_gain": pytest.approx(1 / 3)}
    # every class has ensemble accuracy 1: the worst group is the first by name
    assert subset(grouping["worst_group"]) == {"group": "0", "single_mean": 0.5, "ensemble": 1.0}


def test_top_k_ties_go_by_ascending_name_too() -> None:
    # four groups: d and b tie at the top (1.0), a and c at the bottom (0.0)
    labels = np.zeros(8, dtype=np.int64)
    right = np.array([0, 0, 1, 1, 0, 0, 1, 1])  # samples of groups a a b b c c d d
    logits = np.log(np.where(right[None, :, None] == np.array([1, 0]), 0.9, 0.1))
    groups = pd.DataFrame({"class": ["0"] * 8, "site": list("aabbccdd")})
    site = analyse(logits=logits.repeat(2, axis=0), labels=labels, groups=groups,
                   options=hand_options(k=1)).fairness["groupings"]["site"]
    assert site["bottom_k"]["groups"] == ["a"] and site["top_k"]["groups"] == ["b"]


def test_curve_by_hand() -> None:
    curve = hand_example(k=2)["groupings"]["class"]["curve"]
    assert curve["m"] == [1, 2] and curve["subsets"] == [2, 1]
    assert curve["overall"] == [0.6, 1.0]
    assert curve["bottom_k"] == [0.5, 1.0]  # class 0: each member right on one of its two
    assert curve["top_k"] == [0.75, 1.0]  # class 1: member 0 on one of two, member 1 on both
    assert curve["worst_group"] == [0.25, 1.0]  # member 0's worst is 1/2, member 1's is 0


def test_k_is_at_most_half_the_groups_so_the_sets_never_overlap() -> None:
    color = hand_example(k=3)["groupings"]["color"]
    assert color["bottom_k"]["k"] == 1 and color["bottom_k"]["groups"] == ["b"]
    assert color["top_k"]["groups"] == ["a"]


def test_a_two_class_target_uses_k_1_without_error() -> None:
    labels = np.array([0, 1] * 20)
    logits = np.log(np.where(np.eye(2)[labels][None] == 1, 0.7, 0.3)).repeat(3, axis=0)
    groups = pd.DataFrame({"class": labels.astype(str), "sex": ["f", "m", "m", "f"] * 10})
    fairness = analyse(logits=logits, labels=labels, groups=groups).fairness
    assert fairness["k"] == 3
    assert fairness["groupings"]["class"]["bottom_k"]["k"] == 1
    assert fairness["groupings"]["sex"]["bottom_k"]["k"] == 1


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_k_must_be_a_positive_integer(k) -> None:
    with pytest.raises(FairensError, match=r"^ensemble.k=.* is not allowed: a positive "
                                           r"integer \(size of the bottom-k and top-k sets\)$"):
        hand_example(k=k)


def test_unknown_combine_is_refused() -> None:
    with pytest.raises(FairensError) as error:
        hand_example(combine="median")
    assert str(error.value) == ("report.combine='median' is not allowed: one of mean_prob, "
                                "mean_logit, vote")


def test_vote_ties_go_to_the_higher_mean_probability() -> None:
    # sample 0: member 0 votes 0, member 1 votes 1; mean probabilities 0.5 / 0.4 -> 0 (right)
    # sample 1: votes 1 and 0, mean probabilities 0.45 / 0.45: still tied -> class 0 (right)
    # sample 4: votes 2 and 0, mean probabilities 0.6 / 0.3 -> class 2 (right); the lowest
    # class index, which a long tail makes the majority class, would have been wrong
    groups = hand_example(k=1, combine="vote")["groupings"]["class"]["groups"]
    assert groups["0"]["ensemble"] == 1.0 and groups["2"]["ensemble"] == 1.0


def _brute_force(scores: np.ndarray, subsets: np.ndarray) -> np.ndarray:
    return np.stack([scores[list(s)].mean(axis=0).argmax(axis=1) for s in subsets])


@pytest.mark.parametrize("combine", ["mean_prob", "mean_logit", "vote"])
@pytest.mark.parametrize("seed", range(4))
def test_pruned_ensemble_predictions_equal_brute_force(combine: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_members, n_samples, n_classes = 5, 300, 7
    labels = rng.integers(0, n_classes, n_samples)
    # quantised logits make exact ties between classes and members frequent
    logits = np.round(rng.normal(size=(n_members, n_samples, n_classes)) * 2) / 2
    logits += 2 * np.eye(n_classes)[labels] * rng.integers(0, 2, (n_members, n_samples, 1))
    scores = member_scores(logits, combine)
    predictor = SubsetPredictor(scores, combine)
    for size in range(1, n_members + 1):
        subsets = np.array(list(itertools.combinations(range(n_members), size)))
        np.testing.assert_array_equal(predictor.predict(subsets),
                                      _brute_force(scores, subsets))


def test_softmax_is_float64_and_normalised() -> None:
    probs = softmax64(np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32))
    assert probs.dtype == np.float64 and probs.sum() == 1.0 and probs[0, 0] == 1.0


def test_curve_subsets_are_all_or_distinct_random() -> None:
    rng = np.random.default_rng(0)
    assert curve_subsets(4, 2, 6, rng).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3],
                                                    [2, 3]]
    drawn = curve_subsets(10, 5, 20, np.random.default_rng(0))
    assert drawn.shape == (20, 5) and len({tuple(r) for r in drawn}) == 20
    assert (np.diff(drawn, axis=1) > 0).all()
    np.testing.assert_array_equal(drawn, curve_subsets(10, 5, 20, np.random.default_rng(0)))


def test_curve_ends_equal_single_mean_and_ensemble_with_sampled_subsets() -> None:
    rng = np.random.default_rng(1)
    n_members, n_samples, n_classes = 9, 400, 5
    labels = rng.integers(0, n_classes, n_samples)
    logits = rng.normal(size=(n_members, n_samples, n_classes)) + np.eye(n_classes)[labels]
    groups = pd.DataFrame({"class": labels.astype(str),
                           "half": np.where(np.arange(n_samples) < 150, "x", "y")})
    result = analyse(logits=logits, labels=labels, groups=groups,
                     options=AnalysisOptions(k=2, max_subsets=5))
    for grouping in result.fairness["groupings"].values():
        curve = grouping["curve"]
        assert curve["subsets"] == [9, 5, 5, 5, 5, 5, 5, 5, 1]  # all 9 single members
        for key in ("bottom_k", "top_k"):
            assert curve[key][0] == pytest.approx(grouping[key]["single_mean"], abs=1e-12)
            assert curve[key][-1] == pytest.approx(grouping[key]["ensemble"], abs=1e-12)
        assert curve["overall"][0] == pytest.approx(result.fairness["overall"]["single_mean"])
        assert curve["overall"][-1] == result.fairness["overall"]["ensemble"]
        # the curve's line is each subset's own worst group, measured where it was chosen
        # for; it ends at the named worst group when both cross-fitted halves chose it
        if grouping["worst_group"].get("measured_on", "both halves") == "both halves":
            assert curve["worst_group"][-1] == pytest.approx(
                grouping["worst_group"]["ensemble"], abs=1e-12)


def test_table_has_a_row_per_group() -> None:
    table = analyse(logits=np.log(PROBS), labels=LABELS, groups=GROUPS,
                    options=hand_options(k=2)).table
    assert table[["grouping", "group"]].values.tolist() == [
        ["class", "0"], ["class", "1"], ["class", "2"], ["color", "a"], ["color", "b"]]
    assert table.loc[2, "single_std"] == 0.5


def test_reliability_bins_reproduce_the_ensemble_ece() -> None:
    """The reliability diagram is the ECE's own binning: its ensemble gaps sum to the ECE."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 240)
    logits = rng.normal(size=(4, 240, 3)) + 1.5 * np.eye(3)[labels]
    groups = pd.DataFrame({"class": labels.astype(str), "site": rng.choice(["a", "b"], 240)})
    analysis = analyse(logits=logits, labels=labels, groups=groups,
                       options=AnalysisOptions(intervals=False, crosscheck=False))
    for name, summary in analysis.fairness["groupings"].items():
        bins = analysis.reliability[name]
        count = bins["count"][1]
        gaps = np.nansum(count * np.abs(bins["accuracy"][1] - bins["confidence"][1]), axis=1)
        ece = [summary["groups"][g]["ece"]["ensemble"] for g in bins["groups"]]
        np.testing.assert_allclose(gaps / count.sum(axis=1), ece, rtol=0, atol=1e-12)
        np.testing.assert_allclose(bins["count"][0].sum(axis=1), count.sum(axis=1))
