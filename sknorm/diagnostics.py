"""Tables and plots of what :class:`sknorm.callbacks.ActivationStats` recorded.

pandas and matplotlib (the ``report`` extra) are imported when a function
needs them, so importing this module costs neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet

from ._optional import import_optional
from .callbacks import STAT_NAMES

__all__ = ["STAT_LABELS", "activation_stats_frame", "plot_activation_stats"]

#: Axis labels of the recorded statistics.
STAT_LABELS = {
    "pre_mean": "mean of Wx + b (pre-norm)",
    "pre_std": "std of Wx + b (pre-norm)",
    "post_mean": "mean of norm output",
    "post_std": "std of norm output",
}

_COLUMNS = ["epoch", "layer", *STAT_NAMES]


def _history(estimator):
    """The skorch history of a fitted estimator, pipeline (last step) or net."""
    if isinstance(estimator, Pipeline):
        estimator = estimator[-1]
    if isinstance(estimator, NeuralNet):
        return estimator.history
    check_is_fitted(estimator)
    history = getattr(estimator, "history_", None)
    if history is None:
        raise TypeError(
            f"{type(estimator).__name__} has no skorch history; expected a fitted "
            "sknorm estimator, a pipeline ending in one, or a skorch net."
        )
    return history


def activation_stats_frame(estimator, *, key: str = "act_stats"):
    """The activation statistics of a fit, one row per epoch and hidden layer.

    Parameters
    ----------
    estimator : estimator, Pipeline or skorch net
        A fitted :class:`~sknorm.NormMLPClassifier` or
        :class:`~sknorm.NormMLPRegressor` (or a pipeline ending in one, or a
        skorch net) trained with an
        :class:`~sknorm.callbacks.ActivationStats` callback.
    key : str, default="act_stats"
        The history key the callback recorded under.

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``epoch`` (skorch's count, from 1), ``layer`` (hidden-layer
        index, from 0), ``pre_mean``, ``pre_std``, ``post_mean``,
        ``post_std`` (defined in :func:`sknorm.callbacks.activation_stats`).
        Epochs without a record (e.g. of an earlier ``warm_start`` fit without
        the callback) are left out.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sknorm import NormMLPClassifier, make_norm_pipeline
    >>> from sknorm.callbacks import ActivationStats
    >>> from sknorm.diagnostics import activation_stats_frame
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NormMLPClassifier(
    ...     (8, 8), callbacks=[ActivationStats()], max_epochs=3, random_state=0
    ... )
    >>> frame = activation_stats_frame(make_norm_pipeline(clf).fit(X, y))
    >>> frame.shape
    (6, 6)
    >>> frame.columns.tolist()
    ['epoch', 'layer', 'pre_mean', 'pre_std', 'post_mean', 'post_std']
    """
    pd = import_optional("pandas", "report", "activation_stats_frame()")
    history = _history(estimator)
    rows = [
        {"epoch": row["epoch"], **stats}
        for row in history
        if key in row
        for stats in row[key]
    ]
    if not rows and len(history):
        raise ValueError(
            f"The history has no {key!r} records: fit with "
            "callbacks=[sknorm.callbacks.ActivationStats()]."
        )
    return pd.DataFrame(rows, columns=_COLUMNS)


def plot_activation_stats(
    estimators: Mapping,
    stat: str | Sequence[str] = "pre_std",
    *,
    layers: Sequence[int] | None = None,
    key: str = "act_stats",
    ax=None,
):
    """Draw hidden-layer statistics over the epochs of several fits side by side.

    One panel per hidden layer (columns) and statistic (rows); in each panel
    one line per fit, labelled by its key in ``estimators``.

    Parameters
    ----------
    estimators : mapping of str to estimator
        Fitted estimators, pipelines or skorch nets trained with an
        :class:`~sknorm.callbacks.ActivationStats` callback, e.g.
        ``{"none": est_none, "batch": est_batch}``.
    stat : str or sequence of str, default="pre_std"
        Among ``"pre_mean"``, ``"pre_std"``, ``"post_mean"``, ``"post_std"``.
    layers : sequence of int, default=None
        Hidden layers to draw; None draws every layer any fit recorded.
    key : str, default="act_stats"
        The history key the callbacks recorded under.
    ax : matplotlib Axes or array of Axes, default=None
        ``len(stat) * len(layers)`` axes to draw into, row by row; None makes a
        new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = import_optional("matplotlib.pyplot", "report", "plot_activation_stats()")
    stats = [stat] if isinstance(stat, str) else list(stat)
    unknown = [s for s in stats if s not in STAT_NAMES]
    if unknown or not stats:
        raise ValueError(f"stat must name some of {STAT_NAMES}, got {stat!r}.")
    if not isinstance(estimators, Mapping) or not estimators:
        raise TypeError("estimators must be a non-empty mapping of label to estimator.")
    frames = {
        label: activation_stats_frame(est, key=key) for label, est in estimators.items()
    }
    recorded = sorted({int(i) for f in frames.values() for i in f["layer"]})
    layers = recorded if layers is None else list(layers)
    if not layers:
        raise ValueError(f"layers names none; the fits recorded layers {recorded}.")
    missing = [layer for layer in layers if layer not in recorded]
    if missing:  # an empty panel would look like a layer with no activity
        raise ValueError(
            f"layers {missing} were not recorded; the fits recorded layers {recorded}."
        )
    if ax is None:
        fig, axes = plt.subplots(
            len(stats),
            len(layers),
            figsize=(4.2 * len(layers), 3.2 * len(stats)),
            squeeze=False,
            sharex=True,
            layout="constrained",
        )
    else:
        axes = np.asarray(ax, dtype=object).reshape(-1)
        if axes.size != len(stats) * len(layers):
            raise ValueError(
                f"ax holds {axes.size} axes; {len(stats)} stat(s) x {len(layers)} "
                "layer(s) need one each."
            )
        axes = axes.reshape(len(stats), len(layers))
        fig = axes[0, 0].figure
    for r, name in enumerate(stats):
        for c, layer in enumerate(layers):
            panel = axes[r, c]
            for label, frame in frames.items():
                rows = frame[frame["layer"] == layer]
                panel.plot(rows["epoch"], rows[name], marker=".", label=str(label))
            panel.set_title(f"hidden layer {layer}")
            panel.set_xlabel("epoch")
            panel.set_ylabel(STAT_LABELS[name])
            panel.grid(True, alpha=0.3)
    axes[0, -1].legend(title="fit", fontsize="small")
    return fig
