"""A safe file format for fitted models: JSON configuration plus tensors only.

``pickle`` and ``joblib`` work on every sknorm model (and keep everything,
callbacks included), but loading a pickle runs whatever code the file names.
:func:`save` writes a file that :func:`load` reads with
``torch.load(weights_only=True)``: strings, numbers and tensors, nothing
executable. Objects are rebuilt only from an allow-list of classes
(``ALLOWED``), by setting their attributes: no constructor or other code named
by the file runs. Sizes are checked against the bytes the file holds before
anything is built or copied, so a small crafted file cannot ask for gigabytes.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from skorch.history import History

from ._estimators import NormMLPClassifier, NormMLPRegressor
from ._scalers import InputScaler, PiecewiseLinearEncoder, RobustClipScaler
from ._tabular import TabularScaler
from ._version import __version__

__all__ = ["ALLOWED", "load", "save"]

FORMAT = "sknorm-safe"
FORMAT_VERSION = 3  # 3: any allow-listed transformer, stored attribute by attribute
#: Transformers a file may hold, stored attribute by attribute.
ALLOWED = {
    c.__name__: c
    for c in (
        InputScaler,
        TabularScaler,
        RobustClipScaler,
        PiecewiseLinearEncoder,
        MinMaxScaler,
        StandardScaler,
        RobustScaler,
        QuantileTransformer,
        SimpleImputer,
        MissingIndicator,
        OneHotEncoder,
        ColumnTransformer,
        Pipeline,
    )
}
_ESTIMATORS = {c.__name__: c for c in (NormMLPClassifier, NormMLPRegressor)}
#: numpy scalar types a file may name (OneHotEncoder's ``dtype``, say).
_NUMPY_TYPES = {
    t.__name__: t
    for t in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64)
}
_ARRAY_KINDS = "biuf"
MAX_DEPTH = 64


class _Writer:
    """Turns values into JSON, putting numeric arrays aside as tensors."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}

    def tensor(self, t: torch.Tensor) -> str:
        key = f"t{len(self.tensors)}"
        self.tensors[key] = t
        return key

    def value(self, v, where: str = "model"):
        if v is None or isinstance(v, bool | int | float | str):
            return v
        if isinstance(v, list):
            return [self.value(x, where) for x in v]
        if isinstance(v, tuple):
            return {"__tuple__": [self.value(x, where) for x in v]}
        if isinstance(v, dict):
            return {
                "__dict__": [
                    [self.value(k), self.value(x, where)] for k, x in v.items()
                ]
            }
        if isinstance(v, np.ndarray):
            return self.array(v, where)
        if isinstance(v, np.generic):
            return {"__scalar__": v.item(), "dtype": v.dtype.str}
        if isinstance(v, np.dtype):
            return {"__dtype__": v.str}
        if isinstance(v, type) and _NUMPY_TYPES.get(v.__name__) is v:
            return {"__type__": v.__name__}
        if isinstance(v, slice):
            return {"__slice__": [v.start, v.stop, v.step]}
        name = type(v).__name__
        if ALLOWED.get(name) is type(v):
            return {"__object__": name, "state": self.state(vars(v), f"{where}.{name}")}
        raise TypeError(f"cannot store a {name} in the safe format (in {where})")

    def array(self, v: np.ndarray, where: str) -> dict:
        if v.dtype.kind in _ARRAY_KINDS:
            t = torch.from_numpy(np.ascontiguousarray(v)).clone()
            return {"__tensor__": self.tensor(t), "dtype": v.dtype.str}
        if v.dtype.kind not in "UO":
            raise TypeError(f"cannot store a {v.dtype} array in the safe format")
        items = [self.value(x, where) for x in v.ravel().tolist()]
        return {"__array__": items, "kind": v.dtype.kind, "shape": list(v.shape)}

    def state(self, attrs: dict, where: str) -> dict:
        return {k: self.value(v, f"{where}.{k}") for k, v in attrs.items()}


def _check_tensor(t, key: str) -> torch.Tensor:
    """A stored tensor whose elements all lie in its own storage."""
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"tensor {key!r} is not a tensor")
    needed = t.numel() * t.element_size()
    if not t.is_contiguous() or needed > t.untyped_storage().nbytes():
        raise ValueError(
            f"tensor {key!r} declares shape {tuple(t.shape)} over "
            f"{t.untyped_storage().nbytes()} bytes of data"
        )
    return t


def _numeric_dtype(text) -> np.dtype:
    dtype = np.dtype(str(text))
    if dtype.kind not in _ARRAY_KINDS or dtype.itemsize > 16:
        raise ValueError(f"unsupported dtype {text!r}")
    return dtype


