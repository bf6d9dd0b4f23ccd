"""Are the report's verdicts right at their stated error rate? Simulated worlds with a
known truth, analysed exactly as users analyse foreign predictions (``fairens report`` on a
folder without validation predictions: groups chosen by cross-fitting), built so that the
method's own assumptions do not hold by construction.

Samples are of three kinds. *Normal* samples: members share a per-sample logit vector and
add their own noise, and each member has its own overall skill (training randomness).
*Trivial* samples: every member is confidently right. *Impossible* samples: every member is
confidently wrong, on the same class. Mixing them per class makes classes differ in accuracy
while a chosen scale's gain is exactly equal in every class:

  * ``shared``: every class alike (normal samples only);
  * ``member_class``: as ``shared``, plus a member-by-class effect (each member better or
    worse at each class, sd about 4 points of accuracy);
  * ``independent``: each sample has a U-shaped difficulty and members err independently;
  * ``hetero_gain``: classes differ in accuracy (trivial share t and impossible share i
    vary, t + i fixed): the gain in points is equal in every class, the other scales not;
  * ``hetero_rel``: impossible share varies: the relative gain is equal, accuracy not;
  * ``hetero_err``: trivial share varies: the error-rate reduction is equal, accuracy not;
  * ``clustered``: normal samples come in clusters of 5 similar ones on which each member's
    own noise is the same (members share errors on clusters of similar samples);
  * ``duplicates``: clusters of 5 near-copies of one image (shared noise and members' noise
    alike), declared to the analysis as clusters (``pair_id``), as near-duplicates must be;
  * ``near_perfect``: as ``hetero_gain`` with 90% trivial or impossible samples in every
    class (classes from about 7% to 98% accurate, the best often at 100%);
  * ``rare``: as ``hetero_gain`` with a third of the classes holding 12 test samples;
  * ``effect_<s>``: half the classes are hard, their normal samples with more member noise
    (``s`` scales it), which ensembling removes: the bottom classes truly gain more, by an
    amount computed by Monte Carlo.
In null worlds the verdict's scale has no true difference between any two classes, and half
the classes are declared a "minority" at random, so every verdict is false.

Printed per setting: the false-positive rate of each verdict on the world's null scale (its
Holm-adjusted p below 0.05) and of the report (any verdict), with 95% Clopper-Pearson Monte
Carlo intervals (target <= 5%); the coverage of the 95% intervals of the bottom-vs-top
difference on all three scales (target 93-97%); in effect worlds the power, next to an
*oracle* test that knows the true sets: k truly hard against k truly easy classes, measured
on every test sample by the same interval machinery and Holm-adjusted with the report's
other verdict: it differs from the report only in not having to choose the groups.

    python benchmarks/verdict_calibration.py [--worlds 200] [--seed 0] [--jobs 2]
        [--settings nulls|effects|grid|quick | --kinds shared,effect_0.5,...]
        [--ranking crossfit|validation] [--scale gain|rel_gain|error_reduction]
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from fairens.fairness import AnalysisOptions, RankingData, analyse
from fairens.fairness.estimates import holm
from fairens.fairness.result import GroupingResult, Outcome

SCALES = ("gain", "rel_gain", "error_reduction")
K_SETS = 3
_NORMAL = (4.6, 1.6, 0.8)  # strength, shared noise, own noise: ~75% single, ~82% ensemble
_TRIVIAL, _IMPOSSIBLE = 1, 2


# worlds whose classes are exchangeable: null on every scale
EXCHANGEABLE = ("shared", "member_class", "independent", "clustered", "duplicates")


@dataclass(frozen=True)
class Setting:
    world: str
    classes: int
    per_class: int
    members: int
    verdict_scale: str = "gain"  # the verdicts' scale, in worlds null on every scale

    @property
    def scale(self) -> str:
        """The scale on which the world is null, and its verdicts are decided."""
        if self.world in EXCHANGEABLE:
            return self.verdict_scale
        return {"hetero_rel": "rel_gain", "hetero_err": "error_reduction"}.get(self.world,
                                                                               "gain")

    @property
    def effect(self) -> float:
        return float(self.world.split("_")[1]) if self.world.startswith("effect_") else 0.0

    def __str__(self) -> str:
        return f"{self.world} {self.classes}x{self.per_class} K={self.members}"


def _normal_logits(rng: np.random.Generator, labels: np.ndarray, effects: np.ndarray,
                   own: np.ndarray, clusters: int = 1, duplicates: bool = False) -> np.ndarray:
    """Members share a per-sample logit vector and add their own noise (``own`` per sample);
    ``effects`` [K, C] boosts the right class by each member's skill. With ``clusters`` > 1,
    runs of that many similar samples share each member's own noise: a member errs on the
    whole cluster together; ``duplicates``: they share their shared noise too (near-copies
    of one image)."""
    strength, shared_sd, _ = _NORMAL
    n, classes = len(labels), effects.shape[1]
    onehot = np.eye(classes)[labels]
    draws = -(-n // clusters)
    shared = (np.repeat(rng.standard_normal((draws, classes)), clusters, axis=0)[:n]
              if duplicates else rng.standard_normal((n, classes)))
    noise = np.repeat(rng.standard_normal((len(effects), draws, classes)), clusters, axis=1)
    return (strength * onehot + shared_sd * shared)[None] \
        + effects[:, labels][:, :, None] * onehot[None] + own[None, :, None] * noise[:, :n]


def _independent_logits(rng: np.random.Generator, labels: np.ndarray, members: int,
                        classes: int) -> np.ndarray:
    difficulty = rng.beta(0.24, 0.76, len(labels))  # U-shaped, single members ~76% right
    wrong = rng.random((members, len(labels))) < difficulty
    other = (labels + rng.integers(1, classes, (members, len(labels)))) % classes
    predicted = np.where(wrong, other, labels)
    return 4.0 * np.eye(classes)[predicted] + 0.5 * rng.standard_normal(
        (members, len(labels), classes))


def _shares(setting: Setting, rng: np.random.Generator) -> np.ndarray:
    """[C, 2]: each class's share of trivial and of impossible samples."""
    c = setting.classes
    spread = rng.permutation(np.linspace(0.0, 1.0, c))
    if setting.world in ("hetero_gain", "rare"):
        trivial = 0.3 * spread
        return np.c_[trivial, 0.3 - trivial]
    if setting.world == "near_perfect":  # 10% normal samples: classes from ~7% to ~98%
        trivial = 0.9 * spread
        return np.c_[trivial, 0.9 - trivial]
    if setting.world == "hetero_rel":
        return np.c_[np.zeros(c), 0.5 * spread]
    if setting.world == "hetero_err":
        return np.c_[0.7 * spread, np.zeros(c)]
    return np.zeros((c, 2))


