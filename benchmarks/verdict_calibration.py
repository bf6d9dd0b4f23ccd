"""Are the report's verdicts right at their stated error rate? Simulated worlds with a
known truth, analysed exactly as users analyse foreign predictions (``fairens report`` on a
folder without validation predictions: groups chosen by cross-fitting).

Worlds (C exchangeable or typed classes, n test images each, K members):
  * ``shared``: members share most of their errors (a per-sample logit vector) and add their
    own noise, and each member has its own overall skill (training randomness);
  * ``member_class``: as ``shared``, and each member is also better or worse at each class
    (a member-by-class effect, as real networks trained from different seeds are), the
    spread of a member's accuracy on a class about 4 points;
  * ``independent``: each sample has a difficulty from a U-shaped Beta distribution and every
    member errs on it independently with that probability (the null in which ranking and
    measuring on the same data claimed a difference 60% of the time);
  * ``effect``: half the classes are hard and their errors are mostly members' own noise,
    which ensembling removes, the other half easy with mostly shared errors: the bottom
    classes truly gain more, by an amount computed by Monte Carlo.
In null worlds every class is alike (any bottom-vs-top claim is false) and half the classes
are declared a "minority" at random (any minority claim is false too).

Printed per setting: the false-positive rate of each verdict (its Holm-adjusted p below
0.05) and of the report as a whole (any verdict claiming a difference), with 95% Clopper-
Pearson Monte-Carlo intervals (target <= 5%); the coverage of the 95% intervals of the
bottom-vs-top difference on all three scales (target 93-97%); in effect worlds, the power;
and, for comparison, the false-positive rate of the old practice (ranking on the measured
test set, ``report.ranking=same_data``). With ``--ranking validation`` the groups are chosen
on validation predictions of the same members (n / 2 images a class), as in runs that
``train.py`` makes.

    python benchmarks/verdict_calibration.py [--worlds 200] [--settings all|quick|small|members]
                                             [--ranking crossfit|validation] [--jobs 2]
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from fairens.fairness import AnalysisOptions, RankingData, analyse

SCALES = ("gain", "rel_gain", "error_reduction")


@dataclass(frozen=True)
class Setting:
    world: str
    classes: int
    per_class: int
    members: int


def _typed_logits(rng: np.random.Generator, labels: np.ndarray, effects: np.ndarray,
                  strength: np.ndarray, shared_noise: np.ndarray,
                  own_noise: np.ndarray) -> np.ndarray:
    """Members share a per-sample logit vector and add their own noise; ``effects`` [K, C]
    is each member's boost of the right class's logit (its skill, overall and per class)."""
    n, classes = len(labels), effects.shape[1]
    onehot = np.eye(classes)[labels]
    shared = strength[:, None] * onehot + shared_noise[:, None] * rng.standard_normal((n, classes))
    own = own_noise[None, :, None] * rng.standard_normal((len(effects), n, classes))
    return shared[None] + effects[:, labels][:, :, None] * onehot[None] + own


def member_effects(rng: np.random.Generator, members: int, classes: int,
                   per_class: float) -> np.ndarray:
    """[K, C]: each member's overall skill (sd 0.15 logits) plus its class-specific skill."""
    return (0.15 * rng.standard_normal((members, 1))
            + per_class * rng.standard_normal((members, classes)))


def _independent_logits(rng: np.random.Generator, labels: np.ndarray, members: int) -> np.ndarray:
    n, classes = len(labels), int(labels.max()) + 1
    difficulty = rng.beta(0.24, 0.76, n)  # U-shaped, mean 0.24: single members ~76% right
    wrong = rng.random((members, n)) < difficulty
    other = (labels + rng.integers(1, classes, (members, n))) % classes
    predicted = np.where(wrong, other, labels)
    return 4.0 * np.eye(classes)[predicted] + 0.5 * rng.standard_normal((members, n, classes))


# class types: (strength, shared noise, own noise). The null "shared" world uses _EASY for
# every class (single members ~75% right, the ensemble ~82%); in the effect world the hard
# classes (~67% -> 78%) gain about 4 points more than the easy ones.
_EASY, _HARD = (4.6, 1.6, 0.8), (4.4, 1.6, 1.0)


