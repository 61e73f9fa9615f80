"""A safe file format for fitted models: JSON configuration plus tensors only.

``pickle`` and ``joblib`` work on every sknorm model (and keep everything,
callbacks included), but loading a pickle runs whatever code the file names.
:func:`save` writes a file that :func:`load` reads with
``torch.load(weights_only=True)``: strings, numbers and tensors, nothing
executable. Only the classes sknorm knows are rebuilt, from an allowlist.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from skorch.history import History

from ._estimators import NormMLPClassifier, NormMLPRegressor
from ._scalers import InputScaler
from ._version import __version__

__all__ = ["load", "save"]

FORMAT = "sknorm-safe"
FORMAT_VERSION = 2  # 2: norm_params; every fitted attribute kept
_SCALERS = {
    c.__name__: c
    for c in (MinMaxScaler, StandardScaler, RobustScaler, QuantileTransformer)
}
_ESTIMATORS = {c.__name__: c for c in (NormMLPClassifier, NormMLPRegressor)}


class _Writer:
    """Turns values into JSON, putting numeric arrays aside as tensors."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}

    def value(self, v):
        if isinstance(v, np.ndarray):
            if v.dtype.kind in "biuf":
                key = f"t{len(self.tensors)}"
                self.tensors[key] = torch.from_numpy(np.ascontiguousarray(v)).clone()
                return {"__tensor__": key, "dtype": v.dtype.str}
            return {
                "__array__": v.tolist(),
                "dtype": v.dtype.str if v.dtype.kind in "U" else "O",
            }
        if isinstance(v, np.generic):
            return {"__scalar__": v.item(), "dtype": v.dtype.str}
        if isinstance(v, tuple):
            return {"__tuple__": [self.value(x) for x in v]}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if v is None or isinstance(v, bool | int | float | str):
            return v
        if type(v).__name__ in _SCALERS and type(v) is _SCALERS[type(v).__name__]:
            return {"__scaler__": type(v).__name__, "state": self.state(vars(v))}
        raise TypeError(f"cannot store a {type(v).__name__} in the safe format")

    def state(self, attrs: dict) -> dict:
        return {k: self.value(v) for k, v in attrs.items()}


class _Reader:
    def __init__(self, tensors: dict) -> None:
        self.tensors = tensors

    def value(self, v):
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "__tensor__" in v:
            return (
                self.tensors[v["__tensor__"]]
                .numpy()
                .astype(np.dtype(v["dtype"]), copy=True)
            )
        if "__array__" in v:
            return np.array(
                v["__array__"], dtype=object if v["dtype"] == "O" else v["dtype"]
            )
        if "__scalar__" in v:
            return np.dtype(v["dtype"]).type(v["__scalar__"])
        if "__tuple__" in v:
            return tuple(self.value(x) for x in v["__tuple__"])
        if "__scaler__" in v:
            cls = _SCALERS[v["__scaler__"]]
            obj = cls.__new__(cls)
            obj.__dict__.update(self.state(v["state"]))
            return obj
        raise ValueError(f"unknown entry in the model file: {sorted(v)}")

    def state(self, attrs: dict) -> dict:
        return {k: self.value(x) for k, x in attrs.items()}


def _params_for_file(est, w: _Writer) -> dict:
    params = {}
    dropped = []
    for name, value in est.get_params(deep=False).items():
        try:
            params[name] = w.value(value)
        except TypeError:
            dropped.append(name)
    if dropped:
        warnings.warn(
            f"{type(est).__name__}: the safe format keeps no objects; {dropped} "
            "are saved as their defaults (use pickle or joblib to keep them).",
            UserWarning,
            stacklevel=3,
        )
    return params


def _step_to_config(step, w: _Writer) -> dict:
    name = type(step).__name__
    if isinstance(step, InputScaler):
        fitted = {k: v for k, v in vars(step).items() if k.endswith("_")}
        return {
            "class": name,
            "params": _params_for_file(step, w),
            "fitted": w.state(fitted),
        }
    if name in _SCALERS and type(step) is _SCALERS[name]:
        return {"class": name, "scaler": w.value(step)}
    if name in _ESTIMATORS and type(step) is _ESTIMATORS[name]:
        module = step.net_.module_
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        prefix = f"m{len(w.tensors)}."
        for k, v in state.items():
            w.tensors[prefix + k] = v
        return {
            "class": name,
            "params": _params_for_file(step, w),
            "fitted": w.state(step._get_fitted_state()),
            "module_prefix": prefix,
            "module_keys": sorted(state),
            "history": json.loads(
                json.dumps(step.net_.history.to_list(), default=float)
            ),
        }
    raise TypeError(
        f"The safe format stores InputScaler, scikit-learn's MinMaxScaler, "
        f"StandardScaler, RobustScaler, QuantileTransformer and the sknorm "
        f"estimators; got a {name} step. Use pickle or joblib for it."
    )


