"""Estimates that carry their own uncertainty: test sampling and training randomness.

Every statistic of the analysis is a smooth function (sums, differences, ratios) of means
of per-sample values over sets of test samples. An :class:`Estimate` carries

* its value;
* its influence on each test sample (the linearisation, or delta method): the change of
  the value when that sample's weight changes, so that the sampling variance is the
  variance of the summed influences under the test set's sampling design (samples in
  clusters, such as counterfactual pairs, and clusters in strata, the groups);
* the change of its value when each of the K members is left out (the delete-one jackknife
  over ensemble members), split into the parts due to two random halves of the test
  samples: the spread of these changes over members is the variance due to training
  randomness, which members happened to be trained.

Arithmetic on estimates follows the chain rule, so a difference of relative gains has the
right influence and jackknife changes without further code. A member's effect on one half
of the samples is its systematic effect (shared by both halves) plus its own noise on those
samples (independent between halves); the product of the two halves' deviations therefore
estimates the systematic part alone, while the test-sampling variance (members held fixed)
already holds the noise part: the two variances add without counting the member-by-sample
noise twice. The interval is a Student-t interval whose degrees of freedom come from the
Welch-Satterthwaite formula, so that a five-member ensemble is not treated as if its member
spread were known.
Accuracies use the Wilson score interval at the effective sample size, so that a group at
0% or 100% gets an interval of positive width that stays inside [0, 1].
See docs/statistics.md for the definitions and benchmarks/verdict_calibration.py for the
simulations that check the error rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
PRETEST_LEVEL = 0.05  # a member variance counts once the members' effects show it at this level


@dataclass(frozen=True)
class Design:
    """How the test samples were drawn: each sample belongs to a cluster (its counterfactual
    pair, else itself) and each cluster to a stratum whose number of clusters is fixed (the
    groups of the grouping being analysed, or the combination of groups a pair spans)."""

    cluster: np.ndarray  # int64 [N]
    stratum: np.ndarray  # int64 [clusters]
    stratum_size: np.ndarray  # int64 [strata], clusters per stratum

    @classmethod
    def build(cls, strata: np.ndarray, pair_ids: np.ndarray | None = None) -> Design:
        """From each sample's stratum code int [N] (clusters spanning several strata form
        a stratum of their own combination) and optional cluster ids int [N]."""
        n = len(strata)
        if pair_ids is None:
            cluster = np.arange(n, dtype=np.int64)
            stratum = np.asarray(strata, dtype=np.int64)
        else:
            _, cluster = np.unique(pair_ids, return_inverse=True)
            n_clusters = int(cluster.max()) + 1
            low = np.full(n_clusters, np.iinfo(np.int64).max)
            high = np.full(n_clusters, -1)
            np.minimum.at(low, cluster, strata)
            np.maximum.at(high, cluster, strata)
            _, stratum = np.unique(np.stack([low, high]), axis=1, return_inverse=True)
        stratum = np.asarray(stratum, dtype=np.int64).ravel()
        return cls(np.asarray(cluster, dtype=np.int64), stratum, np.bincount(stratum))

    def refined(self, halves: np.ndarray) -> Design:
        """The design whose strata are split by ``halves`` int [clusters] (0 or 1)."""
        _, stratum = np.unique(self.stratum * 2 + halves, return_inverse=True)
        return Design(self.cluster, stratum, np.bincount(stratum))


def split_parts(design: Design, seed: list[int], parts: int = 2) -> np.ndarray:
    """int [clusters]: 0 .. parts - 1, each stratum's clusters (shuffled, seeded) cut into
    ``parts`` parts as equal as can be."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(design.stratum), dtype=np.int64)
    order = np.lexsort((rng.random(len(design.stratum)), design.stratum))
    starts = np.r_[0, np.cumsum(design.stratum_size)]
    for stratum, start in enumerate(starts[:-1]):
        size = design.stratum_size[stratum]
        out[order[start:start + size]] = np.arange(size) * parts // size
    return out


