"""A grouping of the test samples and accuracy per group, vectorised over rows of predictions."""

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
    """

    name: str
    names: tuple[str, ...]
    codes: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_column(cls, name: str, values: pd.Series, labels: np.ndarray | None = None
                    ) -> Grouping:
        """Encode a column; with ``labels``, groups are ordered by their smallest label."""
        values = values.astype(str).to_numpy()
        names = np.unique(values)
        if labels is not None:
            first_label = pd.Series(labels).groupby(values).min()
            names = np.array(sorted(names, key=lambda g: (first_label[g], g)), dtype=object)
        index = {g: i for i, g in enumerate(names)}
        codes = np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))
        return cls(name, tuple(str(g) for g in names), codes,
                   np.bincount(codes, minlength=len(names)))

    def __len__(self) -> int:
        return len(self.names)

    def indicator(self) -> np.ndarray:
        """float64 [N, G], 1 where sample n belongs to group g."""
        out = np.zeros((len(self.codes), len(self)))
        out[np.arange(len(self.codes)), self.codes] = 1.0
        return out

    def correct_counts(self, correct: np.ndarray, chunk: int = 512) -> np.ndarray:
        """Correct predictions per group: int64 [X, G] for bool ``correct`` [X, N]."""
        correct = np.atleast_2d(correct)
        indicator = self.indicator()
        out = np.empty((len(correct), len(self)), dtype=np.int64)
        for start in range(0, len(correct), chunk):
            # a float64 matmul sums 0/1 exactly and is the fastest group-sum here
            out[start:start + chunk] = np.rint(correct[start:start + chunk] @ indicator)
        return out

    def accuracy(self, correct: np.ndarray) -> np.ndarray:
        """Accuracy per group: float64 [X, G] for bool ``correct`` [X, N]."""
        return self.correct_counts(correct) / self.counts