@dataclass(frozen=True)
class World:
    logits: np.ndarray  # [K, N, C] test
    labels: np.ndarray
    groups: pd.DataFrame
    validation: RankingData
    truth: np.ndarray  # [C, 2]: each class's expected single and ensemble accuracy
    hard: np.ndarray  # bool [C]: effect worlds' hard classes
    pairs: np.ndarray | None  # duplicates worlds: each test sample's cluster, declared


def _split(setting: Setting, rng: np.random.Generator, per_class: np.ndarray,
           effects: np.ndarray, own: np.ndarray, shares: np.ndarray) -> tuple:
    c, k = setting.classes, setting.members
    labels = np.repeat(np.arange(c), per_class)
    if setting.world == "independent":
        return _independent_logits(rng, labels, k, c), labels
    clusters = 5 if setting.world in ("clustered", "duplicates") else 1
    logits = _normal_logits(rng, labels, effects, own[labels], clusters,
                            duplicates=setting.world == "duplicates")
    kind = np.zeros(len(labels), dtype=np.int64)
    draw = rng.random(len(labels))
    kind[draw < shares[labels, 0]] = _TRIVIAL
    kind[(draw >= shares[labels, 0]) & (draw < shares[labels].sum(axis=1))] = _IMPOSSIBLE
    onehot = np.eye(c)
    wrong = (labels + 1 + rng.integers(0, c - 1, len(labels))) % c
    logits[:, kind == _TRIVIAL] = 12.0 * onehot[labels[kind == _TRIVIAL]]
    logits[:, kind == _IMPOSSIBLE] = 12.0 * onehot[wrong[kind == _IMPOSSIBLE]]
    return logits, labels


