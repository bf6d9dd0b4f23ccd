"""fairness.json against numbers computed by hand, the fast paths against brute force,
invariances, the typed result and its JSON schema."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference
from hypothesis import given, settings
from hypothesis import strategies as st

from fairens.errors import FairensError
from fairens.fairness import AnalysisOptions, analyse
from fairens.fairness.combine import SubsetPredictor, member_scores, softmax64
from fairens.fairness.subsets import curve_subsets
from fairens.report import write_report

from conftest import assert_close, make_run

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
                   options=hand_options(**options)).fairness.to_json()


def subset(entry: dict, keys=("n", "k", "group", "groups", "single_mean", "single_std",
                              "ensemble", "gain", "rel_gain")) -> dict:
    """The required fields of a fairness.json entry (the analysis adds more)."""
    return {key: value for key, value in entry.items() if key in keys}


def test_overall_by_hand() -> None:
    result = hand_example(k=2)
    # member 0 is right on samples 0, 2, 4; member 1 on 1, 2, 3; the ensemble on all five
    assert subset(result["overall"]) == {"single_mean": 0.6, "single_std": 0.0, "ensemble": 1.0,
                                         "gain": pytest.approx(0.4),
                                         "rel_gain": pytest.approx(0.4 / 0.6)}
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
                   options=hand_options(k=1)).fairness.to_json()["groupings"]["site"]
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
    fairness = analyse(logits=logits, labels=labels, groups=groups).fairness.to_json()
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
    overall = result.fairness.overall
    for grouping in result.fairness.groupings.values():
        curve = grouping.curve
        assert curve.subsets == [9, 5, 5, 5, 5, 5, 5, 5, 1]  # all 9 single members
        for key in ("bottom_k", "top_k"):
            chosen = getattr(grouping, key)
            assert curve.line(key)[0] == pytest.approx(chosen.single_mean, abs=1e-12)
            assert curve.line(key)[-1] == pytest.approx(chosen.ensemble, abs=1e-12)
        assert curve.overall[0] == pytest.approx(overall.single_mean)
        assert curve.overall[-1] == overall.ensemble
        # the curve's line is each subset's own worst group, measured where it was chosen
        # for; it ends at the named worst group when both cross-fitted halves chose it
        if grouping.worst_group.measured_on in (None, "both halves"):
            assert curve.worst_group[-1] == pytest.approx(grouping.worst_group.ensemble,
                                                          abs=1e-12)


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
    for name, summary in analysis.fairness.groupings.items():
        bins = analysis.reliability[name]
        count = bins.count[1]
        gaps = np.nansum(count * np.abs(bins.accuracy[1] - bins.confidence[1]), axis=1)
        ece = [summary.groups[g].ece.ensemble for g in bins.groups]
        np.testing.assert_allclose(gaps / count.sum(axis=1), ece, rtol=0, atol=1e-12)
        np.testing.assert_allclose(bins.count[0].sum(axis=1), count.sum(axis=1))


def opts(**options) -> AnalysisOptions:
    """Options for hand-sized examples: every group may be chosen, on the measured data."""
    return AnalysisOptions(**{"ranking": "same_data", "min_group_size": 1, **options})


def hand(minority=None, **options):
    return analyse(logits=np.log(PROBS), labels=LABELS, groups=GROUPS, minority=minority,
                   options=opts(**options)).fairness.to_json()


def test_minority_and_majority_by_hand() -> None:
    block = hand(k=1, minority={"color": ["b"]}, intervals=False)["groupings"]["color"]["minority"]
    # colour a = samples 0, 2; b = samples 1, 3, 4. Member 0 gets a 2/2, b 1/3; member 1 a 1/2,
    # b 2/3; the ensemble gets everything right.
    assert block["groups"] == ["b"]
    assert block["minority"]["n"] == 3 and block["majority"]["n"] == 2
    assert block["minority"]["single_mean"] == pytest.approx(0.5)
    assert block["majority"]["single_mean"] == pytest.approx(0.75)
    assert block["gap"] == {"single_mean": pytest.approx(0.25), "ensemble": 0.0,
                            "change": pytest.approx(-0.25), "ci": None}


def test_minority_curve_is_on_the_grouping_curve() -> None:
    curve = hand(k=1, minority={"color": ["b"]})["groupings"]["color"]["curve"]
    assert curve["minority"] == pytest.approx([0.5, 1.0])
    assert curve["majority"] == pytest.approx([0.75, 1.0])
    assert len(curve["ci"]["minority"]) == 2


def test_groupings_named_minority_majority_declare_themselves() -> None:
    groups = GROUPS.assign(train_frequency=["minority", "minority", "majority", "majority",
                                            "majority"])
    result = analyse(logits=np.log(PROBS), labels=LABELS, groups=groups,
                     options=opts(k=1, intervals=False)).fairness.to_json()
    assert result["groupings"]["train_frequency"]["minority"]["groups"] == ["minority"]
    assert "minority" not in result["groupings"]["color"]


def test_disagreement_by_hand() -> None:
    # member 0 predicts 0 1 1 0 2, member 1 predicts 1 0 1 1 0: they differ on 0, 1, 3, 4
    groups = hand(k=1)["groupings"]["class"]["groups"]
    assert [groups[c]["disagreement"] for c in "012"] == [1.0, 0.5, 1.0]


def test_ece_by_hand() -> None:
    groups = hand(k=1)["groupings"]["class"]["groups"]
    # ensemble confidences: class 0 samples 0.5 and 0.45 (bins 8 and 7 of 15), both right
    assert groups["0"]["ece"]["ensemble"] == pytest.approx((0.5 + 0.55) / 2)
    assert groups["2"]["ece"]["ensemble"] == pytest.approx(0.4)  # one sample, 0.6, right
    # member 1 on sample 4: confidence 0.5, wrong; member 0: 0.8, right
    assert groups["2"]["ece"]["single_mean"] == pytest.approx((0.5 + 0.2) / 2)


def test_parity_for_binary_targets_by_hand() -> None:
    labels = np.array([0, 1, 1, 0, 1, 0])
    members = np.array([[0, 1, 1, 1, 1, 0], [0, 0, 1, 1, 0, 0]])
    logits = np.log(np.where(np.eye(2)[members] == 1, 0.9, 0.1))
    groups = pd.DataFrame({"class": labels.astype(str), "sex": list("ffmmmf")})
    result = analyse(logits=logits, labels=labels, groups=groups,
                     options=opts(k=1, intervals=False)).fairness.to_json()
    parity = result["groupings"]["sex"]["parity"]["demographic_parity_difference"]
    # member 0 selects f: 1/3, m: 3/3 -> 2/3; member 1 f: 0/3, m: 2/3 -> 2/3
    assert parity["single_mean"] == pytest.approx(2 / 3)
    assert parity["single_std"] == pytest.approx(0, abs=1e-12)
    assert parity["single_mean"] == pytest.approx(np.mean([
        demographic_parity_difference(labels, p, sensitive_features=groups["sex"])
        for p in members]))
    assert "parity" not in result["groupings"]["class"]


def test_counterfactual_flip_rate_by_hand() -> None:
    # pairs (0, 1), (2, 3), (4, 5) of classes 0, 1, 1; predictions of the two members:
    labels = np.array([0, 0, 1, 1, 1, 1])
    members = np.array([[0, 1, 1, 1, 0, 1], [0, 0, 1, 0, 1, 1]])
    logits = np.log(np.where(np.eye(2)[members] == 1, 0.8, 0.2))
    groups = pd.DataFrame({"class": labels.astype(str), "color": list("cgcgcg")})
    result = analyse(logits=logits, labels=labels, groups=groups,
                     options=opts(k=1, intervals=False),
                     pair_ids=np.array([7, 7, 8, 8, 9, 9])).fairness.to_json()["counterfactual"]
    # member 0 flips pairs 7 and 9, member 1 pair 8; the ensemble (ties -> class 0) predicts
    # 0 0 1 0 0 1 and flips pairs 8 and 9
    assert result["pairs"] == 3
    assert result["overall"]["single_mean"] == pytest.approx(0.5)
    assert result["overall"]["ensemble"] == pytest.approx(2 / 3)
    assert result["per_class"]["0"] == {"pairs": 1, "single_mean": 0.5, "ensemble": 0.0}
    assert result["per_class"]["1"]["ensemble"] == 1.0


def _random_run(seed: int, n_members: int = 5, n: int = 120, n_classes: int = 4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n_members, n, n_classes)) + 1.5 * np.eye(n_classes)[labels]
    groups = pd.DataFrame({"class": labels.astype(str), "site": rng.choice(list("xyz"), n)})
    return logits, labels, groups


def test_metricframe_agrees_with_the_vectorised_path() -> None:
    logits, labels, groups = _random_run(3)
    result = analyse(logits=logits, labels=labels, groups=groups,
                     options=opts(k=2, intervals=False))
    assert result.fairness.to_json()["crosscheck"]["metricframe_max_abs_diff"] <= 1e-12
    assert result.metricframe[["grouping", "group"]].values.tolist() == \
        result.table[["grouping", "group"]].values.tolist()
    np.testing.assert_allclose(result.metricframe["ensemble"], result.table["ensemble"],
                               rtol=0, atol=1e-12)


def test_member_permutation_invariance() -> None:
    logits, labels, groups = _random_run(4)
    options = AnalysisOptions(k=2, min_group_size=5)
    a, b = (analyse(logits=members, labels=labels, groups=groups, options=options).fairness
            for members in (logits, logits[::-1]))
    assert_close(a.to_json(), b.to_json())


def test_group_relabelling_invariance() -> None:
    logits, labels, groups = _random_run(5)
    renamed = groups.assign(site=groups["site"].map({"x": "north", "y": "east", "z": "south"}))
    a = analyse(logits=logits, labels=labels, groups=groups, options=opts(k=2)).fairness.to_json()
    b = analyse(logits=logits, labels=labels, groups=renamed, options=opts(k=2)).fairness.to_json()
    for old, new in (("x", "north"), ("y", "east"), ("z", "south")):
        assert_close(a["groupings"]["site"]["groups"][old], b["groupings"]["site"]["groups"][new])
    assert_close(a["groupings"]["class"], b["groupings"]["class"])


def test_crossfit_halves_are_seeded() -> None:
    logits, labels, groups = _random_run(6)
    run = lambda seed: analyse(logits=logits, labels=labels, groups=groups,  # noqa: E731
                               options=AnalysisOptions(split_seed=seed, ranking="crossfit",
                                                       min_group_size=5)).fairness.to_json()
    assert run(1) == run(1)
    assert run(1)["groupings"]["class"]["bottom_vs_top"] != \
        run(2)["groupings"]["class"]["bottom_vs_top"]


def _walk_numbers(entry, inside=""):
    """(path, point estimate, interval) for every statistic with an interval."""
    if isinstance(entry, dict):
        ci = entry.get("ci")
        if isinstance(ci, dict):
            for key, bounds in ci.items():
                if isinstance(entry.get(key), float) and bounds and None not in bounds:
                    yield f"{inside}.{key}", entry[key], bounds
        for key, value in entry.items():
            if key != "ci":
                yield from _walk_numbers(value, f"{inside}.{key}")


ACCURACY_KEYS = ("single_mean", "ensemble", "overall", "bottom_k", "top_k", "worst_group",
                 "minority", "majority")


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(6, 30), st.integers(2, 4), st.integers(0, 2 ** 16))
def test_accuracies_lie_in_unit_interval_and_intervals_contain_points(
        n_members: int, n: int, n_classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    logits = np.round(rng.normal(size=(n_members, n, n_classes)) + np.eye(n_classes)[labels])
    groups = pd.DataFrame({"class": labels.astype(str), "half": rng.choice(["p", "q"], n)})
    fairness = analyse(logits=logits, labels=labels, groups=groups, minority={"half": ["q"]},
                       options=AnalysisOptions(k=1, min_group_size=1)).fairness.to_json()
    json.dumps(fairness, allow_nan=False)
    for grouping in fairness["groupings"].values():
        for group in grouping["groups"].values():
            assert 0 <= group["single_mean"] <= 1 and 0 <= group["ensemble"] <= 1
        for key in ACCURACY_KEYS:
            for value in grouping["curve"].get(key, []):
                assert value is None or 0 <= value <= 1
        curve = grouping["curve"]
        for key, values in curve["ci"].items():
            for point, bounds in zip(curve[key], values, strict=True):
                if bounds is not None:
                    low, high = bounds
                    assert 0 <= low <= point + 1e-12 and point <= high + 1e-12 <= 1 + 1e-12, key
    for path, point, (low, high) in _walk_numbers(fairness):
        assert low - 1e-12 <= point <= high + 1e-12, path


def test_html_shows_group_names_as_text(tmp_path: Path) -> None:
    make_run(tmp_path)
    table = pd.read_csv(tmp_path / "test_groups.csv")
    table["site"] = np.where(table.index % 2 == 0, "<script>alert(1)</script>", "a&b \"c\"")
    table.to_csv(tmp_path / "test_groups.csv", index=False)
    write_report(tmp_path, opts(k=2))
    page = (tmp_path / "report.html").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a&amp;b &quot;c&quot;" in page
    assert page.count("data:image/png;base64,") >= 6  # self-contained: plots embedded
    markdown = (tmp_path / "report.md").read_text()
    assert "<script>" not in markdown and "\\<script\\>" in markdown


def test_report_writes_every_file(tmp_path: Path) -> None:
    make_run(tmp_path)
    write_report(tmp_path, opts(k=2))
    names = {p.name for p in tmp_path.iterdir()}
    assert {"fairness.json", "groups.csv", "groups_metricframe.csv", "report.md",
            "report.html", "plots"} <= names
    groups = pd.read_csv(tmp_path / "groups.csv")
    assert {"single_mean_lo", "ensemble_hi", "disagreement", "ece_ensemble"} <= set(groups)
    assert not math.isnan(groups["ensemble_lo"].iloc[0])


def test_analysis_does_not_depend_on_the_sample_chunk(monkeypatch) -> None:
    from fairens.fairness import correctness as correctness_module
    logits, labels, groups = _random_run(6)
    options = AnalysisOptions(min_group_size=5)
    whole = analyse(logits=logits, labels=labels, groups=groups, options=options).fairness
    monkeypatch.setattr(correctness_module, "_CHUNK_BYTES", 1)  # the smallest chunk: 64
    assert correctness_module._chunk_size(*logits.shape[::2], 100) == 64 < len(labels)
    chunked = analyse(logits=logits, labels=labels, groups=groups, options=options).fairness
    assert whole == chunked


def _binary_run(n: int = 120, members: int = 3):
    """A two-class run with a protected grouping, a minority and counterfactual pairs: every
    optional block of fairness.json is present."""
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 2, n)
    logits = rng.normal(size=(members, n, 2)) + 1.5 * np.eye(2)[labels]
    groups = pd.DataFrame({"class": labels.astype(str), "sex": rng.choice(["f", "m"], n),
                           "site": rng.choice(["a", "b", "c"], n)})
    return analyse(logits=logits, labels=labels, groups=groups, minority={"site": ["c"]},
                   pair_ids=np.arange(n) // 2, options=AnalysisOptions(min_group_size=5))


def test_fairness_json_round_trips_through_the_typed_result() -> None:
    from fairens.fairness.result import SCHEMA_VERSION, FairnessResult
    from fairens.files import json_text
    result = _binary_run().fairness
    text = json_text(result.to_json())
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION
    back = FairnessResult.from_json(json.loads(text))
    assert back == result and json_text(back.to_json()) == text
    assert back.groupings["site"].minority_vs_majority.verdict is \
        result.groupings["site"].minority_vs_majority.verdict
    assert back.groupings["sex"].subpop.equalized_odds is not None
    assert back.groupings["sex"].parity["demographic_parity_difference"].ensemble >= 0
    assert back.counterfactual.pairs == 60


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.pop("schema_version"),
     "fairness.json: no schema_version (written by an earlier fairens); this fairens reads "
     "schema_version 3: recompute it with `fairens report RUN_DIR`"),
    (lambda d: d.update(schema_version=2),
     "fairness.json: schema_version 2; this fairens reads schema_version 3: recompute it "
     "with `fairens report RUN_DIR`"),
    (lambda d: d["groupings"]["site"]["groups"]["a"].update(n="12"),
     "fairness.json: groupings.site.groups.a.n should be an integer, got '12' "
     "(schema_version 3, docs/run-directory.md)"),
    (lambda d: d["groupings"]["class"].update(extra=1),
     "fairness.json: unexpected key 'extra' at .groupings.class (schema_version 3, "
     "docs/run-directory.md)"),
    (lambda d: d["overall"].pop("ensemble"),
     "fairness.json: missing key 'ensemble' at .overall (schema_version 3, "
     "docs/run-directory.md)"),
    (lambda d: d["groupings"]["class"]["bottom_vs_top"].update(verdict="better"),
     "fairness.json: groupings.class.bottom_vs_top.verdict should be one of no_difference, "
     "not_tested, bottom_more, top_more, minority_more, majority_more, larger, smaller, "
     "got 'better' (schema_version 3, docs/run-directory.md)"),
])
def test_a_fairness_json_that_does_not_fit_is_one_line(edit, message) -> None:
    from fairens.fairness.result import FairnessResult
    data = _binary_run(60).fairness.to_json()
    edit(data)
    with pytest.raises(FairensError) as error:
        FairnessResult.from_json(data)
    assert str(error.value) == message


def test_verdicts_carry_no_hidden_keys() -> None:
    """What the verdict code decides travels in typed fields: nothing private reaches
    fairness.json."""
    data = json.dumps(_binary_run().fairness.to_json())
    assert '"_' not in data and '"labels"' not in data


def test_every_field_of_fairness_json_is_documented() -> None:
    """docs/run-directory.md names every key of the typed result (a renamed or added field
    fails here until the schema section says so)."""
    import dataclasses
    import typing

    from fairens.fairness import result as module

    from conftest import REPO
    text = (REPO / "docs" / "run-directory.md").read_text()
    section = text[text.index("## fairness.json"):text.index("## test_groups.csv")]
    kinds = [kind for kind in vars(module).values()
             if isinstance(kind, type) and dataclasses.is_dataclass(kind)]
    assert len(kinds) > 20
    missing = {f"{kind.__name__}.{f.name}" for kind in kinds for f in dataclasses.fields(kind)
               if f"`{f.name}`" not in section}
    assert not missing
    assert typing.get_type_hints(module.FairnessResult)["schema_version"] is int
