"""A grouping of the test samples, and sums per group vectorised over predictors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

_DENSE_INDICATOR = 1 << 23  # entries of a dense sample-by-group indicator (64 MB)


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
        values = values.astype(str).to_numpy(dtype=object)
        first_codes, uniques = pd.factorize(values)
        names = sorted(uniques)
        if labels is not None:
            first_label = pd.Series(labels).groupby(first_codes).min().to_numpy()
            by_code = dict(zip(uniques, first_label, strict=True))
            names = sorted(names, key=lambda g: (by_code[g], g))
        index = {g: i for i, g in enumerate(names)}
        remap = np.array([index[g] for g in uniques], dtype=np.int64)
        codes = remap[first_codes]
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

    def samples_of(self, group: int) -> np.ndarray:
        """Sample indices of one group."""
        return np.flatnonzero(self.codes == group)

    def sums(self, values: np.ndarray, samples: slice = slice(None)) -> np.ndarray:
        """Sum over each group of ``values`` [X, n] (the samples ``samples``, all by default):
        float64 [X, G]; sums of 0/1 values are exact."""
        values = np.atleast_2d(values)
        codes = self.codes[samples]
        if len(codes) * len(self) <= _DENSE_INDICATOR:  # BLAS: 2x faster than sparse here
            indicator = np.zeros((len(codes), len(self)))
            indicator[np.arange(len(codes)), codes] = 1.0
            return values @ indicator
        indicator = sparse.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)),
                                      shape=(len(codes), len(self)))
        return np.asarray(indicator.T @ values.T.astype(np.float64)).T

    def accuracy(self, correct: np.ndarray) -> np.ndarray:
        """Accuracy per group: float64 [X, G] for bool ``correct`` [X, N]."""
        return self.sums(correct) / self.counts
