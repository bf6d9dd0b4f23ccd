"""The by-group accuracy table computed by fairlearn's ``MetricFrame``, to cross-check the
vectorised path against a maintained reference implementation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score

from .groups import Grouping


def metricframe_table(labels: np.ndarray, member_predictions: np.ndarray,
                      ensemble_predictions: np.ndarray, grouping: Grouping) -> pd.DataFrame:
    """Per group of ``grouping``: mean member accuracy and ensemble accuracy, each from
    ``MetricFrame(metrics=accuracy_score, ...).by_group``, in ``grouping.names`` order."""
    sensitive = pd.Series(np.asarray(grouping.names, dtype=object)[grouping.codes],
                          name=grouping.name)

    def by_group(predictions: np.ndarray) -> pd.Series:
        frame = MetricFrame(metrics=accuracy_score, y_true=labels, y_pred=predictions,
                            sensitive_features=sensitive)
        return frame.by_group.reindex(list(grouping.names))

    members = pd.concat([by_group(p) for p in member_predictions], axis=1)
    return pd.DataFrame({"grouping": grouping.name, "group": list(grouping.names),
                         "single_mean": members.mean(axis=1).to_numpy(),
                         "ensemble": by_group(ensemble_predictions).to_numpy()})
