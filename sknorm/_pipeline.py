"""Pipeline and grid helpers: input scaling and hidden norm swept together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sklearn.base import BaseEstimator
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._norms import NORMS
from ._scalers import SCALINGS, InputScaler
from ._tabular import TabularScaler

__all__ = [
    "DEFAULT_NORMS",
    "DEFAULT_SCALINGS",
    "LEARNED_SCALINGS",
    "NET_STEP",
    "SCALE_STEP",
    "SWEEP_SCALINGS",
    "candidate_scaling",
    "make_norm_pipeline",
    "normalization_grid",
    "voting_members",
]

SCALE_STEP = "scale"
NET_STEP = "net"
#: What a sweep tries when not told: ``normalization_grid``'s, ``sweep``'s and
#: the ``sknorm sweep`` command's defaults. "plr" (a learned scaling, below)
#: is in because it makes the sweep's best model better on real tables:
#: ``benchmarks/bench_quality.py`` scores the sweep with it
#: (``sknorm_sweep_best``) and without it (``sknorm_sweep_3x3``) side by side;
#: it costs a sweep three to five times the time (its members cost about four
#: times the others).
DEFAULT_SCALINGS: tuple[str, ...] = ("none", "minmax", "standard", "plr")
DEFAULT_NORMS: tuple[str, ...] = ("none", "batch", "layer")
#: Input normalizations that are learned with the network, as sweep scalings:
#: name -> (the scaler's method, the network's ``input_embedding``). Both put
#: RealMLP's robust scaling and smooth clipping first (Holzmüller et al., 2024),
#: as the learned layers need inputs of a bounded scale: "learned_scale" then
#: learns one factor per feature (RealMLP's scaling layer), "plr" embeds each
#: feature periodically (Gorishniy et al., 2022).
LEARNED_SCALINGS: dict[str, tuple[str, str]] = {
    "learned_scale": ("robust_clip", "scale"),
    "plr": ("robust_clip", "periodic"),
}
#: Every name a sweep's ``scalings`` accepts.
SWEEP_SCALINGS: tuple[str, ...] = (*SCALINGS, *LEARNED_SCALINGS)


def make_norm_pipeline(
    estimator: BaseEstimator, scaling: str = "standard", *, tabular: bool = True
) -> Pipeline:
    """Build ``Pipeline([("scale", TabularScaler(scaling)), ("net", estimator)])``.

    The step names are the ones :func:`normalization_grid` refers to, so the
    pipeline and the grid fit together: ``scale__method`` is the input scaling.
    The default :class:`TabularScaler` takes raw tables (text, categories,
    booleans, dates and blanks), scales only their numeric columns and
    one-hot encodes the rest, fitted on the training rows; on an all-numeric
    array without blanks it computes exactly what :class:`InputScaler` does.
    Any transformer can replace the ``"scale"`` step afterwards with
    ``pipe.set_params(scale=...)``.

    Parameters
    ----------
    estimator : estimator
        The network, e.g. :class:`NormMLPClassifier` or :class:`NormMLPRegressor`.
    scaling : {"none", "minmax", "standard", "robust", "quantile"}, \
