"""Deployable models: a fitted scaler + net pipeline as one torch program.

The scaling is folded into fixed affine layers in front of the trained MLP, the
classifier's softmax or the regressor's target un-scaling behind it, and the
whole is saved with :func:`torch.export.save` (a ``.pt2`` program that loads with
plain torch) or as ONNX. Neither needs sknorm (or scikit-learn) to run.

A pipeline whose scaling is not one affine map (a :class:`TabularScaler` that
one-hot encodes categories, marks blanks or reads dates; the smooth-clipping or
piecewise-linear scalings) exports to ONNX only: its preprocessing becomes ONNX
operators through skl2onnx, with converters registered here for sknorm's own
transformers, joined in front of the network that torch's ONNX exporter writes.

A soft-voting ensemble of such pipelines (``sweep()``'s ``VotingClassifier``
or ``VotingRegressor``) exports as the members' programs averaged with the
voting weights: one torch module when every member folds, else one ONNX graph
in which the members share the inputs.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._estimators import NormMLPClassifier, NormMLPRegressor
from ._optional import import_optional
from ._persist import writable_path, written
from ._pipeline import voting_members
from ._scalers import (
    AFFINE_SCALINGS,
    CLIP_BOUND,
    InputScaler,
    PiecewiseLinearEncoder,
    RobustClipScaler,
)
from ._sweep import check_model_given
from ._tabular import TabularScaler
from .nn import Affine

__all__ = ["EXPORT_FORMATS", "export", "to_torch_module"]

EXPORT_FORMATS = ("torch_export", "onnx")
#: Each format's file suffix.
_SUFFIXES = {"torch_export": ".pt2", "onnx": ".onnx"}
#: The ai.onnx.ml opset of the preprocessing (its LabelEncoder).
_ONNX_ML_OPSET = 3
#: The name of the ONNX model's one output, whatever the export.
_ONNX_OUTPUT = "output"
#: The ONNX metadata key of a TabularScaler's column kinds (JSON: column name
#: -> "numeric", "category" or "date").
_ONNX_KINDS = "column_kinds"
_SECONDS_PER_DAY = 86400.0


@contextmanager
def _quiet_torch_onnx():
    """Silence what torch's ONNX exporter says about itself, nothing a caller
    can act on: the FutureWarning about its own use of a deprecated pytree
    API, and the four log lines "torchvision is not installed. Skipping
    torchvision::nms" (and roi_align, ...) its op registry writes on first
    use without torchvision, which an MLP never needs."""
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry.level
    registry.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", r".*isinstance\(treespec, LeafSpec\)", FutureWarning
            )
            yield
    finally:
        registry.setLevel(level)


def _tabular_affine(step: TabularScaler, n_features: int) -> Affine:
    """A TabularScaler fitted on numbers without blanks: fill, then scale."""
    blocks = [
        name
        for name, transformer, columns in step.transformer_.transformers_
        if len(columns) and not isinstance(transformer, str)  # not "drop"
    ]
    if set(step.column_kinds_.values()) != {"numeric"} or blocks != ["numeric"]:
        raise ValueError(
            "A TabularScaler that encodes categories, dates or missing-value "
            "indicators cannot be folded into a torch program; export it with "
            "format='onnx' (one input per column), or fit it on numeric columns "
            "with missing_indicators=False."
        )
    numeric = step.transformer_.named_transformers_["numeric"]
    fill = numeric["impute"].statistics_
    affine = _affine_of(numeric["scale"], n_features)
    if affine is None:
        affine = Affine(np.ones(n_features), np.zeros(n_features))
    affine.set_fill(fill)
    return affine


def _affine_of(step, n_features: int) -> Affine | None:
    """The fixed affine map a fitted scaler applies, or None for a no-op."""
    if isinstance(step, TabularScaler):
        return _tabular_affine(step, n_features)
    if isinstance(step, InputScaler):
        if step.scaler_ is None:
            return None
        if step.method not in AFFINE_SCALINGS:
            raise ValueError(
                f"The {step.method!r} scaling is not an affine map and cannot be "
                "folded into a torch program; export a pipeline with one of "
                f"{', '.join(map(repr, AFFINE_SCALINGS))}, or with format='onnx' "
                "('robust_clip' and 'ple' export to ONNX)."
            )
        step = step.scaler_
    ones, zeros = np.ones(n_features), np.zeros(n_features)
    if isinstance(step, MinMaxScaler):
        low, high = step.feature_range if step.clip else (None, None)
        return Affine(step.scale_, step.min_, low, high)
    if isinstance(step, StandardScaler | RobustScaler):
        if isinstance(step, StandardScaler):
            center = step.mean_ if step.with_mean else None
        else:
            center = step.center_  # None without centering
        scale = ones if step.scale_ is None else step.scale_
        center = zeros if center is None else center
        return Affine(1.0 / scale, -center / scale)
    raise ValueError(
        f"Cannot fold a {type(step).__name__} step into an exported model; supported "
        "steps are InputScaler, TabularScaler (on numeric columns), MinMaxScaler, "
        "StandardScaler and RobustScaler."
    )


def _net_of(model):
    """The fitted sknorm network a pipeline ends in (or ``model`` itself)."""
    est = model.steps[-1][1] if isinstance(model, Pipeline) else model
    if not isinstance(est, NormMLPClassifier | NormMLPRegressor):
        raise TypeError(
            "export needs a NormMLPClassifier or NormMLPRegressor, or a pipeline "
            f"ending in one; got {type(est).__name__}."
        )
    check_is_fitted(est)
    return est


def _voting_parts(model) -> tuple[list[tuple[str, object]], np.ndarray] | None:
    """A soft-voting ensemble's ``(name, member)`` pairs and its weights as
    scikit-learn applies them (``np.average``'s: divided by their sum); None
    when ``model`` is not an ensemble."""
    members = voting_members(model)
    if members is None:
        return None
    name = type(model).__name__
    if getattr(model, "voting", "soft") != "soft":
        raise ValueError(
            f"A {name} with voting={model.voting!r} takes the majority of its "
            "members' labels, not an average of their outputs, and cannot be "
            "exported; export one with voting='soft'."
        )
    weights = np.ones(len(members))
    if model.weights is not None:
        weights = np.asarray(model.weights, dtype=np.float64)
    if weights.sum() == 0:
        raise ValueError(f"The {name}'s weights sum to zero: {weights.tolist()}.")
    return [(n, m) for n, m, _ in members], weights / weights.sum()


@contextmanager
def _naming_member(name: str):
    """Errors about an ensemble's member name it."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"Ensemble member {name!r}: {exc}") from exc


class _WeightedAverage(nn.Module):
    """The members' outputs averaged with fixed weights that sum to one."""

    def __init__(self, members: list[nn.Module], weights: np.ndarray) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("weights", torch.as_tensor(weights))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = torch.stack([member(x) for member in self.members])
        return torch.tensordot(self.weights, outputs, dims=1)


def _n_features(model) -> int:
    """The columns a folded ``model`` (or its first member) takes."""
    parts = _voting_parts(model)
    return _net_of(model if parts is None else parts[0][0][1]).n_features_in_


def to_torch_module(model) -> nn.Module:
    """The fitted ``model`` as one float32 torch module in eval mode.

    Parameters
    ----------
    model : Pipeline or NormMLPClassifier or NormMLPRegressor or \
VotingClassifier or VotingRegressor
        A fitted estimator, or a fitted pipeline of scalers ending in one, or
        a fitted ensemble of those (:func:`~sknorm.sweep`'s ``result.model``
        when its ensemble won): a soft-voting ``VotingClassifier`` or a
        ``VotingRegressor``, members in ``FrozenEstimator`` or not. The
        ensemble's module runs each member's and averages their outputs with
        the voting weights, divided by their sum as scikit-learn does (equal
        weights by default).

    Returns
    -------
    module : torch.nn.Module
        Maps a float32 ``(n, n_features)`` tensor to class probabilities
        (classifier, columns in ``classes_`` order) or to predictions
        (regressor, shaped like ``predict``'s output).

    Raises
    ------
    ValueError
        When a step cannot be folded (the message names it, and the
        ensemble's member), or the ensemble votes ``"hard"``.
    TypeError
        When the model (or a member) does not end in a sknorm estimator.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from sknorm import NormMLPClassifier, make_norm_pipeline
    >>> from sknorm import to_torch_module
    >>> X, y = load_iris(return_X_y=True)
    >>> pipe = make_norm_pipeline(NormMLPClassifier((8,), max_epochs=2)).fit(X, y)
    >>> to_torch_module(pipe)(torch.zeros(2, 4)).shape
    torch.Size([2, 3])

    An ensemble's module averages its members':

    >>> from sklearn.ensemble import VotingClassifier
    >>> from sklearn.frozen import FrozenEstimator
    >>> def fitted(width):
    ...     net = NormMLPClassifier((width,), max_epochs=2)
    ...     return FrozenEstimator(make_norm_pipeline(net).fit(X, y))
    >>> votes = VotingClassifier(
    ...     [("wide", fitted(8)), ("narrow", fitted(4))], voting="soft", weights=[2, 1]
    ... ).fit(X, y)
    >>> module = to_torch_module(votes)
    >>> proba = module(torch.as_tensor(X, dtype=torch.float32)).numpy()
    >>> bool(abs(proba - votes.predict_proba(X)).max() < 1e-5)
    True
    """
    check_model_given(model, "to_torch_module")
    parts = _voting_parts(model)
    if parts is not None:
        members, weights = parts
        (first_name, first), modules = members[0], []
        for name, member in members:
            with _naming_member(name):
                modules.append(to_torch_module(member))
                if _n_features(member) != _n_features(first):
                    raise ValueError(
                        f"it takes {_n_features(member)} features, member "
                        f"{first_name!r} {_n_features(first)}."
                    )
        return _WeightedAverage(modules, weights).float().eval()
    steps = list(model.steps) if isinstance(model, Pipeline) else [("net", model)]
    est = _net_of(model)
    n_features = est.n_features_in_
    scalers = []
    for _, step in steps[:-1]:
        if step is None or step == "passthrough":
            continue
        affine = _affine_of(step, n_features)
        if affine is not None:
            scalers.append(affine)
    module = nn.Sequential(*scalers, est._prediction_module(torch.float32))
    return module.float().eval()


def export(model, path: str | os.PathLike, *, format: str = "torch_export") -> Path:
    """Save a fitted pipeline, estimator or ensemble as one self-contained model file.

    When every step before the network is an affine scaler, the scaling is
    folded into the network and the model takes one float32 matrix ``X``, in
    either format. Otherwise (a :class:`TabularScaler` that one-hot encodes
    text, marks blanks or reads dates; the ``"robust_clip"`` or ``"ple"``
    scaling; scikit-learn transformers skl2onnx converts) only ``"onnx"``
    exports it: the preprocessing becomes ONNX operators through skl2onnx and
    is joined in front of the network, and the model takes the raw columns.

    An ensemble (:func:`~sknorm.sweep`'s ``result.model`` when its ensemble
    won: a soft-voting ``VotingClassifier`` or a ``VotingRegressor``) exports
    as its members averaged with the voting weights (divided by their sum, as
    scikit-learn does): as :func:`to_torch_module`'s module in either format
    when every member folds, else to ``"onnx"`` as one graph that feeds the
    same inputs to every member's preprocessing and network (the members must
    take the same inputs, as a sweep's do).

    Parameters
    ----------
    model : Pipeline or NormMLPClassifier or NormMLPRegressor or \
VotingClassifier or VotingRegressor
        Fitted. For ``"torch_export"`` the pipeline's steps before the network
        must be affine scalers: ``TabularScaler`` fitted on numeric columns
        (without blanks, or with ``missing_indicators=False``), or
        ``InputScaler``, with "none", "minmax", "standard"
        or "robust", or scikit-learn's ``MinMaxScaler``, ``StandardScaler``,
        ``RobustScaler``. ``"onnx"`` takes those and also a ``TabularScaler``
        on any table (as the first step), ``InputScaler`` with
        ``"robust_clip"`` or ``"ple"``, and any scikit-learn transformer
        skl2onnx converts; not the ``"quantile"`` scaling. An ensemble's
        members are such pipelines or estimators; ``voting="hard"`` does not
        export.
    path : str or path-like
        Where to write (``.pt2`` for "torch_export", ``.onnx`` for "onnx").
    format : {"torch_export", "onnx"}, default="torch_export"
        ``"torch_export"``: :func:`torch.export.save`; load with
        ``torch.export.load(path).module()``. ``"onnx"``: ONNX with a
        free batch size (needs the ``sknorm[onnx]`` extra); run with
        onnxruntime. Its output ``"output"`` is float32: the probabilities
        (classifier, columns in ``classes_`` order) or the predictions
        (regressor, in the target's units, shaped like ``predict``'s).

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        When a step cannot be exported in ``format``; the message names it
        (and the ensemble's member).

    Notes
    -----
    The inputs. A folded model takes float32 ``X`` of shape
    ``(n, n_features)``, NaN where a ``TabularScaler`` fills blanks. An ONNX
    model with a ``TabularScaler`` takes one input per column, named as the
    column, each of shape ``(n, 1)``:

    - numeric columns: float64, NaN for a blank;
    - text, category and boolean columns: strings, ``str(value)`` (``"True"``,
      ``"3"``), the empty string for a blank; an unseen value goes where
      ``predict`` puts it (the infrequent column, or no column);
    - date columns: float64 seconds since 1970-01-01 UTC (a time-zone-naive
      date read as UTC), NaN for a blank.

    The model's metadata ``"column_kinds"`` holds, as JSON, each column's kind
    (``"numeric"``, ``"category"`` or ``"date"``) in the inputs' order.

    Any other pipeline exported through skl2onnx takes float32 ``X``. The
    preprocessing runs in float64 as ``predict``'s does, the network in
    float32.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import onnxruntime
    >>> import pandas as pd
    >>> from sknorm import NormMLPClassifier, export, make_norm_pipeline
    >>> X = pd.DataFrame({"age": [20, None, 40, 31], "city": ["a", "b", None, "a"]})
    >>> pipe = make_norm_pipeline(NormMLPClassifier((8,), max_epochs=2))
    >>> pipe = pipe.fit(X, [0, 1, 0, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    >>> session = onnxruntime.InferenceSession(export(pipe, path, format="onnx"))
    >>> [(i.name, i.type) for i in session.get_inputs()]
    [('age', 'tensor(double)'), ('city', 'tensor(string)')]
    >>> (proba,) = session.run(None, {
    ...     "age": np.array([[35.0], [np.nan]]),
    ...     "city": np.array([["b"], [""]], dtype=object),
    ... })
    >>> rows = pd.DataFrame({"age": [35.0, None], "city": ["b", None]})
    >>> bool(abs(proba - pipe.predict_proba(rows)).max() < 1e-5)
    True
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}, got {format!r}.")
    check_model_given(model, "sknorm.export")
    suffix = _SUFFIXES[format]
    given = Path(path).suffix.lower()
    if given == ".sknorm":  # save's format: a mistake, not a choice
        raise ValueError(
            f"{os.fspath(path)!r} ends in .sknorm, the file sknorm.save writes "
            f"(loaded with sknorm.load); export writes a {suffix} file: use a "
            f"path ending in {suffix}, or sknorm.save(model, path)."
        )
    named = {s: f for f, s in _SUFFIXES.items()}.get(given, format)
    if named != format:  # the other format's suffix: a mistake, not a choice
        raise ValueError(
            f"{os.fspath(path)!r} ends in {given}, but format={format!r} writes "
            f"a {suffix} file; pass format={named!r} for {given}, or a path "
            f"ending in {suffix}."
        )
    path = writable_path(path, f"model{suffix}")
    try:
        module = to_torch_module(model)
    except ValueError:
        if format != "onnx" or not (
            isinstance(model, Pipeline) or voting_members(model) is not None
        ):
            raise
        onnx = import_optional("onnx", "onnx", "ONNX export")
        with written(path):
            onnx.save(_onnx_model(model), str(path))
        return path
    example = (torch.zeros(2, _n_features(model)),)
    dynamic = ({0: torch.export.Dim("batch")},)
    if format == "torch_export":
        program = torch.export.export(module, example, dynamic_shapes=dynamic)
        with written(path):
            torch.export.save(program, path)
    else:
        onnx = import_optional("onnx", "onnx", "ONNX export")
        import_optional("onnxscript", "onnx", "ONNX export")
        with _quiet_torch_onnx():
            # no path here: given one, torch also writes (and empties) a
            # "<name>.onnx.data" beside it; the model is saved as one file
            program = torch.onnx.export(
                module,
                example,
                input_names=["X"],
                output_names=[_ONNX_OUTPUT],
                dynamic_shapes=dynamic,
                dynamo=True,
                verbose=False,
            )
        with written(path):
            onnx.save(program.model_proto, str(path))
    return path


# -- ONNX: a whole preprocessing pipeline, through skl2onnx -------------------


def _onnx_key(value) -> str:
    """The string a category is fed to the ONNX model as: ``str(value)``, or
    ``""`` for a blank."""
    if isinstance(value, np.datetime64 | np.timedelta64):
        # as the column's own values print (a Timestamp, not numpy's "T" form)
        value = pd.Timestamp(value) if value.dtype.kind == "M" else pd.Timedelta(value)
    return "" if pd.isna(value) else str(value)


class _Graph:
    """Appends ONNX nodes to a skl2onnx container, each result a fresh name."""

    def __init__(self, scope, container, dtype=np.float64) -> None:
        self.scope, self.container, self.dtype = scope, container, np.dtype(dtype)

    def const(self, values, dtype=None) -> str:
        """A constant tensor (in the graph's float type unless told)."""
        from onnx import numpy_helper

        array = np.asarray(values, dtype=dtype or self.dtype)
        name = self.scope.get_unique_variable_name("const")
        tensor = numpy_helper.from_array(array, name)
        self.container.add_initializer(
            name, tensor.data_type, list(array.shape), tensor
        )
        return name

    def __call__(self, op: str, *inputs: str, _out: str | None = None, **attrs) -> str:
        out = _out or self.scope.get_unique_variable_name(op.lower())
        domain = "ai.onnx.ml" if op == "LabelEncoder" else ""
        self.container.add_node(
            op,
            list(inputs),
            [out],
            op_domain=domain,
            op_version=_ONNX_ML_OPSET if domain else None,
            name=self.scope.get_unique_operator_name(op),
            **attrs,
        )
        return out

    def floordiv(self, a: str, b: float) -> str:
        return self("Floor", self("Div", a, self.const(b)))

    def float_type(self) -> int:
        from onnx import helper

        return helper.np_dtype_to_tensor_dtype(self.dtype)


def _scale_nodes(g: _Graph, scaler: InputScaler, x: str) -> str:
    """``scaler.transform`` on the ``(n, k)`` tensor ``x``, in the same order of
    operations as scikit-learn's (and sknorm's) numpy code."""
    inner = scaler.scaler_
    if inner is None:
        return x
    if isinstance(inner, MinMaxScaler):
        x = g("Add", g("Mul", x, g.const(inner.scale_)), g.const(inner.min_))
        if inner.clip:
            low, high = inner.feature_range
            x = g("Min", g("Max", x, g.const(low)), g.const(high))
        return x
    if isinstance(inner, StandardScaler):
        if inner.with_mean:
            x = g("Sub", x, g.const(inner.mean_))
        return g("Div", x, g.const(inner.scale_)) if inner.with_std else x
    if isinstance(inner, RobustScaler):
        if inner.with_centering:
            x = g("Sub", x, g.const(inner.center_))
        return g("Div", x, g.const(inner.scale_)) if inner.with_scaling else x
    if isinstance(inner, RobustClipScaler):
        z = g("Mul", g("Sub", x, g.const(inner.center_)), g.const(inner.scale_))
        t = g("Div", z, g.const(CLIP_BOUND))
        return g("Div", z, g("Sqrt", g("Add", g.const(1.0), g("Mul", t, t))))
    if isinstance(inner, PiecewiseLinearEncoder):
        feature, left, width, low, high = [], [], [], [], []
        for j, edges in enumerate(inner.edges_):
            n_bins = edges.size - 1
            feature += [j] * n_bins
            left.append(edges[:-1])
            width.append(edges[1:] - edges[:-1])
            low.append(np.r_[-np.inf, np.zeros(n_bins - 1)])
            high.append(np.r_[np.ones(n_bins - 1), np.inf])
        x = g("Gather", x, g.const(feature, np.int64), axis=1)
        t = g(
            "Div",
            g("Sub", x, g.const(np.concatenate(left))),
            g.const(np.concatenate(width)),
        )
        t = g("Max", t, g.const(np.concatenate(low)))
        return g("Min", t, g.const(np.concatenate(high)))
    raise ValueError(  # refused before converting: _onnx_problem
        f"The {scaler.method!r} scaling cannot be exported to ONNX."
    )


def _date_nodes(g: _Graph, name: str, seconds: str, parts) -> dict[str, str]:
    """``DATE_PARTS`` of a date given as float seconds since 1970-01-01 UTC
    (NaN where blank); the calendar is H. Hinnant's ``civil_from_days``."""
    days = g("Div", seconds, g.const(_SECONDS_PER_DAY))
    whole = g("Floor", days)
    z = g("Add", whole, g.const(719468.0))
    era = g.floordiv(z, 146097.0)
    doe = g("Sub", z, g("Mul", era, g.const(146097.0)))
    yoe = g("Add", g("Sub", doe, g.floordiv(doe, 1460.0)), g.floordiv(doe, 36524.0))
    yoe = g.floordiv(g("Sub", yoe, g.floordiv(doe, 146096.0)), 365.0)
    doy = g("Mul", yoe, g.const(365.0))
    doy = g("Sub", g("Add", doy, g.floordiv(yoe, 4.0)), g.floordiv(yoe, 100.0))
    doy = g("Sub", doe, doy)
    mp = g.floordiv(g("Add", g("Mul", doy, g.const(5.0)), g.const(2.0)), 153.0)
    day = g.floordiv(g("Add", g("Mul", mp, g.const(153.0)), g.const(2.0)), 5.0)
    day = g("Add", g("Sub", doy, day), g.const(1.0))
    late = g("Cast", g("GreaterOrEqual", mp, g.const(10.0)), to=g.float_type())
    month = g("Sub", g("Add", mp, g.const(3.0)), g("Mul", late, g.const(12.0)))
    early = g("Cast", g("LessOrEqual", month, g.const(2.0)), to=g.float_type())
    year = g("Add", g("Add", yoe, g("Mul", era, g.const(400.0))), early)
    shifted = g("Add", whole, g.const(3.0))  # 1970-01-01 was a Thursday
    weekday = g("Sub", shifted, g("Mul", g.floordiv(shifted, 7.0), g.const(7.0)))
    since_midnight = g("Sub", seconds, g("Mul", whole, g.const(_SECONDS_PER_DAY)))
    hour = g.floordiv(since_midnight, 3600.0)
    minute = g("Sub", since_midnight, g("Mul", hour, g.const(3600.0)))
    hour = g("Add", hour, g("Div", g.floordiv(minute, 60.0), g.const(60.0)))
    nodes = {
        "days": days,
        "year": year,
        "month": month,
        "day": day,
        "weekday": weekday,
        "hour": hour,
    }
    return {f"{name}_{part}": nodes[part] for part in parts}


def _one_hot_nodes(g: _Graph, encoder, index: int, name: str, x: str) -> str:
    """One column of ``OneHotEncoder(handle_unknown="infrequent_if_exist")``:
    the string column ``x`` -> its 0/1 columns, unknown values in the
    infrequent column when there is one, else all zeros."""
    rare = getattr(encoder, "infrequent_categories_", [None] * (index + 1))[index]
    rare = set() if rare is None else {_onnx_key(v) for v in rare}
    keys = [_onnx_key(v) for v in encoder.categories_[index]]
    if len(set(keys)) != len(keys):
        raise ValueError(
            f"Column {name!r} cannot be exported to ONNX: two of its categories "
            f"read the same as text (the ONNX input is str(value), '' for a "
            f"blank): {keys}."
        )
    frequent = [k for k in keys if k not in rare]
    other = len(frequent) if rare else -1
    codes = g(
        "LabelEncoder",
        x,
        keys_strings=keys,
        values_int64s=[other if k in rare else frequent.index(k) for k in keys],
        default_int64=other,
    )
    width = len(frequent) + bool(rare)
    hot = g("Equal", codes, g.const(np.arange(width), np.int64))
    return g("Cast", hot, to=g.float_type())


def _tabular_shape(operator) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    width = len(operator.raw_operator.get_feature_names_out())
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([n, width])


def _convert_tabular(scope, operator, container) -> None:
    """skl2onnx converter of a fitted TabularScaler: one input per column
    (float64 numbers, strings, float64 seconds for dates), float64 out."""
    step = operator.raw_operator
    g = _Graph(scope, container)
    columns = {}
    for (name, kind), var in zip(
        step.column_kinds_.items(), operator.inputs, strict=True
    ):
        if kind == "date":
            columns.update(_date_nodes(g, name, var.full_name, step.date_parts_[name]))
        else:
            columns[name] = var.full_name
    blocks = []
    for block, transformer, names in step.transformer_.transformers_:
        if isinstance(transformer, str) or len(names) == 0:  # "drop"
            continue
        if block == "categories":
            blocks += [
                _one_hot_nodes(g, transformer, i, name, columns[name])
                for i, name in enumerate(names)
            ]
            continue
        x = g("Concat", *(columns[n] for n in names), axis=1)
        if block == "numeric":
            fill = g.const(transformer["impute"].statistics_)
            x = g("Where", g("IsNaN", x), fill, x)
            blocks.append(_scale_nodes(g, transformer["scale"], x))
        else:  # "missing": MissingIndicator(features="missing-only")
            x = g("Gather", x, g.const(transformer.features_, np.int64), axis=1)
            blocks.append(g("Cast", g("IsNaN", x), to=g.float_type()))
    g("Concat", *blocks, axis=1, _out=operator.outputs[0].full_name)


def _input_scaler_shape(operator) -> None:
    source = operator.inputs[0].type
    width = len(operator.raw_operator.get_feature_names_out())
    operator.outputs[0].type = type(source)([source.shape[0], width])


def _convert_input_scaler(scope, operator, container) -> None:
    """skl2onnx converter of a fitted InputScaler, in its input's float type."""
    from skl2onnx.common.data_types import DoubleTensorType

    double = isinstance(operator.inputs[0].type, DoubleTensorType)
    g = _Graph(scope, container, np.float64 if double else np.float32)
    out = _scale_nodes(g, operator.raw_operator, operator.inputs[0].full_name)
    g("Identity", out, _out=operator.outputs[0].full_name)


def _skl2onnx():
    """skl2onnx, with sknorm's transformers registered."""
    skl2onnx = import_optional("skl2onnx", "onnx", "ONNX export of this pipeline")
    skl2onnx.update_registered_converter(
        TabularScaler, "SknormTabularScaler", _tabular_shape, _convert_tabular
    )
    skl2onnx.update_registered_converter(
        InputScaler, "SknormInputScaler", _input_scaler_shape, _convert_input_scaler
    )
    return skl2onnx


def _onnx_problem(name: str, step, first: bool) -> str | None:
    """Why the pipeline step ``name`` cannot become ONNX operators, or None."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    where = f"pipeline step {name!r} ({type(step).__name__})"
    if isinstance(step, TabularScaler):
        if not first:
            return f"The {where} exports to ONNX only as the pipeline's first step."
        if step.method == "quantile":
            numeric = step.transformer_.named_transformers_["numeric"]
            columns = ", ".join(map(repr, numeric.feature_names_in_))
            return (
                f"The 'quantile' scaling of the {where} (columns {columns}) cannot "
                "be exported to ONNX: ONNX has no inverse normal CDF. Choose "
                "another scaling, e.g. 'robust_clip'."
            )
        return None
    if isinstance(step, InputScaler) and step.method == "quantile":
        return (
            f"The 'quantile' scaling of the {where} cannot be exported to ONNX: "
            "ONNX has no inverse normal CDF. Choose another scaling, e.g. "
            "'robust_clip'."
        )
    params = step.get_params(deep=True) if hasattr(step, "get_params") else {}
    for part in [step, *params.values()]:
        if isinstance(part, SimpleImputer) and part.add_indicator:
            return (
                f"The {where} cannot be exported to ONNX: skl2onnx's SimpleImputer "
                "drops add_indicator=True's columns. A TabularScaler's missing "
                "indicators export."
            )
        if isinstance(part, OneHotEncoder) and (
            part.handle_unknown == "infrequent_if_exist"
            or part.min_frequency is not None
            or part.max_categories is not None
        ):
            return (
                f"The {where} cannot be exported to ONNX: skl2onnx's OneHotEncoder "
                "does not handle infrequent categories (handle_unknown="
                "'infrequent_if_exist', min_frequency, max_categories). A "
                "TabularScaler's infrequent categories export."
            )
    if type(step) not in sklearn_operator_name_map:
        return (
            f"The {where} cannot be exported to ONNX: skl2onnx has no converter "
            "for it. Register one with skl2onnx.update_registered_converter, or "
            "leave the step out of the exported pipeline."
        )
    return None


def _onnx_network(est):
    """The trained network (and its softmax or target un-scaling) as ONNX, one
    float32 input ``X`` of shape ``(batch, n_features)``."""
    import_optional("onnxscript", "onnx", "ONNX export")
    with _quiet_torch_onnx():
        program = torch.onnx.export(
            est._prediction_module(torch.float32),
            (torch.zeros(2, est.n_features_in_),),
            input_names=["X"],
            output_names=[_ONNX_OUTPUT],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            dynamo=True,
            verbose=False,
        )
    return program.model_proto


def _onnx_input_types(step) -> list[tuple[str, object]]:
    """skl2onnx's ``initial_types`` for a pipeline starting with ``step``."""
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        StringTensorType,
    )

    if not isinstance(step, TabularScaler):
        return [("X", FloatTensorType([None, step.n_features_in_]))]
    kinds = step.column_kinds_
    if _ONNX_OUTPUT in kinds:
        raise ValueError(
            f"A column named {_ONNX_OUTPUT!r} cannot be exported to ONNX: it is "
            "the name of the model's output; rename the column."
        )
    return [
        (
            name,
            StringTensorType([None, 1])
            if kind == "category"
            else DoubleTensorType([None, 1]),
        )
        for name, kind in kinds.items()
    ]


def _onnx_model(model):
    """A pipeline, or a soft-voting ensemble of them, as one checked ONNX model
    with the output ``"output"``."""
    parts = _voting_parts(model)
    if parts is None:
        return _onnx_pipeline(model)
    members, weights = parts
    models = []
    for name, member in members:
        with _naming_member(name):
            models.append((name, _onnx_pipeline(member)))
    return _onnx_average(models, weights)


def _onnx_average(models: list[tuple[str, object]], weights: np.ndarray):
    """The members' ONNX models joined into one: the same inputs fed to each
    (each member's nodes and initializers prefixed ``member{i}/``), their
    outputs averaged with ``weights`` into ``"output"``."""
    onnx = import_optional("onnx", "onnx", "ONNX export")
    helper = onnx.helper
    first_name, first = models[0]
    nodes, initializers, value_info, functions, weighted = [], [], [], [], []

    def inputs(model) -> list[tuple]:
        """Each input's name, element type and fixed sizes (None: free)."""
        return [
            (
                v.name,
                v.type.tensor_type.elem_type,
                [d.dim_value or None for d in v.type.tensor_type.shape.dim],
            )
            for v in model.graph.input
        ]

    opsets = {}
    for i, (name, model) in enumerate(models):
        if inputs(model) != inputs(first):
            raise ValueError(
                f"Ensemble member {name!r} takes other ONNX inputs than member "
                f"{first_name!r}: {[v[0] for v in inputs(model)]} and "
                f"{[v[0] for v in inputs(first)]} (names, types or widths); an "
                "ensemble exports to ONNX when its members take the same columns "
                "through the same kind of scaler."
            )
        for entry in model.opset_import:
            domain = "" if entry.domain == "ai.onnx" else entry.domain
            if opsets.setdefault(domain, entry.version) != entry.version:
                raise ValueError(
                    f"Ensemble member {name!r} uses version {entry.version} of "
                    f"the ONNX operators {domain or 'ai.onnx'!r}, another member "
                    f"{opsets[domain]}."
                )
        model = onnx.compose.add_prefix(model, f"member{i}/", rename_inputs=False)
        graph = model.graph
        nodes += graph.node
        initializers += graph.initializer
        value_info += [*graph.value_info, graph.output[0]]
        functions += model.functions
        weight = onnx.numpy_helper.from_array(
            np.asarray(weights[i], dtype=np.float32), f"member{i}/weight"
        )
        initializers.append(weight)
        weighted.append(f"member{i}/weighted")
        nodes.append(
            helper.make_node("Mul", [graph.output[0].name, weight.name], weighted[-1:])
        )
    nodes.append(helper.make_node("Sum", weighted, [_ONNX_OUTPUT]))
    output = onnx.ValueInfoProto()
    output.CopyFrom(first.graph.output[0])
    output.name = _ONNX_OUTPUT
    graph = helper.make_graph(
        nodes,
        "sknorm_voting",
        list(first.graph.input),
        [output],
        initializer=initializers,
        value_info=value_info,
    )
    joined = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
        functions=functions,
        ir_version=max(model.ir_version for _, model in models),
    )
    joined.metadata_props.extend(first.metadata_props)  # the column kinds
    onnx.checker.check_model(joined)
    return joined


