"""The analysis result as frozen dataclasses: what ``fairness.json`` holds, one type per
block, read by attribute. :meth:`FairnessResult.to_json` writes it and
:meth:`FairnessResult.from_json` checks and reads it back (docs/run-directory.md documents
the schema; docs/statistics.md defines every number).

Intervals are ``[low, high]`` lists (JSON's form); a ``ci`` of None means no intervals were
computed; a field marked :data:`OPTIONAL` is left out of the JSON when it is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from ..errors import FairensError
from ..typed_json import OPTIONAL, SchemaMismatch, decode, encode

SCHEMA_VERSION = 3  # 2: metric names before SubpopBench's (docs/run-directory.md); 1: no field
SUMMARY_KEYS = ("bottom_k", "top_k", "worst_group", "minority", "bottom_vs_top",
                "minority_vs_majority")

Interval = list[float]


class Outcome(str, Enum):
    """What a verdict claims: no difference, not tested (the scale needs more data), or
    which side ensembling helps more (docs/statistics.md, "Verdicts")."""

    NO_DIFFERENCE = "no_difference"
    NOT_TESTED = "not_tested"
    BOTTOM_MORE = "bottom_more"
    TOP_MORE = "top_more"
    MINORITY_MORE = "minority_more"
    MAJORITY_MORE = "majority_more"
    LARGER = "larger"  # a run's gain against the reference's (compare)
    SMALLER = "smaller"

    @property
    def claimed(self) -> bool:
        return self not in (Outcome.NO_DIFFERENCE, Outcome.NOT_TESTED)


class _Scales:
    """Attribute access to a gain block's point estimates and intervals by name."""

    def on(self, key: str) -> float | None:
        """The point estimate ``key``: single_mean, ensemble, gain, rel_gain, ..."""
        return getattr(self, key)

    def interval(self, key: str) -> Interval | None:
        """The 95% interval of ``key``, None when intervals were not computed."""
        ci = self.ci  # type: ignore[attr-defined]
        return None if ci is None else getattr(ci, key)


@dataclass(frozen=True)
class GainIntervals:
    single_mean: Interval | None
    ensemble: Interval | None
    gain: Interval | None
    rel_gain: Interval | None
    error_reduction: Interval | None


@dataclass(frozen=True)
class Gain(_Scales):
    """Mean single-member and ensemble accuracy, the gain on each scale, and intervals."""

    single_mean: float | None
    ensemble: float | None
    gain: float | None
    rel_gain: float | None
    error_reduction: float | None
    ci: GainIntervals | None

    def parts(self) -> dict[str, Any]:
        """The fields, to build a block that extends this one (a group, a set, a side)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SingleAndEnsemble:
    single_mean: float
    ensemble: float


@dataclass(frozen=True)
class GroupEstimate(_Scales):
    """One group: its size, whether it may be chosen, the gain block, the members' spread,
    their disagreement (None with one member) and the expected calibration error."""

    n: int
    eligible: bool
    single_mean: float | None
    ensemble: float | None
    gain: float | None
    rel_gain: float | None
    error_reduction: float | None
    ci: GainIntervals | None
    single_std: float
    disagreement: float | None
    ece: SingleAndEnsemble


@dataclass(frozen=True)
class RankingSummary:
    eligible: int
    halves: bool


@dataclass(frozen=True)
class SetEstimate(_Scales):
    """The bottom-k or top-k set: chosen groups (per cross-fitting half in ``by_half``)."""

    k: int
    groups: list[str]
    single_mean: float | None
    ensemble: float | None
    gain: float | None
    rel_gain: float | None
    error_reduction: float | None
    ci: GainIntervals | None
    by_half: list[list[str]] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class ScaleTest:
    """A difference of two gains on one scale, its interval and raw p-value; ``refused``
    says why no verdict is made on this scale."""

    difference: float | None
    ci: Interval | None
    p: float | None
    refused: str | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class Verdict:
    """The difference of two gains, decided on ``scale`` with a Holm-adjusted p-value;
    ``note`` marks a comparison that repeats another (not counted twice)."""

    scale: str
    difference: float | None
    ci: Interval | None
    p: float | None
    refused: str | None = field(default=None, metadata=OPTIONAL)
    p_adjusted: float | None = None
    verdict: Outcome = Outcome.NO_DIFFERENCE
    scales: dict[str, ScaleTest] = field(default_factory=dict)
    note: str | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class AccuracyIntervals:
    single_mean: Interval | None
    ensemble: Interval | None


@dataclass(frozen=True)
class WorstGroup:
    """The worst group, chosen on ranking data and measured where it was not chosen."""

    group: str
    single_mean: float | None
    ensemble: float | None
    ci: AccuracyIntervals | None
    by_half: list[str] | None = field(default=None, metadata=OPTIONAL)
    measured_on: str | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class CurveIntervals:
    overall: list[Interval | None]
    bottom_k: list[Interval | None] | None = field(default=None, metadata=OPTIONAL)
    top_k: list[Interval | None] | None = field(default=None, metadata=OPTIONAL)
    worst_group: list[Interval | None] | None = None
    minority: list[Interval | None] | None = field(default=None, metadata=OPTIONAL)
    majority: list[Interval | None] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class Curve:
    """Accuracy versus ensemble size ``m`` (the mean over ``subsets`` member subsets)."""

    m: list[int]
    subsets: list[int]
    overall: list[float | None]
    bottom_k: list[float | None] | None = field(default=None, metadata=OPTIONAL)
    top_k: list[float | None] | None = field(default=None, metadata=OPTIONAL)
    worst_group: list[float | None] | None = None
    minority: list[float | None] | None = field(default=None, metadata=OPTIONAL)
    majority: list[float | None] | None = field(default=None, metadata=OPTIONAL)
    ci: CurveIntervals | None = None

    LINES = ("overall", "bottom_k", "top_k", "worst_group", "minority", "majority")

    def lines(self) -> list[str]:
        """The names of the lines this curve has."""
        return [name for name in self.LINES if getattr(self, name) is not None]

    def line(self, name: str) -> list[float | None]:
        return getattr(self, name)

    def band(self, name: str) -> list[Interval | None] | None:
        """The line's 95% intervals, None when intervals were not computed."""
        return None if self.ci is None else getattr(self.ci, name)


