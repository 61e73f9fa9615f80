"""Deployable models: a fitted scaler + net pipeline as one torch program.

The scaling is folded into fixed affine layers in front of the trained MLP, the
classifier's softmax or the regressor's target un-scaling behind it, and the
whole is saved with :func:`torch.export.save` (a ``.pt2`` program that loads with
plain torch) or as ONNX. Neither needs sknorm (or scikit-learn) to run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._estimators import NormMLPClassifier, NormMLPRegressor
from ._optional import import_optional
from ._scalers import AFFINE_SCALINGS, InputScaler
from ._tabular import TabularScaler
from .nn import Affine

__all__ = ["EXPORT_FORMATS", "export", "to_torch_module"]

EXPORT_FORMATS = ("torch_export", "onnx")


def _tabular_affine(step: TabularScaler, n_features: int) -> Affine:
    """A TabularScaler fitted on numbers without blanks: fill, then scale."""
    if set(step.column_kinds_.values()) != {"numeric"} or any(
        name != "numeric" for name, *_ in step.transformer_.transformers_[:-1]
    ):
        raise ValueError(
            "A TabularScaler that encodes categories, dates or missing-value "
            "indicators cannot be folded into a torch program; export a pipeline "
            "fitted on numeric columns, or use make_norm_pipeline(..., "
            "tabular=False) for numeric data."
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
                "folded into the exported model; export a pipeline with one of "
                f"{', '.join(map(repr, AFFINE_SCALINGS))}."
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


def to_torch_module(model) -> nn.Module:
    """The fitted ``model`` as one float32 torch module in eval mode.

    Parameters
    ----------
    model : Pipeline or NormMLPClassifier or NormMLPRegressor
        A fitted estimator, or a fitted pipeline of scalers ending in one.

    Returns
    -------
    module : torch.nn.Module
        Maps a float32 ``(n, n_features)`` tensor to class probabilities
        (classifier, columns in ``classes_`` order) or to predictions
        (regressor, shaped like ``predict``'s output).

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
    """
    steps = list(model.steps) if isinstance(model, Pipeline) else [("net", model)]
    est = steps[-1][1]
    if not isinstance(est, NormMLPClassifier | NormMLPRegressor):
        raise TypeError(
            "export needs a NormMLPClassifier or NormMLPRegressor, or a pipeline "
            f"ending in one; got {type(est).__name__}."
        )
    check_is_fitted(est)
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
    """Save a fitted pipeline or estimator as one self-contained model file.

    Parameters
    ----------
    model : Pipeline or NormMLPClassifier or NormMLPRegressor
        Fitted; the pipeline's steps before the network must be affine scalers:
        ``TabularScaler`` fitted on numeric columns (NaN inputs filled with the
        training medians, as ``predict`` does) or ``InputScaler``, with
        "none", "minmax", "standard" or "robust", or scikit-learn's
        ``MinMaxScaler``, ``StandardScaler``, ``RobustScaler``.
    path : str or path-like
        Where to write (``.pt2`` for "torch_export", ``.onnx`` for "onnx").
    format : {"torch_export", "onnx"}, default="torch_export"
        ``"torch_export"``: :func:`torch.export.save`; load with
        ``torch.export.load(path).module()``. ``"onnx"``: ONNX with a dynamic
        batch dimension (needs the ``sknorm[onnx]`` extra); run with
        onnxruntime. The input is float32 ``(n, n_features)``, the batch size
        free.

    Returns
    -------
    path : pathlib.Path
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}, got {format!r}.")
    module = to_torch_module(model)
    n_features = (
        model[-1].n_features_in_
        if isinstance(model, Pipeline)
        else model.n_features_in_
    )
    example = (torch.zeros(2, n_features),)
    dynamic = ({0: torch.export.Dim("batch")},)
    path = Path(path)
    if format == "torch_export":
        program = torch.export.export(module, example, dynamic_shapes=dynamic)
        torch.export.save(program, path)
    else:
        import_optional("onnxscript", "onnx", "ONNX export")
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=["X"],
            output_names=["output"],
            dynamic_shapes=dynamic,
            dynamo=True,
            verbose=False,
        )
    return path
