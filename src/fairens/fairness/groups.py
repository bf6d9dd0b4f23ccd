"""A grouping of the test samples, and sums per group vectorised over predictors and resamples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Grouping:
    """One grouping (a column of test_groups.csv) encoded as integer codes.

    Attributes:
        name: the grouping's column name, e.g. ``class`` or ``class&color``.
        names: group names in table order (by class index for ``class``, else by name).
        codes: int64 [N], the group of each test sample as an index into ``names``.
        counts: int64 [G], samples per group.
        minority: indices of the groups declared minorities (empty when none are).
    """

    name: str
    names: tuple[str, ...]
    codes: np.ndarray
    counts: np.ndarray
    minority: tuple[int, ...] = ()

    @classmethod
    def from_column(cls, name: str, values: pd.Series, labels: np.ndarray | None = None,
                    minority: tuple[str, ...] | list[str] = ()) -> Grouping:
        """Encode a column; with ``labels``, groups are ordered by their smallest label."""
        values = values.astype(str).to_numpy()
        names = np.unique(values)
        if labels is not None:
            first_label = pd.Series(labels).groupby(values).min()
            names = np.array(sorted(names, key=lambda g: (first_label[g], g)), dtype=object)
        index = {g: i for i, g in enumerate(names)}
        codes = np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))
        return cls(name, tuple(str(g) for g in names), codes,
                   np.bincount(codes, minlength=len(names)),
                   tuple(index[g] for g in minority if g in index))

    def __len__(self) -> int:
        return len(self.names)

    @property
    def splits_minority(self) -> bool:
        """Whether the test set holds both declared-minority and other groups."""
        return bool(self.minority) and bool(self.majority)

    @property
    def majority(self) -> tuple[int, ...]:
        """Indices of the groups that are not declared minorities."""
        return tuple(i for i in range(len(self)) if i not in self.minority)

    def sample_groups(self) -> np.ndarray:
        """object [N]: the group name of each sample."""
        return np.asarray(self.names, dtype=object)[self.codes]

    def members(self, group: int) -> np.ndarray:
        """Sample indices of one group."""
        return np.flatnonzero(self.codes == group)

    def indicator(self) -> np.ndarray:
        """float64 [N, G], 1 where sample n belongs to group g."""
        out = np.zeros((len(self.codes), len(self)))
        out[np.arange(len(self.codes)), self.codes] = 1.0
        return out

    def sums(self, values: np.ndarray, chunk: int = 512) -> np.ndarray:
        """Sum of ``values`` [X, N] over each group: float64 [X, G] (0/1 sums are exact)."""
        values = np.atleast_2d(values)
        indicator = self.indicator()
        out = np.empty((len(values), len(self)))
        for start in range(0, len(values), chunk):
            out[start:start + chunk] = values[start:start + chunk] @ indicator
        return out

    def accuracy(self, correct: np.ndarray) -> np.ndarray:
        """Accuracy per group: float64 [X, G] for bool ``correct`` [X, N]."""
        return self.sums(correct) / self.counts

    def resampled_sums(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Weighted sums per group and resample: float64 [X, G, B] for ``values`` [X, N] and
        resample counts ``weights`` [B, N]."""
        values = np.atleast_2d(values)
        out = np.empty((len(values), len(self), len(weights)))
        for group in range(len(self)):
            index = self.members(group)
            out[:, group] = values[:, index] @ weights[:, index].T
        return out

    def resample_weights(self, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """Stratified bootstrap: float64 [B, N] counts; in each resample every group draws
        as many samples as it has, with replacement, from its own samples."""
        weights = np.zeros((n_boot, len(self.codes)))
        for group in range(len(self)):
            index = self.members(group)
            draws = rng.integers(0, len(index), size=(n_boot, len(index)))
            flat = (np.arange(n_boot)[:, None] * len(index) + draws).ravel()
            weights[:, index] = np.bincount(flat, minlength=n_boot * len(index)).reshape(
                n_boot, len(index))
        return weights
