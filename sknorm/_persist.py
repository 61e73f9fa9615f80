"""A safe file format for fitted models: JSON configuration plus tensors only.

``pickle`` and ``joblib`` work on every sknorm model (and keep everything,
callbacks included), but loading a pickle runs whatever code the file names.
:func:`save` writes a file that :func:`load` reads with
``torch.load(weights_only=True)``: strings, numbers and tensors, nothing
executable. Objects are rebuilt only from an allow-list of classes
(``ALLOWED``), by setting their attributes: no constructor or other code named
by the file runs. Sizes are checked against the bytes the file holds before
anything is built or copied, so a small crafted file cannot ask for gigabytes.

A file holds one model (``"kind"``): a pipeline, one estimator or
transformer, or a soft- or hard-voting ``VotingClassifier`` or
``VotingRegressor`` over sknorm pipelines (``sweep()``'s ensemble), each
member stored as a pipeline or estimator is.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    LabelEncoder,
    MinMaxScaler,
    OneHotEncoder,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._estimators import NormMLPClassifier, NormMLPRegressor
from ._pipeline import voting_members
from ._scalers import InputScaler, PiecewiseLinearEncoder, RobustClipScaler
from ._sweep import check_model_given
from ._tabular import TabularScaler
from ._version import __version__

__all__ = ["ALLOWED", "load", "save"]

FORMAT = "sknorm-safe"
#: 3: any allow-listed transformer, stored attribute by attribute. The
#: "voting" kind (an ensemble of pipelines) came later within 3: it changes no
#: older file, and an older sknorm refuses it as a damaged file.
FORMAT_VERSION = 3
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
#: Ensembles a file may hold: averages of sknorm pipelines or estimators.
_ENSEMBLES = {c.__name__: c for c in (VotingClassifier, VotingRegressor)}
#: The kinds of model a file holds (its configuration's ``"kind"``).
KINDS = ("pipeline", "single", "voting")
#: numpy scalar types a file may name (OneHotEncoder's ``dtype``, say).
_NUMPY_TYPES = {
    t.__name__: t
    for t in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64)
}
_ARRAY_KINDS = "biuf"
#: datetime64 and timedelta64 arrays (the categories of a column of dates),
#: stored as their int64 counts
_TIME_KINDS = "Mm"
MAX_DEPTH = 64


class _Writer:
    """Turns values into JSON, putting numeric arrays aside as tensors."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}

    def tensor(self, t: torch.Tensor) -> str:
        key = f"t{len(self.tensors)}"
        # a storage of its own, as load requires (_check_storages)
        self.tensors[key] = t.detach().clone(memory_format=torch.contiguous_format)
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
        if v.dtype.kind in _TIME_KINDS:  # their int64 counts, read in their unit
            t = torch.from_numpy(np.ascontiguousarray(v).view(np.int64)).clone()
            return {"__tensor__": self.tensor(t), "dtype": v.dtype.str}
        if v.dtype.kind not in "UO":
            raise TypeError(
                f"cannot store a {v.dtype} array in the safe format (in {where})"
            )
        items = [self.value(x, where) for x in v.ravel().tolist()]
        return {"__array__": items, "kind": v.dtype.kind, "shape": list(v.shape)}

    def state(self, attrs: dict, where: str) -> dict:
        return {k: self.value(v, f"{where}.{k}") for k, v in attrs.items()}


def _check_storages(tensors, path) -> None:
    """Every tensor of the file on a storage of its own: sknorm.save writes
    them so, and tensors sharing one storage would each pass
    :func:`_check_tensor` while the model built from them allocates each
    anew (a file of 1 MB asking for 200 MB, measured)."""
    if not isinstance(tensors, dict):
        return  # the configuration check names the problem
    seen: set[int] = set()
    for t in tensors.values():
        if not isinstance(t, torch.Tensor) or t.untyped_storage().nbytes() == 0:
            continue
        pointer = t.untyped_storage().data_ptr()
        if pointer in seen or t.storage_offset() != 0:
            raise ValueError(
                f"{path} is not a safe sknorm model file, so it was not loaded: "
                "its tensors share storage, which sknorm.save never writes."
            )
        seen.add(pointer)


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
    if dtype.kind not in _ARRAY_KINDS + _TIME_KINDS or dtype.itemsize > 16:
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


