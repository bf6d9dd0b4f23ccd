"""Intervals, minorities, disagreement, calibration, parity, flips, cross-check, invariances."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference
from hypothesis import given, settings
from hypothesis import strategies as st

from fairens.fairness import AnalysisOptions, analyse
from fairens.report import write_report

from conftest import assert_close, make_run
from test_fairness import GROUPS, LABELS, PROBS


def opts(**options) -> AnalysisOptions:
    """Options for hand-sized examples: every group may be chosen, on the measured data."""
    return AnalysisOptions(**{"ranking": "same_data", "min_group_size": 1, **options})


def hand(minority=None, **options):
    return analyse(logits=np.log(PROBS), labels=LABELS, groups=GROUPS, minority=minority,
                   options=opts(**options)).fairness


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
                     options=opts(k=1, intervals=False)).fairness
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
                     options=opts(k=1, intervals=False)).fairness
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
                     pair_ids=np.array([7, 7, 8, 8, 9, 9])).fairness["counterfactual"]
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
    assert result.fairness["crosscheck"]["metricframe_max_abs_diff"] <= 1e-12
    assert result.metricframe[["grouping", "group"]].values.tolist() == \
        result.table[["grouping", "group"]].values.tolist()
    np.testing.assert_allclose(result.metricframe["ensemble"], result.table["ensemble"],
                               rtol=0, atol=1e-12)


def test_member_permutation_invariance() -> None:
    logits, labels, groups = _random_run(4)
    options = AnalysisOptions(k=2, min_group_size=5)
    a = analyse(logits=logits, labels=labels, groups=groups, options=options).fairness
    b = analyse(logits=logits[::-1], labels=labels, groups=groups, options=options).fairness
    assert_close(a, b)


def test_group_relabelling_invariance() -> None:
    logits, labels, groups = _random_run(5)
    renamed = groups.assign(site=groups["site"].map({"x": "north", "y": "east", "z": "south"}))
    a = analyse(logits=logits, labels=labels, groups=groups, options=opts(k=2)).fairness
    b = analyse(logits=logits, labels=labels, groups=renamed, options=opts(k=2)).fairness
    for old, new in (("x", "north"), ("y", "east"), ("z", "south")):
        assert_close(a["groupings"]["site"]["groups"][old], b["groupings"]["site"]["groups"][new])
    assert_close(a["groupings"]["class"], b["groupings"]["class"])


def test_crossfit_halves_are_seeded() -> None:
    logits, labels, groups = _random_run(6)
    run = lambda seed: analyse(logits=logits, labels=labels, groups=groups,  # noqa: E731
                               options=AnalysisOptions(split_seed=seed, ranking="crossfit",
                                                       min_group_size=5)).fairness
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
                       options=AnalysisOptions(k=1, min_group_size=1)).fairness
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
