"""Pipeline and grid helpers: input scaling and hidden norm swept together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from ._norms import NORMS
from ._scalers import SCALINGS, InputScaler

__all__ = [
    "DEFAULT_NORMS",
    "DEFAULT_SCALINGS",
    "NET_STEP",
    "SCALE_STEP",
    "make_norm_pipeline",
    "normalization_grid",
]

SCALE_STEP = "scale"
NET_STEP = "net"
#: What a sweep tries when not told: ``normalization_grid``'s, ``sweep``'s and
#: the ``sknorm sweep`` command's defaults.
DEFAULT_SCALINGS: tuple[str, ...] = ("none", "minmax", "standard")
DEFAULT_NORMS: tuple[str, ...] = ("none", "batch", "layer")


def make_norm_pipeline(estimator: BaseEstimator, scaling: str = "standard") -> Pipeline:
    """Build ``Pipeline([("scale", InputScaler(scaling)), ("net", estimator)])``.

    The step names are the ones :func:`normalization_grid` refers to, so the
    pipeline and the grid fit together. Any transformer (scikit-learn's own
    scalers included) can replace the ``"scale"`` step afterwards with
    ``pipe.set_params(scale=...)``.

    Parameters
    ----------
    estimator : estimator
        The network, e.g. :class:`NormMLPClassifier` or :class:`NormMLPRegressor`.
    scaling : {"none", "minmax", "standard", "robust", "quantile"}, \
default="standard"
        Initial ``InputScaler`` method.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline

    Examples
    --------
    >>> from sknorm import NormMLPClassifier, make_norm_pipeline
    >>> make_norm_pipeline(NormMLPClassifier(), scaling="minmax")
    Pipeline(steps=[('scale', InputScaler(method='minmax')),
                    ('net', NormMLPClassifier())])
    """
    if scaling not in SCALINGS:
        raise ValueError(f"Unknown scaling {scaling!r}; expected one of {SCALINGS}.")
    return Pipeline([(SCALE_STEP, InputScaler(scaling)), (NET_STEP, estimator)])


def _checked(values: Iterable[str], allowed: Sequence[str], what: str) -> list[str]:
    values = [values] if isinstance(values, str) else list(values)
    if not values:
        raise ValueError(f"{what} must name at least one value.")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(
            f"Unknown {what} {unknown}; expected values from {sorted(allowed)}."
        )
    return values


def normalization_grid(
    scalings: Iterable[str] = DEFAULT_SCALINGS,
    norms: Iterable[str] = DEFAULT_NORMS,
    **net_params: Iterable,
) -> dict[str, list]:
    """A ``param_grid`` over input scaling and hidden-layer norm.

    For a pipeline made by :func:`make_norm_pipeline`. Extra keyword arguments
    add grid axes on the network, e.g. ``norm_position=["before", "after"]``
    becomes ``net__norm_position``.

    Parameters
    ----------
    scalings : iterable of str, default=("none", "minmax", "standard")
        Values of ``scale__method``: any of ``InputScaler``'s methods
        ("none", "minmax", "standard", "robust", "quantile").
    norms : iterable of str, default=("none", "batch", "layer")
        Values of ``net__norm``: any of the estimators' norms ("none", "batch",
        "layer", "rms", "group", "ghost", "batch_renorm").
    **net_params : iterable
        More network hyperparameters to sweep, each a list of values.

    Returns
    -------
    param_grid : dict
        For :class:`~sklearn.model_selection.GridSearchCV` or
        :class:`~sklearn.model_selection.RandomizedSearchCV`.

    Examples
    --------
    >>> from sknorm import normalization_grid
    >>> normalization_grid(["minmax", "standard"], ["batch", "layer"], lr=[1e-3, 1e-2])
    {'scale__method': ['minmax', 'standard'], 'net__norm': ['batch', 'layer'], \
'net__lr': [0.001, 0.01]}
    """
    grid = {
        f"{SCALE_STEP}__method": _checked(scalings, SCALINGS, "scalings"),
        f"{NET_STEP}__norm": _checked(norms, NORMS, "norms"),
    }
    for name, values in net_params.items():
        values = list(values) if not isinstance(values, str) else [values]
        if not values:
            raise ValueError(f"{name} must list at least one value.")
        grid[f"{NET_STEP}__{name}"] = values
    return grid