@dataclass(frozen=True)
class Estimate:
    """A statistic with its influence on test samples and its member-deletion effects.

    Attributes:
        value: the estimate (NaN where undefined, e.g. a ratio over zero).
        samples: int64 [P], sample indices of the influence terms (indices may repeat).
        influence: float64 [P], the terms: value(weights) ~ value + sum(terms * dweights).
        delta: float64 [R, K], the change of the value when member k is left out, from the
            samples of each of R random parts (to first order; empty [R, 0] when K < 2).
        coef: float64 [P, 2], each term's weight on a mean of single-member correctness
            and on a mean of ensemble correctness (1 / n for a mean over n samples): what
            one more sample in its stratum would move; it sizes the variance floor of the
            pseudo-observations (see :func:`uncertainty`).
    """

    value: float
    samples: np.ndarray
    influence: np.ndarray
    delta: np.ndarray
    coef: np.ndarray

    @classmethod
    def mean(cls, values: np.ndarray, samples: np.ndarray, delta: np.ndarray,
             kind: int) -> Estimate:
        """The mean of per-sample ``values`` [N] over ``samples``, with its member effects;
        ``kind``: 0 for single-member correctness (a member's, or their mean), 1 for an
        ensemble's."""
        part = values[samples]
        value = float(part.mean())
        coef = np.zeros((len(samples), 2))
        coef[:, kind] = 1.0 / len(samples)
        return cls(value, samples, (part - value) / len(samples), np.asarray(delta, float),
                   coef)

    def _combine(self, other: Estimate | float, value: float, left: float,
                 right: float) -> Estimate:
        if not isinstance(other, Estimate):
            return Estimate(value, self.samples, left * self.influence, left * self.delta,
                            left * self.coef)
        return Estimate(value, np.concatenate([self.samples, other.samples]),
                        np.concatenate([left * self.influence, right * other.influence]),
                        left * self.delta + right * other.delta,
                        np.concatenate([left * self.coef, right * other.coef]))

    def __add__(self, other: Estimate | float) -> Estimate:
        return self._combine(other, self.value + _value(other), 1.0, 1.0)

    def __sub__(self, other: Estimate | float) -> Estimate:
        return self._combine(other, self.value - _value(other), 1.0, -1.0)

    def __rsub__(self, other: float) -> Estimate:
        return Estimate(other - self.value, self.samples, -self.influence, -self.delta,
                        -self.coef)

    def __mul__(self, other: float) -> Estimate:
        return self._combine(other, self.value * other, other, 0.0)

    def __truediv__(self, other: Estimate | float) -> Estimate:
        if not isinstance(other, Estimate):
            return self * (1.0 / other)
        if other.value == 0 or not math.isfinite(other.value):
            return Estimate(math.nan, self.samples, self.influence * math.nan,
                            self.delta * math.nan, self.coef * math.nan)
        ratio = self.value / other.value
        return self._combine(other, ratio, 1.0 / other.value, -ratio / other.value)

    @property
    def defined(self) -> bool:
        return math.isfinite(self.value)

    def distinct_samples(self) -> np.ndarray:
        """The sorted distinct sample indices behind the estimate (a bincount: linear in N,
        where np.unique's hash took 7% of the analysis at 3e5 samples)."""
        return np.flatnonzero(np.bincount(self.samples)) if len(self.samples) else \
            np.empty(0, dtype=np.intp)


def _value(x: Estimate | float) -> float:
    return x.value if isinstance(x, Estimate) else float(x)


def average(estimates: list[Estimate]) -> Estimate:
    """The unweighted mean of estimates (of groups, or of cross-fitting folds)."""
    total = estimates[0]
    for estimate in estimates[1:]:
        total = total + estimate
    return total * (1.0 / len(estimates))


