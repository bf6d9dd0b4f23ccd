"""fairness.json numbers against values computed by hand, and the fast paths against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from fairens.errors import FairensError
from fairens.fairness import analyse
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


def hand_example(**options):
    return analyse(logits=np.log(PROBS), labels=LABELS, groups=GROUPS, **options).fairness


def subset(entry: dict, keys=("n", "k", "group", "groups", "single_mean", "single_std",
                              "ensemble", "gain", "rel_gain")) -> dict:
    """The DESIGN.md fields of a fairness.json entry (the analysis adds more)."""
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
    # classes 0 and 2 tie at 0.5: ranked by name, 0 before 2
    assert subset(grouping["bottom_k"]) == {"k": 2, "groups": ["0", "2"], "single_mean": 0.5,
                                            "ensemble": 1.0, "gain": 0.5, "rel_gain": 1.0}
    assert subset(grouping["top_k"]) == {"k": 2, "groups": ["1", "2"], "single_mean": 0.625,
                                         "ensemble": 1.0, "gain": 0.375, "rel_gain": 0.6}
    # every class has ensemble accuracy 1: the worst group is the first by name
    assert subset(grouping["worst_group"]) == {"group": "0", "single_mean": 0.5, "ensemble": 1.0}


def test_curve_by_hand() -> None:
    curve = hand_example(k=2)["groupings"]["class"]["curve"]
    assert curve["m"] == [1, 2] and curve["subsets"] == [2, 1]
    assert curve["overall"] == [0.6, 1.0]
    assert curve["bottom_k"] == [0.5, 1.0]  # member 0: (1/2 + 1)/2, member 1: (1/2 + 0)/2
    assert curve["top_k"] == [0.625, 1.0]
    assert curve["worst_group"] == [0.25, 1.0]  # member 0's worst is 1/2, member 1's is 0


def test_a_grouping_with_fewer_groups_than_k_uses_all_of_them() -> None:
    color = hand_example(k=3)["groupings"]["color"]
    assert color["bottom_k"]["k"] == 2 and color["bottom_k"]["groups"] == ["b", "a"]


def test_k_larger_than_the_number_of_classes_is_refused() -> None:
    with pytest.raises(FairensError) as error:
        hand_example(k=4)
    assert str(error.value) == ("k=4 is not allowed: an integer from 1 to 3, the number of "
                                "classes in the test set")


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_k_must_be_a_positive_integer(k) -> None:
    with pytest.raises(FairensError, match=r"^k=.* is not allowed: a positive integer$"):
        hand_example(k=k)


def test_unknown_combine_is_refused() -> None:
    with pytest.raises(FairensError, match="combine='median' is not allowed: one of mean_prob, "
                                           "mean_logit, vote"):
        hand_example(combine="median")


def test_vote_ties_go_to_the_first_class() -> None:
    # sample 0: member 0 votes 0, member 1 votes 1 -> tie -> class 0 (right)
    # sample 4: member 0 votes 2, member 1 votes 0 -> tie -> class 0 (wrong)
    groups = hand_example(k=1, combine="vote")["groupings"]["class"]["groups"]
    assert groups["0"]["ensemble"] == 1.0 and groups["2"]["ensemble"] == 0.0


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
    result = analyse(logits=logits, labels=labels, groups=groups, k=2, max_subsets=5)
    for grouping in result.fairness["groupings"].values():
        curve = grouping["curve"]
        assert curve["subsets"] == [9, 5, 5, 5, 5, 5, 5, 5, 1]  # all 9 single members
        for key in ("bottom_k", "top_k"):
            assert curve[key][0] == pytest.approx(grouping[key]["single_mean"], abs=1e-12)
            assert curve[key][-1] == pytest.approx(grouping[key]["ensemble"], abs=1e-12)
        assert curve["overall"][0] == pytest.approx(result.fairness["overall"]["single_mean"])
        assert curve["overall"][-1] == result.fairness["overall"]["ensemble"]
        assert curve["worst_group"][-1] == grouping["worst_group"]["ensemble"]


def test_table_has_a_row_per_group() -> None:
    table = analyse(logits=np.log(PROBS), labels=LABELS, groups=GROUPS, k=2).table
    assert table[["grouping", "group"]].values.tolist() == [
        ["class", "0"], ["class", "1"], ["class", "2"], ["color", "a"], ["color", "b"]]
    assert table.loc[2, "single_std"] == 0.5
