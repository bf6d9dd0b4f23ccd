"""The by-group accuracy table computed by fairlearn's ``MetricFrame``, to cross-check the
vectorised path against a maintained reference implementation."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from .groups import Grouping


def _column_accuracy(column: int, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # a plain accuracy of one prediction column: sklearn's accuracy_score validates its
    # input on each of the K x G calls and made the cross-check 3x slower
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)[:, column]))


def metricframe_table(labels: np.ndarray, member_predictions: np.ndarray,
                      ensemble_predictions: np.ndarray, grouping: Grouping) -> pd.DataFrame:
    """Per group of ``grouping``: mean member accuracy and ensemble accuracy, from one
    ``MetricFrame`` whose metrics are the accuracy of each member and of the ensemble."""
    sensitive = pd.Series(grouping.sample_groups(), name=grouping.name)
    predictions = np.vstack([member_predictions, ensemble_predictions[None]]).T  # [N, K + 1]
    metrics = {f"p{column}": functools.partial(_column_accuracy, column)
               for column in range(predictions.shape[1])}
    frame = MetricFrame(metrics=metrics, y_true=labels, y_pred=predictions,
                        sensitive_features=sensitive)
    by_group = frame.by_group.reindex(list(grouping.names)).to_numpy()  # [G, K + 1]
    return pd.DataFrame({"grouping": grouping.name, "group": list(grouping.names),
                         "single_mean": by_group[:, :-1].mean(axis=1),
                         "ensemble": by_group[:, -1]})