@dataclass(frozen=True)
class Uncertainty:
    """The variance of an estimate and its parts, with the t degrees of freedom."""

    sampling: float
    members: float
    df: float

    @property
    def total(self) -> float:
        return self.sampling + self.members

    @property
    def se(self) -> float:
        return math.sqrt(self.total)


def uncertainty(estimate: Estimate, design: Design) -> Uncertainty:
    """Sampling variance plus member variance, with Welch-Satterthwaite degrees of freedom.

    The sampling variance is the stratified, clustered linearisation variance of the
    influences, each stratum's at least that of two pseudo-observations (see
    :func:`_pseudo_variance`). The member variance is :func:`member_variance`'s.
    """
    sampling, df_sampling = _sampling_variance(estimate, design)
    members, df_members = member_variance(estimate.delta)
    return combine_variances((sampling, df_sampling), [(members, df_members)])


def member_variance(delta: np.ndarray, n_members: int | None = None,
                    centred: bool = False) -> tuple[float, float]:
    """The variance due to training randomness, from the member effects ``delta`` [R, K']
    (member k's effect measured on each of R random parts of the test samples) of an
    ensemble of ``n_members`` members (default K'; ``centred``: already centred on the
    ensemble's mean effect), and its degrees of freedom. NaN where an effect is undefined.

    A members x samples variance-components estimate: a member's effect is systematic (it
    is better at cats, on every sample) plus noise on the samples where it happens to be
    pivotal, which the sampling variance already holds. The products of a member's effects
    on *different* parts keep the systematic part only: per member,
    c_k = sum_{r != s} (d_rk - mean d_r)(d_sk - mean d_s), and the jackknife variance is
    (K - 1) / K x R / (R - 1) x sum_k c_k, unbiased. With ten members it is noisy: where
    there is no systematic part it still averaged 22-43% of the sampling variance once
    clipped at zero. So it counts only where the members' c_k show a systematic part, a
    one-sided t-test of mean c_k > 0 at ``PRETEST_LEVEL`` on K - 1 degrees of freedom
    (Bancroft's test-then-pool); it then enters with K - 1 degrees of freedom.
    benchmarks/verdict_calibration.py measures what this does to coverage and power."""
    parts, k = delta.shape
    n_members = k if n_members is None else n_members
    if k == 0 or n_members < 2:
        return 0.0, math.inf
    centred = delta if centred else delta - delta.mean(axis=1, keepdims=True)
    if not np.isfinite(centred).all():
        return math.nan, n_members - 1
    each = centred.sum(axis=0) ** 2 - (centred ** 2).sum(axis=0)  # per member, parts r != s
    spread = each.std(ddof=1) if k > 1 else 0.0
    critical = stats.t.ppf(1 - PRETEST_LEVEL, k - 1) if k > 1 else math.inf
    if not each.mean() > critical * spread / math.sqrt(k):
        return 0.0, math.inf
    members = float((n_members - 1) / n_members * parts / (parts - 1) * each.sum())
    return max(members, 0.0), n_members - 1


def combine_variances(sampling: tuple[float, float],
                      members: list[tuple[float, float]]) -> Uncertainty:
    """The sum of independent variances, each (variance, degrees of freedom): the
    test-sampling part and the training-randomness parts, with Welch-Satterthwaite degrees
    of freedom."""
    member_total = sum(v for v, _ in members)
    total = sampling[0] + member_total
    parts = [sampling, *members]
    denominator = sum(v * v / d for v, d in parts if v > 0 and math.isfinite(d))
    df = total * total / denominator if denominator > 0 else math.inf
    return Uncertainty(sampling[0], member_total, df)