def _onnx_pipeline(model):
    """Preprocessing (skl2onnx) and network (torch) joined into one checked
    ONNX model; the network alone when there is no preprocessing."""
    onnx = import_optional("onnx", "onnx", "ONNX export")
    est = _net_of(model)
    steps = [
        (name, step)
        for name, step in (model.steps[:-1] if isinstance(model, Pipeline) else [])
        if step is not None and not (isinstance(step, str) and step == "passthrough")
    ]
    if not steps:
        return _onnx_network(est)
    skl2onnx = _skl2onnx()
    for i, (name, step) in enumerate(steps):
        problem = _onnx_problem(name, step, first=i == 0)
        if problem:
            raise ValueError(problem)
    net = _onnx_network(est)
    opset = {o.domain: o.version for o in net.opset_import}[""]
    try:
        prep = skl2onnx.convert_sklearn(
            Pipeline(steps),
            initial_types=_onnx_input_types(steps[0][1]),
            target_opset={"": opset, "ai.onnx.ml": _ONNX_ML_OPSET},
        )
    except (RuntimeError, NotImplementedError, TypeError) as exc:
        names = ", ".join(repr(name) for name, _ in steps)
        raise ValueError(
            f"skl2onnx cannot convert the pipeline steps {names} to ONNX: {exc}"
        ) from exc
    prep = onnx.compose.add_prefix(prep, "prep/", rename_inputs=False)
    features = prep.graph.output[0]
    if features.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        cast = onnx.helper.make_node(
            "Cast", [features.name], ["prep/features"], to=onnx.TensorProto.FLOAT
        )
        prep.graph.node.append(cast)
        out = onnx.helper.make_tensor_value_info(
            "prep/features", onnx.TensorProto.FLOAT, [None, None]
        )
        prep.graph.output.pop()
        prep.graph.output.append(out)
    prep.ir_version = net.ir_version
    for entry in prep.opset_import:  # what merge_models requires
        if entry.domain in ("", "ai.onnx"):
            entry.domain, entry.version = "", opset
    net = onnx.compose.add_prefix(net, "net/", rename_outputs=False)
    merged = onnx.compose.merge_models(
        prep, net, io_map=[(prep.graph.output[0].name, "net/X")]
    )
    if isinstance(steps[0][1], TabularScaler):  # how to feed each input
        kinds = steps[0][1].column_kinds_
        _name_inputs(merged, list(kinds))
        onnx.helper.set_model_props(merged, {_ONNX_KINDS: json.dumps(kinds)})
    onnx.checker.check_model(merged)
    return merged


def _name_inputs(model, names: list[str]) -> None:
    """Give the graph's inputs the columns' own names, in order: skl2onnx
    rewrites any name that is not an identifier ("mean radius" becomes
    "mean_radius", "a b" beside "a_b" becomes "a_b1"), where the model is
    fed (and its ``column_kinds`` metadata names them) by column."""
    graph = model.graph
    renamed = {
        v.name: name
        for v, name in zip(graph.input, names, strict=True)
        if v.name != name
    }
    if not renamed:
        return
    taken = {v.name for v in graph.value_info} | {
        n for node in graph.node for n in node.output
    }
    clash = taken & set(renamed.values())
    if clash:  # an inner value already has a column's name (never seen)
        raise ValueError(f"ONNX export: the column name {sorted(clash)[0]!r} is taken.")
    for v in graph.input:
        v.name = renamed.get(v.name, v.name)
    for node in graph.node:
        node.input[:] = [renamed.get(n, n) for n in node.input]