def save(model, path: str | os.PathLike) -> Path:
    """Save a fitted sknorm estimator or pipeline in the safe format.

    Parameters
    ----------
    model : Pipeline, NormMLPClassifier, NormMLPRegressor or InputScaler
        Fitted. Pipeline steps must be sknorm objects or scikit-learn's scalers.
        Parameters that are objects (``callbacks``, an optimizer class) are not
        kept: they are saved as their defaults, with a warning.
    path : str or path-like
        The file to write.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import load_iris
    >>> from sknorm import NormMLPClassifier, make_norm_pipeline, save, load
    >>> X, y = load_iris(return_X_y=True)
    >>> pipe = make_norm_pipeline(NormMLPClassifier((8,), max_epochs=2)).fit(X, y)
    >>> path = save(pipe, os.path.join(tempfile.mkdtemp(), "model.sknorm"))
    >>> bool((load(path).predict_proba(X) == pipe.predict_proba(X)).all())
    True
    """
    w = _Writer()
    if isinstance(model, Pipeline):
        config = {
            "kind": "pipeline",
            "steps": [[name, _step_to_config(step, w)] for name, step in model.steps],
        }
    else:
        config = {"kind": "single", "step": _step_to_config(model, w)}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sknorm_version": __version__,
        "config": json.dumps(config),
        "tensors": w.tensors,
    }
    path = Path(path)
    torch.save(payload, path)
    return path


def _step_from_config(cfg: dict, r: _Reader, tensors: dict, where: str):
    name = cfg["class"]
    if name == "InputScaler":
        step = InputScaler(**r.state(cfg["params"]))
        step.__dict__.update(r.state(cfg["fitted"]))
        return step
    if name in _SCALERS:
        return r.value(cfg["scaler"])
    if name not in _ESTIMATORS:
        raise ValueError(f"{where}: unknown class {name!r} in the model file.")
    est = _ESTIMATORS[name](**r.state(cfg["params"]))
    fitted = r.state(cfg["fitted"])
    prefix = cfg["module_prefix"]
    state = {k: tensors[prefix + k] for k in cfg["module_keys"]}
    expected = est._net_shapes(fitted)
    problems = [
        f"{k}: file {tuple(state[k].shape)}, model {expected[k]}"
        for k in sorted(set(state) & set(expected))
        if tuple(state[k].shape) != expected[k]
    ]
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if problems or missing or extra:
        raise ValueError(
            f"{where}: the weights in the file do not fit the {name} they describe: "
            + "; ".join(
                problems
                + ([f"missing {missing}"] if missing else [])
                + ([f"unexpected {extra}"] if extra else [])
            )
        )
    est._restore_net(fitted, state, History(cfg["history"]))
    return est


def load(path: str | os.PathLike):
    """Load a model written by :func:`save`, without running code from the file.

    The file is read with ``torch.load(weights_only=True)``: a file that holds
    anything but strings, numbers and tensors (a pickle from a stranger, say)
    is refused.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    model : Pipeline, NormMLPClassifier, NormMLPRegressor or InputScaler
        Fitted, on the CPU. Its skorch ``history_`` is restored.

    Raises
    ------
    ValueError
        If the file is not a safe sknorm file, was written by a newer format,
        or its weights do not match the model it describes.
    """
    try:
        with warnings.catch_warnings():  # torch notes a foreign pickle's protocol
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(Path(path), weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as exc:
        raise ValueError(
            f"{path} is not a safe sknorm model file (it holds more than data, or "
            f"is damaged), so it was not loaded: {str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an sknorm model file written by sknorm.save.")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} uses sknorm file format {payload.get('format_version')} "
            f"(written by sknorm {payload.get('sknorm_version')}); this is sknorm "
            f"{__version__}, which reads format {FORMAT_VERSION}."
        )
    if payload.get("sknorm_version") != __version__:
        warnings.warn(
            f"{path} was written by sknorm {payload.get('sknorm_version')}; this is "
            f"sknorm {__version__}. Check its predictions.",
            UserWarning,
            stacklevel=2,
        )
    try:
        config = json.loads(payload["config"])
        tensors = payload["tensors"]
        r = _Reader(tensors)
        if config["kind"] == "pipeline":
            return Pipeline(
                [
                    (name, _step_from_config(cfg, r, tensors, f"step {name!r}"))
                    for name, cfg in config["steps"]
                ]
            )
        return _step_from_config(config["step"], r, tensors, "model")
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is a damaged sknorm model file: {exc!r}") from None