def _sampling_variance(estimate: Estimate, design: Design) -> tuple[float, float]:
    if len(estimate.samples) == 0:
        return 0.0, math.inf
    # bincounts over the cluster and stratum ids rather than np.unique's sort: the same
    # sums in the same order, linear in the samples (aggregate_speed.py --memory)
    cluster = design.cluster[estimate.samples]
    clusters = np.flatnonzero(np.bincount(cluster))
    totals = np.bincount(cluster, weights=estimate.influence)[clusters]
    strata = design.stratum[clusters]
    used = np.flatnonzero(np.bincount(strata))
    n_h = design.stratum_size[used].astype(float)
    sum_z = np.bincount(strata, weights=totals)[used]
    sum_z2 = np.bincount(strata, weights=totals * totals)[used]
    with np.errstate(divide="ignore", invalid="ignore"):
        within = np.maximum(np.where(n_h > 1, n_h / (n_h - 1) * (sum_z2 - sum_z * sum_z / n_h),
                                     0.0), 0.0)
    within = np.maximum(within, _pseudo_variance(estimate, design, used))
    df = float((n_h - 1).sum())
    variance = float(within.sum())
    return variance, df if df > 0 else math.inf


def _pseudo_variance(estimate: Estimate, design: Design, used: np.ndarray) -> np.ndarray:
    """float64 [strata ``used``]: each stratum's variance floor, the variance its part of
    the estimate would have from two pseudo-observations alone (Agresti and Min's 0.5 in
    each cell of the single-right x ensemble-right table, 2005): 0.5 (a_s^2 + a_e^2), where
    a_s and a_e are the estimate's weights per test sample of that stratum on single and on
    ensemble correctness. A group at 0% or 100% thus keeps the uncertainty of what its next
    samples could show, instead of a zero variance and a p-value of 0."""
    stratum_of = design.stratum[design.cluster]  # per sample
    samples = np.bincount(stratum_of, minlength=len(design.stratum_size))[used]
    index = np.searchsorted(used, stratum_of[estimate.samples])
    weight = np.stack([np.bincount(index, weights=estimate.coef[:, j], minlength=len(used))
                       for j in range(2)], axis=1) / samples[:, None]
    return 0.5 * (weight ** 2).sum(axis=1)


def _quantile(df: float, level: float = LEVEL) -> float:
    upper = 1 - (1 - level) / 2
    return float(stats.norm.ppf(upper) if not math.isfinite(df) else stats.t.ppf(upper, df))


def t_interval(estimate: Estimate, spread: Uncertainty,
               level: float = LEVEL) -> list[float] | None:
    """[low, high]: value -/+ t quantile x standard error, at confidence ``level``."""
    if not estimate.defined or not math.isfinite(spread.total):
        return None
    half = _quantile(spread.df, level) * spread.se
    return [estimate.value - half, estimate.value + half]


def wilson_interval(estimate: Estimate, spread: Uncertainty,
                    level: float = LEVEL) -> list[float] | None:
    """[low, high] for an accuracy: the Wilson score interval at the effective sample size
    p(1 - p) / variance (where p is 0 or 1 or the variance is 0: the number of distinct
    samples behind it), with the t quantile in place of z, at confidence ``level``."""
    p = estimate.value
    if not estimate.defined or not math.isfinite(spread.total):
        return None
    n_eff = (p * (1 - p) / spread.total if 0 < p < 1 and spread.total > 0
             else float(len(estimate.distinct_samples())))
    z = _quantile(spread.df, level)
    denominator = 1 + z * z / n_eff
    centre = (p + z * z / (2 * n_eff)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff))
    return [max(0.0, centre - half), min(1.0, centre + half)]


def p_value(estimate: Estimate, spread: Uncertainty) -> float | None:
    """Two-sided p-value of ``value = 0`` from the t statistic."""
    if not estimate.defined or not math.isfinite(spread.total):
        return None
    if spread.total == 0:
        return 1.0 if estimate.value == 0 else 0.0
    statistic = abs(estimate.value) / spread.se
    if not math.isfinite(spread.df):
        return float(2 * stats.norm.sf(statistic))
    return float(2 * stats.t.sf(statistic, spread.df))


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (family-wise error rate) of the defined p-values."""
    defined = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(defined)):
        running = max(running, min(1.0, (len(defined) - rank) * p))
        adjusted[i] = running
    return adjusted