@dataclass(frozen=True)
class SideEstimate(_Scales):
    n: int
    single_mean: float | None
    ensemble: float | None
    gain: float | None
    rel_gain: float | None
    error_reduction: float | None
    ci: GainIntervals | None


@dataclass(frozen=True)
class GapIntervals:
    single_mean: Interval | None
    ensemble: Interval | None
    change: Interval | None


@dataclass(frozen=True)
class MinorityGap:
    """Majority minus minority accuracy, of the mean member and of the ensemble."""

    single_mean: float | None
    ensemble: float | None
    change: float | None
    ci: GapIntervals | None


@dataclass(frozen=True)
class Minority:
    """The declared minority groups against the majority, over all their samples."""

    groups: list[str]
    minority: SideEstimate
    majority: SideEstimate
    gap: MinorityGap


@dataclass(frozen=True)
class Spread:
    mean: float
    std: float


@dataclass(frozen=True)
class WorstSide:
    group: str
    accuracy: float | None
    ci: Interval | None


@dataclass(frozen=True)
class SubpopWorst:
    """Worst-group accuracy as SubpopBench reports it: each member's own worst group
    (``single_mean`` and ``single_std`` over members) against the ensemble's worst group
    (with a simultaneous interval); ``average_member`` is the worst group of the mean
    member's group accuracies, a different quantity."""

    level_per_group: float
    single_mean: float
    single_std: float
    ensemble: WorstSide
    gain: float | None
    average_member: WorstSide


@dataclass(frozen=True)
class OddsSide:
    gap: float
    tpr_gap: float
    fpr_gap: float
    ci: Interval | None


@dataclass(frozen=True)
class OddsClass:
    single_mean: OddsSide
    ensemble: OddsSide


@dataclass(frozen=True)
class OddsGap:
    gap: float
    ci: Interval | None


@dataclass(frozen=True)
class OddsLargest:
    single_mean: OddsGap
    ensemble: OddsGap


@dataclass(frozen=True)
class EqualizedOdds:
    classes: dict[str, OddsClass]
    largest: OddsLargest
    level_per_rate: float
    members: Spread


@dataclass(frozen=True)
class Subpop:
    """SubpopBench-style metrics over the groups with enough test samples."""

    groups: list[str]
    group_mean_accuracy: Gain
    worst_group: SubpopWorst
    equalized_odds: EqualizedOdds | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class MemberSpread:
    single_mean: float
    single_std: float
    ensemble: float


@dataclass(frozen=True)
class GroupingResult:
    """Everything measured for one grouping (docs/statistics.md)."""

    groups: dict[str, GroupEstimate]
    ranking: RankingSummary
    bottom_k: SetEstimate | None = field(default=None, metadata=OPTIONAL)
    top_k: SetEstimate | None = field(default=None, metadata=OPTIONAL)
    bottom_vs_top: Verdict | None = field(default=None, metadata=OPTIONAL)
    worst_group: WorstGroup | None = field(default=None, metadata=OPTIONAL)
    curve: Curve | None = None
    minority: Minority | None = field(default=None, metadata=OPTIONAL)
    minority_vs_majority: Verdict | None = field(default=None, metadata=OPTIONAL)
    subpop: Subpop | None = field(default=None, metadata=OPTIONAL)
    parity: dict[str, MemberSpread] | None = field(default=None, metadata=OPTIONAL)

    def minority_groups(self) -> list[str]:
        return [] if self.minority is None else self.minority.groups

    def verdicts(self) -> list[tuple[str, Verdict]]:
        """(name, verdict) of each verdict this grouping has."""
        return [(name, verdict) for name, verdict in (
            ("bottom_vs_top", self.bottom_vs_top),
            ("minority_vs_majority", self.minority_vs_majority)) if verdict is not None]


