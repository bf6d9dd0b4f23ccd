"""A grouping of the test samples, and sums per group vectorised over predictors and
bootstrap resamples, in bounded memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

_RESAMPLE_BYTES = 1 << 27  # working memory of one block of bootstrap resamples
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

    def resampled_sums(self, rows: list[np.ndarray], n_boot: int, seed: list[int]) -> np.ndarray:
        """Sums per group of each of ``rows`` (X arrays [N], or [x, N] stacks of them):
        float64 [X, G, 1 + B], column 0 over the test
        set itself, columns 1..B over stratified bootstrap resamples (every group draws as
        many samples as it has, with replacement, from its own samples).

        Resample b is drawn from its own generator ``default_rng([*seed, b])`` and resamples
        are summed a block at a time, so the result does not depend on the block size and
        memory stays near ``_RESAMPLE_BYTES`` whatever N and B are.
        """
        rows = [r for stack in rows for r in np.atleast_2d(stack)]
        n = len(self.codes)
        order = np.argsort(self.codes, kind="stable")
        ordered = np.empty((len(rows), n))  # filled row by row: no second copy of the rows
        for index, row in enumerate(rows):
            ordered[index] = row[order]
        bounds = np.r_[0, np.cumsum(self.counts)]
        first_of, size_of = np.repeat(bounds[:-1], self.counts), np.repeat(self.counts,
                                                                           self.counts)
        out = np.empty((len(rows), len(self), 1 + n_boot))
        out[:, :, 0] = np.add.reduceat(ordered, bounds[:-1], axis=1)
        step = max(1, _RESAMPLE_BYTES // (8 * max(1, n)))
        for first in range(0, n_boot, step):
            block = range(first, min(first + step, n_boot))
            weights = np.empty((len(block), n))
            for row, resample in enumerate(block):
                uniform = np.random.default_rng([*seed, resample]).random(n)
                draws = first_of + (uniform * size_of).astype(np.int64)
                weights[row] = np.bincount(draws, minlength=n)
            for group in range(len(self)):
                low, high = bounds[group], bounds[group + 1]
                out[:, group, 1 + block.start:1 + block.stop] = \
                    ordered[:, low:high] @ weights[:, low:high].T
        return out