default="standard"
        Initial scaling method.
    tabular : bool, default=True
        ``False`` puts the strict :class:`InputScaler` in front instead, for
        data that is numeric and complete already (it rejects text and blanks
        and costs less per prediction).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline

    Examples
    --------
    >>> from sknorm import NormMLPClassifier, make_norm_pipeline
    >>> make_norm_pipeline(NormMLPClassifier(), scaling="minmax")
    Pipeline(steps=[('scale', TabularScaler(method='minmax')),
                    ('net', NormMLPClassifier())])
    """
    if scaling not in SCALINGS:
        raise ValueError(f"Unknown scaling {scaling!r}; expected one of {SCALINGS}.")
    scaler = TabularScaler(scaling) if tabular else InputScaler(scaling)
    return Pipeline([(SCALE_STEP, scaler), (NET_STEP, estimator)])


def _scaling_key(pipeline: Pipeline) -> str:
    """The ``method`` parameter of the one scaler anywhere in ``pipeline``."""
    keys = [
        f"{name}__method"
        for name, value in pipeline.get_params(deep=True).items()
        if isinstance(value, InputScaler | TabularScaler)
    ]
    if len(keys) != 1:
        raise ValueError(
            "normalization_grid(pipeline=...) needs exactly one InputScaler or "
            f"TabularScaler in the pipeline (in a ColumnTransformer too); found "
            f"{len(keys)}{': ' + ', '.join(keys) if keys else ''}."
        )
    return keys[0]


def _checked(values: Iterable[str], allowed: Sequence[str], what: str) -> list[str]:
    values = [values] if isinstance(values, str) else list(values)
    if not values:
        raise ValueError(f"{what} must name at least one value.")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(
            f"Unknown {what} {unknown}; expected values from {sorted(allowed)}."
        )
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:  # each would be trained, ranked and averaged twice
        raise ValueError(f"{what} lists {repeated} more than once; name each once.")
    return values


def normalization_grid(
    scalings: Iterable[str] = DEFAULT_SCALINGS,
    norms: Iterable[str] = DEFAULT_NORMS,
    *,
    pipeline: Pipeline | None = None,
    **net_params: Iterable,
) -> dict[str, list] | list[dict[str, list]]:
    """A ``param_grid`` over input scaling and hidden-layer norm.

    For a pipeline made by :func:`make_norm_pipeline` (keys ``scale__method``
    and ``net__...``), or for your own pipeline given as ``pipeline``: then the
    scaling key is wherever its one :class:`InputScaler` or
    :class:`TabularScaler` sits (inside a ``ColumnTransformer`` too, e.g.
    ``prep__num__scale__method``) and the network keys use its last step's
    name. Extra keyword arguments add grid axes on the network, e.g.
    ``norm_position=["before", "after"]`` becomes ``net__norm_position``.

    Parameters
    ----------
    scalings : iterable of str, default=("none", "minmax", "standard", "plr")
        Scaling methods: any of ``sknorm.SCALINGS``, or a learned input
        normalization of ``LEARNED_SCALINGS`` ("learned_scale", "plr"), which
        sets the scaler's method and the network's ``input_embedding``
        together; the grid is then a list of dicts, one per learned scaling
        and one for the others.
    norms : iterable of str, default=("none", "batch", "layer")
        Hidden-layer norms: any of ``sknorm.NORMS``.
    pipeline : Pipeline or None, default=None
        The pipeline the grid is for, when it is not one made by
        :func:`make_norm_pipeline`.
    **net_params : iterable
        More network hyperparameters to sweep, each a list of values.

    Returns
    -------
    param_grid : dict or list of dict
        For :class:`~sklearn.model_selection.GridSearchCV` or
        :class:`~sklearn.model_selection.RandomizedSearchCV`.

    Examples
    --------
    >>> from sknorm import normalization_grid
    >>> normalization_grid(["minmax", "standard"], ["batch", "layer"], lr=[1e-3, 1e-2])
    {'scale__method': ['minmax', 'standard'], 'net__norm': ['batch', 'layer'], \
'net__lr': [0.001, 0.01]}
    """
    scale_key, net = f"{SCALE_STEP}__method", NET_STEP
    if pipeline is not None:
        scale_key, net = _scaling_key(pipeline), pipeline.steps[-1][0]
    scalings = _checked(scalings, SWEEP_SCALINGS, "scalings")
    grid = {f"{net}__norm": _checked(norms, NORMS, "norms")}
    for name, values in net_params.items():
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise ValueError(
                f"{name} must be a list of values to try, got {values!r}; "
                f"write {name}=[{values!r}] for a single value."
            )
        values = list(values)
        if not values:
            raise ValueError(f"{name} must list at least one value.")
        grid[f"{net}__{name}"] = values
    return _with_scalings(grid, scalings, scale_key, f"{net}__input_embedding")


def _with_scalings(grid: dict, scalings: list[str], scale_key: str, embed_key: str):
    """``grid`` with its scaling axis: one dict when every scaling is a
    scaler's method, else one dict for those and one per learned scaling
    (its method and the network's ``input_embedding``)."""
    plain = [s for s in scalings if s not in LEARNED_SCALINGS]
    learned = [s for s in scalings if s in LEARNED_SCALINGS]
    if not learned:
        return {scale_key: plain, **grid}
    if embed_key in grid:
        raise ValueError(
            f"scalings {learned} set input_embedding; do not also sweep it."
        )
    grids = [{scale_key: plain, embed_key: ["none"], **grid}] if plain else []
    for name in learned:
        method, embedding = LEARNED_SCALINGS[name]
        grids.append({scale_key: [method], embed_key: [embedding], **grid})
    return grids


def candidate_scaling(params: dict, scale_key: str, embed_key: str) -> str:
    """The sweep scaling a candidate's ``params`` stand for: a learned one's
    name when they set its method and ``input_embedding``, else the method."""
    pair = (params[scale_key], params.get(embed_key, "none"))
    named = [n for n, p in LEARNED_SCALINGS.items() if p == pair]
    return named[0] if named else params[scale_key]


def voting_members(model) -> list[tuple[str, BaseEstimator, bool]] | None:
    """A fitted ``VotingClassifier``'s or ``VotingRegressor``'s members (what
    ``sweep()``'s ensemble is): ``(name, fitted model, frozen)`` in order,
    each model taken out of its ``FrozenEstimator`` (``frozen`` says whether
    it was in one). None when ``model`` is not such an ensemble.

    Raises ``NotFittedError`` for an unfitted ensemble and ``TypeError``
    naming a member set to ``"drop"``.
    """
    if not isinstance(model, VotingClassifier | VotingRegressor):
        return None
    check_is_fitted(model)
    fitted = iter(model.estimators_)  # the members not dropped, in order
    members = []
    for name, template in model.estimators:
        if isinstance(template, str):  # "drop"
            raise TypeError(
                f"The {type(model).__name__}'s member {name!r} is dropped "
                f"({template!r}); remove it from estimators and fit again."
            )
        member = next(fitted)
        frozen = isinstance(member, FrozenEstimator)
        members.append((name, member.estimator if frozen else member, frozen))
    return members