@dataclass(frozen=True)
class RankingSettings:
    method: str
    requested: str
    chosen_by: str | None = field(default=None, metadata=OPTIONAL)
    min_group_size: int = 10
    split_seed: int | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class IntervalSettings:
    method: str
    level: float
    member_variance: bool


@dataclass(frozen=True)
class VerdictSettings:
    scale: str
    correction: str
    family: int
    level: float


@dataclass(frozen=True)
class Overall(_Scales):
    """Accuracy over every test sample as a gain block with ``single_std``;
    ``class_balanced`` is the mean recall over the classes (sklearn's
    ``balanced_accuracy_score``), ``ece`` the expected calibration error over every test
    sample (docs/statistics.md)."""

    single_mean: float | None
    ensemble: float | None
    gain: float | None
    rel_gain: float | None
    error_reduction: float | None
    ci: GainIntervals | None
    single_std: float
    class_balanced: Gain
    ece: SingleAndEnsemble


@dataclass(frozen=True)
class PairFlips:
    pairs: int
    single_mean: float
    ensemble: float


@dataclass(frozen=True)
class Counterfactual:
    pairs: int
    overall: MemberSpread
    per_class: dict[str, PairFlips]


@dataclass(frozen=True)
class Crosscheck:
    metricframe_max_abs_diff: float


@dataclass(frozen=True)
class FairnessResult:
    """The content of ``fairness.json``: the settings of the analysis, overall accuracy,
    and per grouping its :class:`GroupingResult`."""

    schema_version: int
    members: int
    combine: str
    k: int
    max_subsets: int
    seed: int
    n_samples: int
    n_classes: int
    ranking: RankingSettings
    intervals: IntervalSettings | None
    verdicts: VerdictSettings
    overall: Overall
    groupings: dict[str, GroupingResult]
    counterfactual: Counterfactual | None = field(default=None, metadata=OPTIONAL)
    crosscheck: Crosscheck | None = field(default=None, metadata=OPTIONAL)
    member_ids: list[int] | None = field(default=None, metadata=OPTIONAL)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (what ``fairness.json`` holds)."""
        return encode(self)

    def summary_json(self) -> dict[str, Any]:
        """The headline as JSON-ready data (``fairens report --json``): the ranking and
        verdict settings, overall accuracy, and per grouping its chosen groups and verdicts
        (fairness.json less the curves and per-group tables)."""
        return {"members": self.members, "k": self.k, "ranking": encode(self.ranking),
                "verdicts": encode(self.verdicts), "overall": encode(self.overall),
                "groupings": {name: {key: encode(getattr(summary, key)) for key in SUMMARY_KEYS
                                     if getattr(summary, key) is not None}
                              for name, summary in self.groupings.items()}}

    @classmethod
    def from_json(cls, data: Any, where: str = "fairness.json") -> FairnessResult:
        """Check and read ``data`` (a parsed ``fairness.json``); raises FairensError with one
        line naming ``where`` and the first thing that does not fit."""
        version = data.get("schema_version") if isinstance(data, dict) else None
        if version != SCHEMA_VERSION:
            found = "no schema_version (written by an earlier fairens)" if version is None \
                else f"schema_version {version!r}"
            raise FairensError(f"{where}: {found}; this fairens reads schema_version "
                               f"{SCHEMA_VERSION}: recompute it with `fairens report RUN_DIR`")
        try:
            return decode(cls, data)
        except SchemaMismatch as error:
            raise FairensError(f"{where}: {error} (schema_version {SCHEMA_VERSION}, "
                               "docs/run-directory.md)") from None


@dataclass(frozen=True)
class PairedDifference:
    """One run's gain minus the reference run's on the same groups and test samples
    (``fairens compare``), with a paired interval, a Holm-adjusted p-value and the
    interval that excludes zero exactly when the adjusted p-value is below 0.05
    (``ci_adjusted``: at confidence 1 - 0.05 p / p_adjusted)."""

    gain: float | None
    reference_gain: float | None
    difference: float | None
    ci: Interval | None
    p: float | None
    p_adjusted: float | None
    verdict: Outcome
    refused: str | None = field(default=None, metadata=OPTIONAL)
    ci_adjusted: Interval | None = None


@dataclass(frozen=True)
class PairedComparison:
    """Every run against the reference run (None in the reference's place): per statistic
    (``bottom``, ``top``, ``minority``) its :class:`PairedDifference`."""

    reference: int
    scale: str
    grouping: str
    family: int
    comparisons: list[dict[str, PairedDifference] | None]

    def to_json(self) -> dict[str, Any]:
        return encode(self)