def _params_for_file(est, w: _Writer, skip: tuple[str, ...] = ()) -> dict:
    params = {}
    dropped = []
    for name, value in est.get_params(deep=False).items():
        if name in skip:
            continue
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
    if isinstance(step, BaseEstimator):
        try:
            check_is_fitted(step)
        except NotFittedError:
            raise NotFittedError(
                f"sknorm.save takes a fitted model; its {name} is not fitted: "
                "call fit first."
            ) from None
    if _ESTIMATORS.get(name) is type(step):
        changed = step._changed_since_built(step.n_features_in_)
        if changed:  # the file would rebuild another network around the weights
            raise ValueError(
                f"sknorm.save: the {name}'s {', '.join(changed)} changed (set_params) "
                "since its network was trained, and a model file rebuilds the "
                "network from the parameters: set them back, or fit again."
            )
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
    raise TypeError(
        f"The safe format stores the sknorm estimators and these transformers: "
        f"{', '.join(ALLOWED)}; got a {name} step. Use pickle or joblib for it."
    )


def _model_to_config(model, w: _Writer) -> dict:
    """A pipeline (kind "pipeline") or one estimator or transformer ("single")."""
    if isinstance(model, Pipeline):
        return {
            "kind": "pipeline",
            "steps": [[name, _step_to_config(step, w)] for name, step in model.steps],
        }
    return {"kind": "single", "step": _step_to_config(model, w)}


def _voting_to_config(model, members: list, w: _Writer) -> dict:
    """A fitted VotingClassifier or VotingRegressor (kind "voting"): its
    parameters but ``estimators``, each member as a pipeline or estimator, and
    the classifier's ``classes_``."""
    name = type(model).__name__
    if _ENSEMBLES.get(name) is not type(model):
        raise TypeError(f"The safe format does not store a {name}.")
    stored = []
    for member_name, member, frozen in members:
        kind = type(member).__name__
        if not isinstance(member, Pipeline) and _ESTIMATORS.get(kind) is not type(
            member
        ):
            raise TypeError(
                f"The {name}'s member {member_name!r} is a {kind}; the safe format "
                "stores an ensemble of sknorm pipelines or estimators "
                f"({', '.join(_ESTIMATORS)}, or a Pipeline ending in one). Use "
                "pickle or joblib for it."
            )
        try:
            config = _model_to_config(member, w)
        except TypeError as exc:
            raise TypeError(f"The {name}'s member {member_name!r}: {exc}") from None
        stored.append({"name": member_name, "frozen": frozen, "model": config})
    config = {
        "kind": "voting",
        "class": name,
        "params": _params_for_file(model, w, skip=("estimators",)),
        "members": stored,
    }
    if is_classifier(model):
        config["classes"] = w.value(model.classes_)
    return config


def save(model, path: str | os.PathLike) -> Path:
    """Save a fitted sknorm estimator, pipeline or ensemble in the safe format.

    Parameters
    ----------
    model : Pipeline, NormMLPClassifier, NormMLPRegressor, a transformer, \
VotingClassifier or VotingRegressor
        Fitted. Pipeline steps must be the sknorm estimators or transformers of
        ``ALLOWED``: sknorm's :class:`InputScaler` and :class:`TabularScaler`
        and scikit-learn's scalers, imputers, ``OneHotEncoder``,
        ``ColumnTransformer`` and ``Pipeline``. An ensemble
        (:func:`~sknorm.sweep`'s ``result.model`` when its ensemble won: a
        soft-voting ``VotingClassifier`` or a ``VotingRegressor`` over
        pipelines in ``FrozenEstimator``) is stored with its weights, its
        classes and each member as a pipeline or estimator; its members must
        be such pipelines or the sknorm estimators, frozen or not, none
        ``"drop"``. Parameters that are objects (``callbacks``, an optimizer
        class) are not kept: they are saved as their defaults, with a
        warning.
    path : str or path-like
        The file to write (``.sknorm`` by convention; not ``.onnx`` or
        ``.pt2``, which :func:`~sknorm.export` writes).

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        When ``path`` ends in ``.onnx`` or ``.pt2``.
    TypeError
        When a step, or an ensemble's member, cannot be stored; the message
        names it.
    sklearn.exceptions.NotFittedError
        When the model (a step of it, an ensemble) is not fitted.

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

    An ensemble, as :func:`~sknorm.sweep` builds one, loads fitted, its
    members frozen again:

    >>> from sklearn.ensemble import VotingClassifier
    >>> from sklearn.frozen import FrozenEstimator
    >>> other = make_norm_pipeline(NormMLPClassifier((4,), max_epochs=2)).fit(X, y)
    >>> votes = VotingClassifier(
    ...     [("a", FrozenEstimator(pipe)), ("b", FrozenEstimator(other))],
    ...     voting="soft",
    ... ).fit(X, y)
    >>> again = load(save(votes, os.path.join(tempfile.mkdtemp(), "votes.sknorm")))
    >>> bool((again.predict_proba(X) == votes.predict_proba(X)).all())
    True
    >>> type(again.named_estimators_["b"]).__name__
    'FrozenEstimator'
    """
    check_model_given(model, "sknorm.save")
    if Path(path).suffix.lower() in (".onnx", ".pt2"):  # export's formats
        raise ValueError(
            f"{os.fspath(path)!r} ends in {Path(path).suffix}, a file sknorm.export "
            "writes; sknorm.save writes its own safe format: use a path ending "
            "in .sknorm, or sknorm.export(model, path) for an exported model."
        )
    path = writable_path(path, "model.sknorm")
    w = _Writer()
    members = voting_members(model)
    if members is None:
        config = _model_to_config(model, w)
    else:
        config = _voting_to_config(model, members, w)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sknorm_version": __version__,
        "config": json.dumps(config),
        "tensors": w.tensors,
    }
    with written(path):
        torch.save(payload, path)
    return path


