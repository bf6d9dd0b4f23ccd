"""The by-group accuracy table computed by fairlearn's ``MetricFrame``, to cross-check the
vectorised path against a maintained reference implementation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from .groups import Grouping


def metricframe_table(labels: np.ndarray, member_predictions: np.ndarray,
                      ensemble_predictions: np.ndarray, grouping: Grouping) -> pd.DataFrame:
    """Per group of ``grouping``: mean member accuracy and ensemble accuracy, from one
    ``MetricFrame`` whose one metric is the accuracy of every member and of the ensemble.

    MetricFrame stacks each argument row by row in Python for every metric and group: with
    one metric per member (K + 1 of them) the cross-check took 60% of the analysis at 1e5
    samples. Its ``y_pred`` is therefore each sample's index into the predictions, and the
    metric returns all K + 1 accuracies of a group at once (means of 0/1, so the same floats).
    """
    # the group names as a categorical and the predictions in their smallest integer type:
    # object strings and int64 made the cross-check the analysis' peak memory at 1e6 samples
    sensitive = pd.Series(pd.Categorical.from_codes(grouping.codes, list(grouping.names)),
                          name=grouping.name)
    top = max(int(array.max(initial=0)) for array in (labels, member_predictions,
                                                       ensemble_predictions))
    predictions = np.empty((len(labels), len(member_predictions) + 1),
                           dtype=np.min_scalar_type(top))  # [N, K + 1]
    predictions[:, :-1], predictions[:, -1] = member_predictions.T, ensemble_predictions

    def accuracies(y_true: np.ndarray, index: np.ndarray) -> np.ndarray:
        return (predictions[np.asarray(index)] == np.asarray(y_true)[:, None]).mean(axis=0)

    frame = MetricFrame(metrics={"accuracy": accuracies}, y_true=labels,
                        y_pred=np.arange(len(labels)), sensitive_features=sensitive)
    # column-major, as the DataFrame of K + 1 metric columns was: the same order of sums
    by_group = np.asfortranarray(np.stack(
        frame.by_group["accuracy"].reindex(list(grouping.names))))  # [G, K + 1]
    return pd.DataFrame({"grouping": grouping.name, "group": list(grouping.names),
                         "single_mean": by_group[:, :-1].mean(axis=1),
                         "ensemble": by_group[:, -1]})