class _Reader:
    """Turns the file's JSON back into values, building allowed classes only."""

    def __init__(self, tensors: dict) -> None:
        self.tensors = tensors

    def value(self, v, depth: int = 0):
        if depth > MAX_DEPTH:
            raise ValueError(f"the configuration is nested deeper than {MAX_DEPTH}")
        if isinstance(v, list):
            return [self.value(x, depth + 1) for x in v]
        if not isinstance(v, dict):
            return v
        kind = next(iter(v), None)
        decode = self._DECODERS.get(kind)
        if decode is None:
            raise ValueError(f"unknown entry in the model file: {sorted(v)}")
        return decode(self, v, depth + 1)

    def _tensor(self, v, depth):
        t = _check_tensor(self.tensors[v["__tensor__"]], v["__tensor__"])
        return t.numpy().astype(_numeric_dtype(v["dtype"]), copy=True)

    def _array(self, v, depth):
        items = self.value(v["__array__"], depth)
        shape = tuple(int(n) for n in v["shape"])
        if int(np.prod(shape)) != len(items) or v["kind"] not in ("U", "O"):
            raise ValueError(f"array of shape {shape} holds {len(items)} items")
        if v["kind"] == "U":  # numpy sizes the strings from the data itself
            return np.array([str(x) for x in items], dtype=str).reshape(shape)
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(shape)

    def _object(self, v, depth):
        cls = ALLOWED.get(v["__object__"])
        if cls is None:
            raise ValueError(
                f"class {v['__object__']!r} is not allowed in a model file"
            )
        obj = cls.__new__(cls)
        obj.__dict__.update(self.state(v["state"], depth))
        return obj

    def state(self, attrs: dict, depth: int = 0) -> dict:
        if not isinstance(attrs, dict):
            raise ValueError("an object's state is not a mapping")
        return {str(k): self.value(x, depth + 1) for k, x in attrs.items()}

    _DECODERS = {
        "__tensor__": _tensor,
        "__array__": _array,
        "__object__": _object,
        "__tuple__": lambda self, v, d: tuple(self.value(v["__tuple__"], d)),
        "__dict__": lambda self, v, d: {
            self.value(k, d): self.value(x, d) for k, x in v["__dict__"]
        },
        "__scalar__": lambda self, v, d: _numeric_dtype(v["dtype"]).type(
            v["__scalar__"]
        ),
        "__dtype__": lambda self, v, d: np.dtype(str(v["__dtype__"])),
        "__type__": lambda self, v, d: _NUMPY_TYPES[v["__type__"]],
        "__slice__": lambda self, v, d: slice(*v["__slice__"]),
    }


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
    if _ESTIMATORS.get(name) is type(step):
        module = step.net_.module_
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        return {
            "class": name,
            "params": _params_for_file(step, w),
            "fitted": w.state(step._get_fitted_state(), name),
            "module": {k: w.tensor(v) for k, v in state.items()},
            "history": json.loads(
                json.dumps(step.net_.history.to_list(), default=float)
            ),
        }
    if ALLOWED.get(name) is type(step):
        return {"class": name, "object": w.value(step)}
    if name in ("VotingClassifier", "VotingRegressor"):
        raise TypeError(
            f"The safe format stores one pipeline or estimator; got a {name}, an "
            "average of several (sweep()'s result.model when its ensemble won). "
            "Save each fitted pipeline (its estimators_[i].estimator), or the "
            "best one (result.best_estimator), or the whole with pickle or joblib."
        )
    raise TypeError(
        f"The safe format stores the sknorm estimators and these transformers: "
        f"{', '.join(ALLOWED)}; got a {name} step. Use pickle or joblib for it."
    )


def save(model, path: str | os.PathLike) -> Path:
    """Save a fitted sknorm estimator or pipeline in the safe format.

    Parameters
    ----------
    model : Pipeline, NormMLPClassifier, NormMLPRegressor or a transformer
        Fitted. Pipeline steps must be the sknorm estimators or transformers of
        ``ALLOWED``: sknorm's :class:`InputScaler` and :class:`TabularScaler`
        and scikit-learn's scalers, imputers, ``OneHotEncoder``,
        ``ColumnTransformer`` and ``Pipeline``. Parameters that are objects
        (``callbacks``, an optimizer class) are not kept: they are saved as
        their defaults, with a warning.
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


def _estimator_from_config(cfg: dict, r: _Reader, where: str):
    name = cfg["class"]
    est = _ESTIMATORS[name](**r.state(cfg["params"]))
    fitted = r.state(cfg["fitted"])
    state = {k: _check_tensor(r.tensors[key], key) for k, key in cfg["module"].items()}
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


def _step_from_config(cfg: dict, r: _Reader, where: str):
    name = cfg["class"]
    if name in _ESTIMATORS:
        return _estimator_from_config(cfg, r, where)
    if name not in ALLOWED:
        raise ValueError(f"{where}: class {name!r} is not allowed in a model file.")
    step = r.value(cfg["object"])
    if type(step) is not ALLOWED[name]:
        raise ValueError(f"{where}: the file's {name} is a {type(step).__name__}.")
    return step


def _read_payload(path) -> dict:
    try:
        with warnings.catch_warnings():  # torch notes a foreign pickle's protocol
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(Path(path), weights_only=True, map_location="cpu")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise  # the path, not the file's content: as open() says
    except Exception as exc:  # unpickling errors of every kind: one ValueError
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(
            f"{path} is not a safe sknorm model file (it holds more than data, or "
            f"is damaged), so it was not loaded: {reason}"
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
            stacklevel=3,
        )
    return payload


def load(path: str | os.PathLike):
    """Load a model written by :func:`save`, without running code from the file.

    The file is read with ``torch.load(weights_only=True)``: a file that holds
    anything but strings, numbers and tensors (a pickle from a stranger, say)
    is refused. Objects are rebuilt only from the classes in ``ALLOWED`` and
    the sknorm estimators.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    model : Pipeline, NormMLPClassifier, NormMLPRegressor or a transformer
        Fitted, on the CPU. Its skorch ``history_`` is restored.

    Raises
    ------
    ValueError
        If the file is not a safe sknorm file, was written by a newer format,
        is damaged, or its weights do not match the model it describes.
    """
    payload = _read_payload(path)
    try:
        config = json.loads(payload["config"])
        r = _Reader(payload["tensors"])
        if config["kind"] == "pipeline":
            return Pipeline(
                [
                    (name, _step_from_config(cfg, r, f"step {name!r}"))
                    for name, cfg in config["steps"]
                ]
            )
        return _step_from_config(config["step"], r, "model")
    except ValueError as exc:
        raise ValueError(f"{path} is a damaged sknorm model file: {exc}") from None
    except Exception as exc:  # whatever a crafted file trips: one ValueError
        raise ValueError(f"{path} is a damaged sknorm model file: {exc!r}") from None