@contextlib.contextmanager
def written(path: Path) -> Iterator[None]:
    """Writing ``path``: torch's writers fail with a RuntimeError that does
    not name it (``[enforce fail at inline_container.cc] ... open file
    failed``); an OSError naming the path instead."""
    try:
        yield
    except RuntimeError as exc:
        if "open file failed" not in str(exc) and "file write failed" not in str(exc):
            raise
        reason = str(exc).rsplit("strerror:", 1)[-1].strip() or "write failed"
        raise OSError(f"Could not write {path}: {reason}.") from None


def writable_path(path: str | os.PathLike, example: str) -> Path:
    """``path`` as a file to write: an IsADirectoryError when it is a folder,
    a FileNotFoundError when its folder does not exist (``example`` names a
    file to suggest), before anything is built or written."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a folder; give a file to write in it, e.g. {path / example}."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"The folder {path.parent} does not exist; create it first, or write "
            "somewhere else."
        )
    if not os.access(path.parent, os.W_OK) or (
        path.exists() and not os.access(path, os.W_OK)
    ):
        raise PermissionError(f"{path} cannot be written here (permission denied).")
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


def _model_from_config(config: dict, r: _Reader, where: str = ""):
    """The model of a "pipeline" or "single" configuration; ``where`` (the
    ensemble's member, or empty) prefixes the names in errors."""
    kind = config.get("kind")
    if kind == "pipeline":
        return Pipeline(
            [
                (name, _step_from_config(cfg, r, f"{where}step {name!r}"))
                for name, cfg in config["steps"]
            ]
        )
    if kind == "single":
        return _step_from_config(config["step"], r, where.rstrip(", ") or "model")
    if where:
        raise ValueError(
            f"{where}a model of kind {kind!r}: an ensemble's members are of kind "
            "'pipeline' or 'single'."
        )
    raise ValueError(
        f"unknown kind of model {kind!r}: this is sknorm {__version__}, which "
        f"reads {', '.join(map(repr, KINDS))} (a newer sknorm may have written it)."
    )


def _voting_from_config(config: dict, r: _Reader):
    """A fitted VotingClassifier or VotingRegressor with the attributes its
    ``fit`` sets, each member a stored pipeline or estimator (frozen again
    when it was)."""
    name = config["class"]
    cls = _ENSEMBLES.get(name)
    if cls is None:
        raise ValueError(f"ensemble class {name!r} is not allowed in a model file.")
    members = config["members"]
    if not isinstance(members, list) or not members:
        raise ValueError(f"the {name} has no members.")
    fitted = []
    for member in members:
        member_name = member["name"]
        if not isinstance(member_name, str):
            raise ValueError(f"a member of the {name} is named {member_name!r}.")
        model = _model_from_config(member["model"], r, f"member {member_name!r}, ")
        fitted.append(
            (member_name, FrozenEstimator(model) if member["frozen"] else model)
        )
    # As fit leaves it: a frozen member is itself in estimators (FrozenEstimator
    # clones to itself); another has an unfitted clone there.
    estimators = [
        (n, m if isinstance(m, FrozenEstimator) else clone(m)) for n, m in fitted
    ]
    ensemble = cls(estimators, **r.state(config["params"]))
    ensemble._validate_params()  # scikit-learn's checks of voting, weights, ...
    ensemble._validate_estimators()  # names; classifiers in a classifier
    weights = ensemble.weights
    if weights is not None:
        weights = np.asarray(weights)
        if weights.shape != (len(fitted),) or weights.dtype.kind not in "iuf":
            raise ValueError(
                f"the {name} has {len(fitted)} members and weights {weights.tolist()}."
            )
    if is_classifier(ensemble):
        if "classes" not in config:
            raise ValueError(f"the {name}'s classes are missing.")
        classes = r.value(config["classes"])
        if not isinstance(classes, np.ndarray) or classes.ndim != 1:
            raise ValueError(f"the {name}'s classes are not a list of labels.")
        for member_name, model in fitted:
            if len(model.classes_) != len(classes):
                raise ValueError(
                    f"the {name} has {len(classes)} classes, its member "
                    f"{member_name!r} {len(model.classes_)}."
                )
        ensemble.le_ = LabelEncoder()
        ensemble.le_.classes_ = ensemble.classes_ = classes
    ensemble.estimators_ = [m for _, m in fitted]
    ensemble.named_estimators_ = Bunch(**dict(fitted))
    for _, model in fitted:  # as fit sets it: the last member's that has one
        if hasattr(model, "feature_names_in_"):
            ensemble.feature_names_in_ = model.feature_names_in_
    return ensemble


def _unreadable(exc: Exception, path) -> str:
    """Why torch.load refused a file, in the safe format's terms (torch's own
    message suggests ``weights_only=False``, which would run the file)."""
    text = str(exc)
    if isinstance(exc, EOFError) or "Ran out of input" in text:
        return "it is empty or cut short"
    with open(path, "rb") as file:
        start = file.read(2)
    if "Unsupported global" in text or start[:1] == b"\x80":  # a pickle
        return (
            "it holds Python objects, not only data (a pickle or joblib file, "
            "say), which may run code, and sknorm.load never runs any; load a "
            "pickle only from a source you trust, with joblib.load or pickle.load"
        )
    if start != b"PK":  # torch.save writes a zip archive
        return "it is neither a file torch.save wrote nor a pickle"
    first = (text.strip().splitlines() or [""])[0].split(". ")[0]
    return f"it is damaged ({type(exc).__name__}: {first})"


def _read_payload(path) -> dict:
    try:
        with warnings.catch_warnings():  # torch notes a foreign pickle's protocol
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(Path(path), weights_only=True, map_location="cpu")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise  # the path, not the file's content: as open() says
    except Exception as exc:  # unpickling errors of every kind: one ValueError
        raise ValueError(
            f"{path} is not a safe sknorm model file, so it was not loaded: "
            f"{_unreadable(exc, path)}."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an sknorm model file written by sknorm.save.")
    _check_storages(payload.get("tensors"), path)
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
    is refused. Objects are rebuilt only from the classes in ``ALLOWED``, the
    sknorm estimators, and scikit-learn's ``VotingClassifier``,
    ``VotingRegressor`` and ``FrozenEstimator`` for an ensemble.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    model : Pipeline, NormMLPClassifier, NormMLPRegressor, a transformer, \
VotingClassifier or VotingRegressor
        Fitted, on the CPU. Its skorch ``history_`` is restored. An ensemble
        has the attributes its ``fit`` sets (``estimators_``,
        ``named_estimators_``, ``classes_`` and ``le_`` for a classifier,
        ``feature_names_in_`` where its members have them), so ``predict``,
        ``predict_proba`` and ``score`` give the saved model's answers; the
        members that were in a ``FrozenEstimator`` are again, so its ``fit``
        keeps them.

    Raises
    ------
    ValueError
        If the file is not a safe sknorm file, was written by a newer format
        (or holds a kind of model this sknorm does not know), is damaged, or
        its weights do not match the model it describes.
    """
    payload = _read_payload(path)
    try:
        config = json.loads(payload["config"])
        r = _Reader(payload["tensors"])
        if config["kind"] == "voting":
            return _voting_from_config(config, r)
        return _model_from_config(config, r)
    except ValueError as exc:
        raise ValueError(f"{path} is a damaged sknorm model file: {exc}") from None
    except Exception as exc:  # whatever a crafted file trips: one ValueError
        raise ValueError(f"{path} is a damaged sknorm model file: {exc!r}") from None
