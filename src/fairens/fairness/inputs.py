"""What the analysis reads besides the test predictions, as plain typed data (no analysis
code, so that the run directory's reader can build it without loading the analysis)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RankingData:
    """Predictions that rank the groups and are never measured: the members' validation
    predictions, logits float [K, N_val, C], labels int [N_val] and the same grouping
    columns as the test groups."""

    logits: np.ndarray
    labels: np.ndarray
    groups: pd.DataFrame