@dataclass(frozen=True)
class World:
    logits: np.ndarray  # [K, N, C] test
    labels: np.ndarray
    groups: pd.DataFrame
    validation: RankingData  # the same members on n / 2 validation images a class
    types: np.ndarray  # per class: 0 alike / easy, 1 hard


def world(setting: Setting, seed: int) -> World:
    """A simulated run: test and validation predictions of K members, groups (class, and a
    random minority declaration), and each class's type."""
    rng = np.random.default_rng(seed)
    types = np.zeros(setting.classes, dtype=np.int64)
    if setting.world == "effect":
        types[rng.permutation(setting.classes)[:setting.classes // 2]] = 1
    effects = member_effects(rng, setting.members, setting.classes,
                             0.35 if setting.world == "member_class" else 0.0)
    declared = rng.permutation(setting.classes)[:setting.classes // 2]
    names = np.array([f"class{c:03d}" for c in range(setting.classes)])
    splits = []
    for per_class in (setting.per_class, max(setting.per_class // 2, 2)):
        labels = np.repeat(np.arange(setting.classes), per_class)
        if setting.world == "independent":
            logits = _independent_logits(rng, labels, setting.members)
        else:
            params = np.array([_EASY, _HARD])[types[labels]]
            logits = _typed_logits(rng, labels, effects, params[:, 0], params[:, 1],
                                   params[:, 2])
        groups = pd.DataFrame({"class": names[labels],
                               "frequency": np.where(np.isin(labels, declared), "minority",
                                                     "majority")})
        splits.append((logits.astype(np.float32), labels, groups))
    (logits, labels, groups), val = splits
    return World(logits, labels, groups, RankingData(*val), types)


def type_truth(members: int, draws: int = 60, per_draw: int = 4000,
               seed: int = 12345) -> np.ndarray:
    """[type, (single, ensemble)]: expected single-member and K-member ensemble accuracy of
    each class type of the effect world, over new samples and new members (Monte Carlo)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((2, 2))
    for kind, params in enumerate((_EASY, _HARD)):
        single, ensemble = [], []
        for _ in range(draws):
            labels = np.repeat(np.arange(20), per_draw // 20)
            n = len(labels)
            logits = _typed_logits(rng, labels, member_effects(rng, members, 20, 0.0),
                                   np.full(n, params[0]), np.full(n, params[1]),
                                   np.full(n, params[2]))
            probs = np.exp(logits - logits.max(axis=2, keepdims=True))
            probs /= probs.sum(axis=2, keepdims=True)
            single.append((probs.argmax(axis=2) == labels).mean())
            ensemble.append((probs.mean(axis=0).argmax(axis=1) == labels).mean())
        out[kind] = [np.mean(single), np.mean(ensemble)]
    return out


def _scale(single: float, ensemble: float) -> dict[str, float]:
    gain = ensemble - single
    return {"gain": gain, "rel_gain": gain / single, "error_reduction": gain / (1 - single)}


def _true_difference(block: dict, types: np.ndarray, truth: np.ndarray, names: list[str]):
    """The population bottom-vs-top difference of the sets the analysis chose, per scale."""
    index = {name: i for i, name in enumerate(names)}
    per_half = lambda key: block[key].get("by_half") or [block[key]["groups"]]  # noqa: E731
    sides = {}
    for key in ("bottom_k", "top_k"):
        single = np.mean([np.mean([truth[types[index[g]], 0] for g in groups])
                          for groups in per_half(key)])
        ensemble = np.mean([np.mean([truth[types[index[g]], 1] for g in groups])
                            for groups in per_half(key)])
        sides[key] = _scale(single, ensemble)
    return {s: sides["bottom_k"][s] - sides["top_k"][s] for s in SCALES}


def one_world(args: tuple[Setting, int, np.ndarray | None, str]) -> dict:
    setting, seed, truth, chosen_by = args
    simulated = world(setting, seed)
    types = simulated.types
    row = {}
    for ranking in (chosen_by, "same_data"):
        options = AnalysisOptions(ranking=ranking, crosscheck=False)
        fairness = analyse(logits=simulated.logits, labels=simulated.labels,
                           groups=simulated.groups, options=options,
                           minority={"frequency": ["minority"]},
                           validation=simulated.validation).fairness
        summary = fairness["groupings"]["class"]
        versus = summary["bottom_vs_top"]
        minority = fairness["groupings"]["frequency"]["minority_vs_majority"]
        prefix = "" if ranking == chosen_by else "same_"
        row[prefix + "bottom_claim"] = versus["verdict"] != "no_difference"
        row[prefix + "minority_claim"] = minority["verdict"] != "no_difference"
        row[prefix + "any_claim"] = row[prefix + "bottom_claim"] or row[prefix + "minority_claim"]
        row[prefix + "bottom_raw"] = versus["p"] is not None and versus["p"] < 0.05
        row[prefix + "minority_raw"] = minority["p"] is not None and minority["p"] < 0.05
        if ranking != chosen_by:
            continue
        if truth is None:
            true = {s: 0.0 for s in SCALES}
        else:
            true = _true_difference(summary, types, truth,
                                    [f"class{c:03d}" for c in range(setting.classes)])
        for scale in SCALES:
            ci = versus["scales"][scale]["ci"]
            row[f"cover_{scale}"] = ci is not None and ci[0] <= true[scale] <= ci[1]
        row["minority_cover"] = (minority["ci"] is not None
                                 and minority["ci"][0] <= 0 <= minority["ci"][1])
        row["single"] = fairness["overall"]["single_mean"]
        row["ensemble"] = fairness["overall"]["ensemble"]
    return row


def _rate(hits: int, n: int) -> str:
    low = stats.beta.ppf(0.025, hits, n - hits + 1) if hits else 0.0
    high = stats.beta.ppf(0.975, hits + 1, n - hits) if hits < n else 1.0
    return f"{100 * hits / n:5.1f}% [{100 * low:4.1f}, {100 * high:4.1f}]"


SETTINGS = {
    "all": [Setting(w, c, p, k) for w, (c, p), k in itertools.product(
        ("shared", "independent"), ((20, 50), (100, 100)), (5, 10, 20))]
    + [Setting(w, 20, 50, k) for w, k in itertools.product(("effect", "member_class"),
                                                           (5, 10, 20))],
    "small": [Setting(w, 20, 50, k) for w, k in itertools.product(("effect", "member_class"),
                                                                  (5, 10, 20))],
    "quick": [Setting("shared", 20, 50, 10), Setting("independent", 20, 50, 10),
              Setting("member_class", 20, 50, 10), Setting("effect", 20, 50, 10)],
    "members": [Setting("member_class", c, p, k) for (c, p), k in itertools.product(
        ((20, 50), (100, 100)), (5, 10, 20))],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=200)
    parser.add_argument("--settings", choices=sorted(SETTINGS), default="all")
    parser.add_argument("--ranking", choices=["crossfit", "validation"], default="crossfit",
                        help="which data choose the groups (crossfit: as for foreign "
                             "predictions, which have no validation split)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print(f"groups chosen by {args.ranking}; {args.worlds} worlds per setting")
    print(f"{'setting':32s} {'single->ens':>12s}  {'bottom-vs-top FP':>22s} "
          f"{'minority FP':>22s} {'report FP':>22s} {'same-data FP':>22s}  coverage "
          "gain / rel / err-red")
    with ProcessPoolExecutor(args.jobs) as pool:
        for setting in SETTINGS[args.settings]:
            start = time.perf_counter()
            truth = type_truth(setting.members) if setting.world == "effect" else None
            rows = pd.DataFrame(pool.map(one_world, [(setting, seed, truth, args.ranking)
                                                     for seed in range(args.worlds)],
                                         chunksize=4))
            n = len(rows)
            name = (f"{setting.world} {setting.classes}x{setting.per_class} "
                    f"K={setting.members}")
            cover = " / ".join(f"{100 * rows[f'cover_{s}'].mean():4.1f}%" for s in SCALES)
            label = "power" if setting.world == "effect" else "FP"
            print(f"{name:32s} {100 * rows.single.mean():4.1f}->{100 * rows.ensemble.mean():4.1f}"
                  f"  {label} {_rate(int(rows.bottom_claim.sum()), n)} "
                  f"{_rate(int(rows.minority_claim.sum()), n)} "
                  f"{_rate(int(rows.any_claim.sum()), n)} "
                  f"{_rate(int(rows.same_bottom_claim.sum()), n)}  {cover}  "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
            if math.isnan(rows.single.mean()):
                raise SystemExit("no world was analysed")


if __name__ == "__main__":
    main()