def world(setting: Setting, seed: int, normal_truth: dict[float, np.ndarray]) -> World:
    """A simulated run: test and validation predictions of K members, groups (class, and a
    random minority declaration), and each class's expected accuracies."""
    rng = np.random.default_rng(seed)
    c, k = setting.classes, setting.members
    effects = (0.15 * rng.standard_normal((k, 1)) + (0.35 if setting.world == "member_class"
                                                     else 0.0) * rng.standard_normal((k, c)))
    hard = np.zeros(c, dtype=bool)
    if setting.effect:
        hard[rng.permutation(c)[:c // 2]] = True
    own = np.where(hard, _NORMAL[2] * (1 + setting.effect), _NORMAL[2])
    shares = _shares(setting, rng)
    per_class = np.full(c, setting.per_class)
    if setting.world == "rare":
        per_class[rng.permutation(c)[:c // 3]] = 12
    declared = rng.permutation(c)[:c // 2]
    names = np.array([f"class{i:03d}" for i in range(c)])
    splits = []
    for sizes in (per_class, np.maximum(per_class // 2, 2)):
        logits, labels = _split(setting, rng, sizes, effects, own, shares)
        groups = pd.DataFrame({"class": names[labels],
                               "frequency": np.where(np.isin(labels, declared), "minority",
                                                     "majority")})
        splits.append((logits.astype(np.float32), labels, groups))
    (logits, labels, groups), val = splits
    normal = np.array([normal_truth[o] for o in own])  # [C, 2] of normal samples
    truth = shares[:, :1] * 1.0 + (1 - shares.sum(axis=1, keepdims=True)) * normal
    pairs = (np.arange(len(labels)) // 5 if setting.world == "duplicates" else None)
    return World(logits, labels, groups, RankingData(*val), truth, hard, pairs)


def normal_truth(members: int, own: float, draws: int = 40, per_draw: int = 4000,
                 seed: int = 12345) -> np.ndarray:
    """(single, ensemble): expected accuracy of a normal sample with member noise ``own``
    over new samples and new members (Monte Carlo)."""
    rng = np.random.default_rng(seed)
    single, ensemble = [], []
    for _ in range(draws):
        labels = np.repeat(np.arange(20), per_draw // 20)
        effects = 0.15 * rng.standard_normal((members, 1)) + np.zeros((members, 20))
        logits = _normal_logits(rng, labels, effects, np.full(len(labels), own))
        probs = np.exp(logits - logits.max(axis=2, keepdims=True))
        probs /= probs.sum(axis=2, keepdims=True)
        single.append((probs.argmax(axis=2) == labels).mean())
        ensemble.append((probs.mean(axis=0).argmax(axis=1) == labels).mean())
    return np.array([np.mean(single), np.mean(ensemble)])


def _scales(single: float, ensemble: float) -> dict[str, float]:
    gain = ensemble - single
    return {"gain": gain, "rel_gain": gain / single if single else math.nan,
            "error_reduction": gain / (1 - single) if single < 1 else math.nan}


def _true_difference(block: GroupingResult, truth: np.ndarray,
                     names: list[str]) -> dict[str, float]:
    """The population bottom-vs-top difference of the sets the analysis chose, per scale
    (with cross-fitting, the mean of the two halves' sets, as measured)."""
    index = {name: i for i, name in enumerate(names)}
    sides = {}
    for key in ("bottom_k", "top_k"):
        chosen = getattr(block, key)
        halves = chosen.by_half or [chosen.groups]
        values = [truth[[index[g] for g in groups]].mean(axis=0) for groups in halves]
        sides[key] = _scales(*np.mean(values, axis=0))
    return {s: sides["bottom_k"][s] - sides["top_k"][s] for s in SCALES}


def _oracle(simulated: World, setting: Setting, seed: int, others: list[float]) -> bool:
    """Whether the oracle test claims the bottom gains more: k truly hard against k truly
    easy classes (drawn at random, not from the data), every test sample, Holm-adjusted
    with the report's other verdicts (p-values ``others``): it differs from the report only
    in knowing which groups to compare."""
    rng = np.random.default_rng([seed, 99])
    hard = rng.permutation(np.flatnonzero(simulated.hard))[:K_SETS]
    easy = rng.permutation(np.flatnonzero(~simulated.hard))[:K_SETS]
    keep = np.isin(simulated.labels, np.r_[hard, easy])
    groups = pd.DataFrame({"class": simulated.groups["class"][keep].to_numpy(),
                           "truth": np.where(np.isin(simulated.labels[keep], hard), "hard",
                                             "easy")})
    fairness = analyse(logits=simulated.logits[:, keep], labels=simulated.labels[keep],
                       groups=groups, minority={"truth": ["hard"]},
                       options=AnalysisOptions(crosscheck=False, scale=setting.scale)
                       ).fairness
    test = fairness.groupings["truth"].minority_vs_majority
    if test.p is None:
        return False
    return holm([test.p, *others])[0] < 0.05 and test.difference > 0


def one_world(args: tuple[Setting, int, dict, str]) -> dict:
    setting, seed, truths, ranking = args
    simulated = world(setting, seed, truths)
    options = AnalysisOptions(ranking=ranking, crosscheck=False, scale=setting.scale)
    fairness = analyse(logits=simulated.logits, labels=simulated.labels,
                       groups=simulated.groups, options=options,
                       minority={"frequency": ["minority"]}, pair_ids=simulated.pairs,
                       validation=simulated.validation).fairness
    summary = fairness.groupings["class"]
    versus = summary.bottom_vs_top
    minority = fairness.groupings["frequency"].minority_vs_majority
    true = _true_difference(summary, simulated.truth,
                            [f"class{i:03d}" for i in range(setting.classes)])
    row = {"bottom_claim": versus.verdict.claimed,
           "bottom_right": versus.verdict is Outcome.BOTTOM_MORE,
           "minority_claim": minority.verdict.claimed,
           "not_tested": versus.verdict is Outcome.NOT_TESTED,
           "single": fairness.overall.single_mean,
           "ensemble": fairness.overall.ensemble,
           "se": _se(versus.scales[setting.scale].ci),
           "estimate": versus.scales[setting.scale].difference,
           "true": true[setting.scale]}
    row["any_claim"] = row["bottom_claim"] or row["minority_claim"]
    for scale in SCALES:
        ci = versus.scales[scale].ci
        row[f"cover_{scale}"] = (ci is not None and math.isfinite(true[scale])
                                 and ci[0] <= true[scale] <= ci[1])
        row[f"defined_{scale}"] = ci is not None and math.isfinite(true[scale])
    row["minority_cover"] = minority.ci is not None and minority.ci[0] <= 0 <= minority.ci[1]
    if setting.effect:
        row["oracle"] = _oracle(simulated, setting, seed,
                                [p for p in (minority.p,) if p is not None])
    return row


def _se(ci: list | None) -> float:
    return math.nan if ci is None else (ci[1] - ci[0]) / (2 * 1.96)


def rate(hits: int, n: int) -> str:
    """``hits`` / ``n`` with its 95% Clopper-Pearson interval, in percent."""
    if n == 0:
        return "   n/a"
    low = stats.beta.ppf(0.025, hits, n - hits + 1) if hits else 0.0
    high = stats.beta.ppf(0.975, hits + 1, n - hits) if hits < n else 1.0
    return f"{100 * hits / n:5.1f}% [{100 * low:4.1f}, {100 * high:4.1f}]"


NULLS = ("shared", "member_class", "independent", "hetero_gain", "hetero_rel", "hetero_err",
         "clustered", "duplicates", "near_perfect", "rare")
EFFECTS = ("effect_0.25", "effect_0.5", "effect_0.75", "effect_1.0")
SETTINGS = {
    "nulls": [Setting(w, 20, 50, 10) for w in NULLS],
    "effects": [Setting(w, 20, 50, 10) for w in EFFECTS],
    "grid": [Setting(w, c, p, k) for w, (c, p), k in itertools.product(
        ("shared", "member_class", "hetero_gain"), ((20, 50), (100, 100)), (5, 20))],
    "quick": [Setting(w, 20, 50, 10) for w in ("hetero_gain", "clustered", "near_perfect",
                                                "effect_0.5")],
}


def _truths(setting: Setting) -> dict[float, np.ndarray]:
    owns = {_NORMAL[2], _NORMAL[2] * (1 + setting.effect)}
    return {own: normal_truth(setting.members, own) for own in owns}


def run(setting: Setting, worlds: int, seed: int, ranking: str, pool) -> pd.DataFrame:
    """One row per world of ``setting``: claims, coverage, and the oracle's claim."""
    truths = _truths(setting)
    seeds = [seed * 1_000_003 + i for i in range(worlds)]
    return pd.DataFrame(pool.map(one_world, [(setting, s, truths, ranking) for s in seeds],
                                 chunksize=4))


def describe(setting: Setting, rows: pd.DataFrame, seconds: float) -> str:
    """One line of the table."""
    n = len(rows)
    cover = " / ".join(
        f"{100 * rows[f'cover_{s}'][rows[f'defined_{s}']].mean():4.1f}%"
        if rows[f"defined_{s}"].any() else "  n/a" for s in SCALES)
    calibration = float(np.nanstd(rows.estimate - rows.true) / np.nanmean(rows.se))
    if setting.effect:
        claims = (f"power {rate(int(rows.bottom_right.sum()), n)} oracle "
                  f"{rate(int(rows.oracle.sum()), n)}")
    else:
        claims = (f"FP {rate(int(rows.bottom_claim.sum()), n)} minority "
                  f"{rate(int(rows.minority_claim.sum()), n)} report "
                  f"{rate(int(rows.any_claim.sum()), n)} not tested "
                  f"{100 * rows.not_tested.mean():4.1f}%")
    return (f"{setting!s:30s} {setting.scale:15s} {100 * rows.single.mean():4.1f}->"
            f"{100 * rows.ensemble.mean():4.1f}  {claims}  cover {cover}  "
            f"true sd / mean se {calibration:4.2f}  ({seconds:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="draws the worlds (world i of "
                                                            "seed s is seed s * 1000003 + i)")
    parser.add_argument("--settings", choices=sorted(SETTINGS), default="nulls")
    parser.add_argument("--kinds", help="comma-separated world kinds at 20 x 50, K = 10, "
                                        "instead of --settings (e.g. shared,effect_0.5)")
    parser.add_argument("--scale", choices=SCALES, default="gain",
                        help="the verdicts' scale in worlds null on every scale (shared, "
                             "member_class, independent, clustered, duplicates)")
    parser.add_argument("--ranking", choices=["crossfit", "validation"], default="crossfit",
                        help="which data choose the groups (crossfit: as for foreign "
                             "predictions, which have no validation split)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print(f"groups chosen by {args.ranking}; {args.worlds} worlds per setting, seed "
          f"{args.seed}; FP/power: Holm-adjusted verdicts at 5%; coverage of 95% intervals "
          "of bottom-vs-top on gain / rel_gain / error_reduction")
    with ProcessPoolExecutor(args.jobs) as pool:
        settings = ([Setting(kind, 20, 50, 10) for kind in args.kinds.split(",")]
                    if args.kinds else SETTINGS[args.settings])
        settings = [replace(setting, verdict_scale=args.scale) for setting in settings]
        for setting in settings:
            start = time.perf_counter()
            rows = run(setting, args.worlds, args.seed, args.ranking, pool)
            print(describe(setting, rows, time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
