"""The normalization sweep: input scaling x hidden norm, cross-validated.

A thin layer over :class:`~sklearn.model_selection.GridSearchCV`: it picks the
estimator from the target, builds :func:`make_norm_pipeline` and
:func:`normalization_grid`, fixes the seeds, runs the search (optionally on a
Dask cluster, optionally with a progress bar) and returns the search with a
tidy table and per-epoch training curves. It takes raw tables: every fold fits
its own :class:`TabularScaler` inside the pipeline, and the data is checked
before any fit (each column's kind, the target's blanks, the task). tqdm,
matplotlib and distributed are optional extras, imported only when used.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from joblib import effective_n_jobs, parallel_config
from sklearn import config_context
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import get_scorer, log_loss, mean_squared_error
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    ParameterGrid,
    StratifiedKFold,
    check_cv,
    train_test_split,
)
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_sample_weight, check_consistent_length
from skorch.callbacks import Callback

from ._estimators import NormMLPClassifier, NormMLPRegressor
from ._optional import import_optional
from ._pipeline import (
    DEFAULT_NORMS,
    DEFAULT_SCALINGS,
    NET_STEP,
    SCALE_STEP,
    candidate_scaling,
    make_norm_pipeline,
    normalization_grid,
)
from ._search import PackedSearchCV, _several_outputs, reporting_progress
from ._tabular import TabularScaler

__all__ = ["SweepResult", "sweep"]

TASKS = ("auto", "classification", "regression")
#: The search engines of :func:`sweep`.
ENGINES = ("grid", "packed")

#: How many of the best candidates ``sweep(ensemble="auto")`` averages with
#: the packed engine: 3 held on all 11 sets of ``benchmarks/bench_quality.py``
#: (the README's "Quality"), where the best candidate alone lost one.
AUTO_ENSEMBLE = 3
_REGRESSION_TARGETS = ("continuous", "continuous-multioutput")
#: The loss the curves measure, by task.
LOSSES = {"classification": "log loss", "regression": "mean squared error"}
_STATES_CALLBACK = "sknorm_epoch_states"
#: Share of the data held out by the curve fits.
CURVE_VALIDATION_FRACTION = 0.2

#: The columns that name a candidate, in :attr:`SweepResult.table` and
#: :attr:`SweepResult.curves`.
CANDIDATE_COLUMNS: tuple[str, ...] = ("scaling", "norm")
#: Columns of :attr:`SweepResult.table`, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    *CANDIDATE_COLUMNS,
    "mean_score",
    "std_score",
    "mean_fit_time",
    "rank",
)
#: Columns of :attr:`SweepResult.curves`, in order.
CURVE_COLUMNS: tuple[str, ...] = (
    *CANDIDATE_COLUMNS,
    "epoch",
    "train_loss",
    "valid_loss",
)


def _candidate(params: dict) -> tuple[str, str]:
    """A candidate's ``(scaling, norm)``, from its search parameters."""
    scaling = candidate_scaling(
        params, f"{SCALE_STEP}__method", f"{NET_STEP}__input_embedding"
    )
    return scaling, params[f"{NET_STEP}__norm"]


# -- the target, the task and the data ----------------------------------------------
#: The task rule (see :func:`sweep`, ``task``): a numeric target is classes when
#: its values are whole numbers and there are two of them, or at most
#: ``AUTO_MAX_CLASSES`` with ``AUTO_MIN_ROWS_PER_CLASS`` rows each on average.
AUTO_MAX_CLASSES = 20
AUTO_MIN_ROWS_PER_CLASS = 5
#: A classification with more classes, or fewer rows per class on average,
#: warns: most classes cannot be learned from so few rows.
WARN_CLASSES = 50
WARN_ROWS_PER_CLASS = 3
_NUMBER_VALUES = {"integer", "floating", "mixed-integer-float", "decimal"}


def _target_name(y) -> str:
    """``y``, with its name when it has one: ``y ('price')``."""
    name = getattr(y, "name", None)
    return "y" if name is None else f"y ({name!r})"


def _check_target(y) -> None:
    """A one-line error naming ``y`` when any of its values is blank."""
    blank = pd.isna(np.asarray(y, dtype=object))
    if blank.ndim == 2:
        blank = blank.any(axis=1)
    if blank.any():
        first = int(np.flatnonzero(blank)[0])
        raise ValueError(
            f"{_target_name(y)} is blank in {int(blank.sum())} of {blank.size} "
            f"rows (the first at position {first}); drop those rows or fill them in."
        )


def _label_kind(y) -> str | None:
    """What kind of labels ``y`` holds ("text labels", "boolean values",
    "categories"), or None when it holds numbers."""
    if isinstance(getattr(y, "dtype", None), pd.CategoricalDtype):
        return "categories"
    values = np.asarray(y)
    if values.dtype.kind == "b":
        return "boolean values"
    if values.dtype.kind not in "OSU":
        return None
    inferred = pd.api.types.infer_dtype(values.ravel(), skipna=True)
    if inferred in _NUMBER_VALUES:
        return None
    if inferred in ("string", "bytes", "boolean"):
        return "boolean values" if inferred == "boolean" else "text labels"
    raise ValueError(
        f"{_target_name(y)} mixes kinds of values ({inferred}); make it all "
        "numbers or all labels."
    )


def _numeric_task(values: np.ndarray) -> tuple[str, str]:
    """The task rule on a numeric target, and the reason in words."""
    if values.ndim == 2 and values.shape[1] > 1:
        kind = type_of_target(values, input_name="y")
        if kind == "multilabel-indicator":
            raise ValueError(
                "sweep() supports binary, multiclass and continuous targets; "
                f"y is {kind!r}."
            )
        return "regression", f"y has {values.shape[1]} columns of numbers"
    values = values.ravel()
    if not np.isfinite(values).all():
        raise ValueError("y contains infinity; a target must be finite.")
    fraction = values[values != np.round(values)]
    if fraction.size:
        return "regression", f"y has values that are not whole (e.g. {fraction[0]:g})"
    n_values = np.unique(values).size
    per_value = values.size / n_values
    counted = f"y has {n_values:,} distinct whole-number values"
    if n_values <= 2 or (
        n_values <= AUTO_MAX_CLASSES and per_value >= AUTO_MIN_ROWS_PER_CLASS
    ):
        return "classification", f"{counted}, {per_value:,.0f} rows each on average"
    if n_values > AUTO_MAX_CLASSES:
        return "regression", f"{counted}, more than {AUTO_MAX_CLASSES}"
    return "regression", (
        f"{counted} with {per_value:.1f} rows each on average, fewer than "
        f"{AUTO_MIN_ROWS_PER_CLASS}"
    )


def _resolve_task(y, task: str) -> tuple[str, str]:
    """``(task, reason)``: ``task`` itself, or the rule of :func:`sweep` on ``y``.

    The reason says in a few words why, e.g. "y has 3 distinct whole-number
    values, 50 rows each on average".
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    if task != "auto":
        return task, f"task={task!r} was given"
    labels = _label_kind(y)
    if labels is not None:
        if np.ndim(y) == 2 and np.shape(y)[1] > 1:
            raise ValueError(
                f"sweep() supports one column of labels; y has {np.shape(y)[1]}."
            )
        n_values = np.unique(np.asarray(y, dtype=object).ravel()).size
        return "classification", f"y holds {n_values:,} distinct {labels}"
    return _numeric_task(np.asarray(y, dtype=np.float64))


def _warn_about_classes(y) -> None:
    """Warn when there are too many classes for the rows to learn them."""
    n_classes = np.unique(np.asarray(y).ravel()).size
    per_class = np.size(y) / n_classes
    if n_classes > WARN_CLASSES or per_class < WARN_ROWS_PER_CLASS:
        warnings.warn(
            f"y has {n_classes:,} classes with {per_class:.1f} rows each on "
            "average: too few to learn most of them. If y is a quantity, use "
            "task='regression'.",
            UserWarning,
            stacklevel=3,
        )


def _check_data(X, y, task: str, scalings: list[str]) -> None:
    """Fail before any fit, in one line naming the column, on data no
    candidate could be trained on (an all-blank column, numbers mixed with
    text, infinity, a date left unscaled, one class, ...)."""
    check_consistent_length(X, y)
    kinds = TabularScaler("minmax").fit(X).column_kinds_
    dates = [name for name, kind in kinds.items() if kind == "date"]
    if dates and "none" in scalings:
        raise ValueError(
            f"Date column {dates[0]!r} must be scaled, but scalings include "
            "'none' (its day counts, near 20,000, would swamp the network); "
            "leave 'none' out of scalings or drop the column."
        )
    if task == "classification":
        if np.unique(np.asarray(y)).size < 2:
            raise ValueError(
                "y has only one class; a classification sweep needs at least two."
            )
        return
    if _label_kind(y) is not None:
        raise ValueError(
            f"A regression needs numbers in {_target_name(y)}, which holds labels."
        )


def _splitter(cv, y, task: str, random_state):
    """An int ``cv`` becomes a shuffled, seeded (Stratified)KFold."""
    if isinstance(cv, Integral) and not isinstance(cv, bool):
        if task == "classification":
            _check_class_sizes(y, int(cv))
            return StratifiedKFold(int(cv), shuffle=True, random_state=random_state)
        return KFold(int(cv), shuffle=True, random_state=random_state)
    return check_cv(cv, y, classifier=task == "classification")


def _check_class_sizes(y, n_splits: int) -> None:
    """Every class in every fold's training part: at least ``n_splits`` rows
    of each, or an error before any fit (scikit-learn only warns, and the
    search then scores folds that never saw the class)."""
    labels, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
    if counts.min() < n_splits:
        rare = str(labels[counts.argmin()])
        raise ValueError(
            f"class {rare!r} of y has only {counts.min()} row(s), fewer than the "
            f"{n_splits} CV folds; drop or merge it, or use a smaller cv."
        )


def _scoring_name(scoring, task: str) -> str:
    if scoring is None:
        return "accuracy" if task == "classification" else "r2"
    if isinstance(scoring, str):
        return scoring
    if callable(scoring):
        return getattr(scoring, "__name__", None) or "score"
    raise ValueError(
        "scoring must be None, a scorer name or a callable scorer(estimator, X, y);"
        f" got {scoring!r}."
    )


#: ``(reporter, group_size)`` while :func:`sweep` runs a search with a progress
#: bar. A context variable rather than an attribute: scikit-learn may pickle the
#: search to its workers, and a progress bar does not pickle.
_SEARCH_REPORTER: ContextVar[tuple[Callable[[int], Any], int] | None] = ContextVar(
    "sknorm_search_reporter", default=None
)


class _NotesFitErrors:
    """A search that keeps each candidate's first failed fit, for the report:
    scikit-learn keeps the tracebacks only for its warning."""

    def _format_results(self, candidate_params, n_splits, out, more_results=None):
        self.fit_errors_ = [
            next(
                (
                    _error_line(o["fit_error"])
                    for o in out[i * n_splits : (i + 1) * n_splits]
                    if o["fit_error"]
                ),
                None,
            )
            for i in range(len(candidate_params))
        ]
        return super()._format_results(candidate_params, n_splits, out, more_results)


class _SweepSearchCV(_NotesFitErrors, GridSearchCV):
    """:class:`GridSearchCV` that can report progress between candidate groups.

    Outside :func:`sweep`'s progress bar it runs exactly like ``GridSearchCV``:
    every candidate x fold fit in one parallel call. Inside it, it hands the
    candidates to ``evaluate_candidates`` ``group_size`` at a time - the hook
    scikit-learn provides for custom search schedules - and calls
    ``reporter(n_candidates)`` in this process after each group has finished all
    its folds. ``cv_results_`` are the same either way; only the order in which
    the fits run differs.
    """

    def _run_search(self, evaluate_candidates):
        candidates = list(ParameterGrid(self.param_grid))
        reporting = _SEARCH_REPORTER.get()
        if reporting is None:
            evaluate_candidates(candidates)
            return
        reporter, group_size = reporting
        for start in range(0, len(candidates), group_size):
            group = candidates[start : start + group_size]
            evaluate_candidates(group)
            reporter(len(group))


def _packed_curves(search, X, y) -> pd.DataFrame:
    """The packed run's per-member curves, averaged over the folds.

    A regressor trains on its standardized target; a 1-D target's losses are
    put back in the target's units with each fold's target variance.
    """
    units = np.ones(search.n_splits_)
    net = search.estimator[-1]
    if np.ndim(y) == 1 and getattr(net, "scale_target", False):
        units = [np.var(y[train]) for train, _ in search.cv.split(X, y)]
    rows = [
        (
            *_candidate(r["params"]),
            r["epoch"],
            r["train_loss"] * units[r["fold"]],
            r["valid_loss"] * units[r["fold"]],
        )
        for r in search.curves_
    ]
    frame = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    keys = list(CURVE_COLUMNS[:3])
    return frame.groupby(keys, as_index=False, sort=False).mean()


def _weights(sample_weight, y) -> np.ndarray:
    """Validated weights, one per row of ``y``, none negative."""
    return _check_sample_weight(sample_weight, y, ensure_non_negative=True)


@contextlib.contextmanager
def _routing_weights(search, sample_weight) -> Iterator[dict]:
    """``search.fit``'s parameters: none, or ``sample_weight`` routed the
    scikit-learn way (metadata routing) to the network's fit and to the
    scores, so training and every CV score are weighted."""
    if sample_weight is None:
        yield {}
        return
    with config_context(enable_metadata_routing=True):
        net = search.estimator[-1]
        net.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
        if isinstance(search.scoring, str):
            scorer = get_scorer(search.scoring)
            search.scoring = scorer.set_score_request(sample_weight=True)
        yield {"sample_weight": sample_weight}


def _sweep_curves(
    search, X, y, task, random_state, advance, sample_weight=None
) -> pd.DataFrame:
    """The curves: from the packed run itself, else one more fit per candidate."""
    if getattr(search, "packed_", False):
        return _packed_curves(search, X, y)
    return _curves(search, X, y, task, random_state, advance, sample_weight)


def _loss_name(search, task: str, curves, y) -> str:
    """What the curves measure: the packed run records the training criterion
    (a regressor's on its standardized target)."""
    packed = curves is not None and getattr(search, "packed_", False)
    if packed and task == "regression" and search.estimator[-1].scale_target:
        if np.ndim(y) > 1:
            return "mean squared error (standardized targets)"
    return LOSSES[task]


class _PackedSweepSearchCV(_NotesFitErrors, PackedSearchCV):
    """:class:`PackedSearchCV` noting each candidate's first failed fit, its
    ensemble's members named by scaling and norm ("standard/layer")."""

    def _member_name(self, index: int, params: dict) -> str:
        return "/".join(_candidate(params))


def _error_line(traceback_text: str) -> str:
    """``"TrainingDivergedError: Training diverged: ..."`` from a traceback."""
    lines = [line for line in traceback_text.strip().splitlines() if line.strip()]
    kind, _, message = lines[-1].partition(": ")
    return f"{kind.rsplit('.', 1)[-1]}: {message}" if message else kind


def _failures(search) -> dict[tuple[str, str], str]:
    """``(scaling, norm)`` -> the first error of each candidate with a failed fit."""
    errors = getattr(search, "fit_errors_", [])
    return {
        _candidate(params): error
        for params, error in zip(search.cv_results_["params"], errors, strict=False)
        if error
    }


@contextlib.contextmanager
def _reporting(reporter: Callable[[int], Any], group_size: int) -> Iterator:
    token = _SEARCH_REPORTER.set((reporter, max(int(group_size), 1)))
    try:
        yield
    finally:
        _SEARCH_REPORTER.reset(token)


def _check_scored(search, X, y, scoring: str) -> None:
    """A ValueError naming the cause when no candidate has a score: its fits
    ran (scikit-learn raises when every fit fails) but the scorer failed on
    every fold, as ``"f1"`` does on text labels without a ``pos_label`` or
    ``"roc_auc"`` on three classes; scikit-learn only warns, and would hand
    back an arbitrary candidate refit as the best."""
    if np.isfinite(search.cv_results_["mean_test_score"]).any():
        return
    failures = _failures(search)
    if failures:
        (scaling, norm), error = next(iter(failures.items()))
        cause = f"the fit of scaling={scaling!r}, norm={norm!r} failed: {error}"
    else:
        cause = "the scorer failed or returned NaN on every fold"
        # the scorer's own error, on the refit model or (refit=False) on a
        # dummy of the same task: the usual causes are in the labels
        model = getattr(search, "best_estimator_", None)
        if model is None:
            X = np.zeros((len(y), 1))
            dummy = (
                DummyClassifier()
                if is_classifier(search.estimator)
                else DummyRegressor()
            )
            model = dummy.fit(X, y)
        try:
            search.scorer_(model, X, y)
        except Exception as exc:  # any scorer's error, shown
            cause = f"the scorer failed: {type(exc).__name__}: {exc}"
    raise ValueError(
        f"No candidate has a {scoring!r} score (every one is NaN): {cause}. "
        "Choose a scoring that suits the target (for text labels, f1 and "
        "precision need a pos_label: make_scorer(f1_score, pos_label=...); "
        "roc_auc on more than two classes is 'roc_auc_ovr')."
    )


# -- training curves -------------------------------------------------------------
class _EpochStates(Callback):
    """skorch callback keeping a copy of the module's state after every epoch."""

    def initialize(self):
        self.states_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.states_.append(
            {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
        )


def _loss(pipe, X, y, task: str) -> float:
    """Log loss (classification) or mean squared error (regression) of ``pipe``."""
    if task == "classification":
        return float(log_loss(y, pipe.predict_proba(X), labels=pipe.classes_))
    return float(mean_squared_error(y, pipe.predict(X)))


def _curve_fit(pipe, params, X_train, y_train, X_valid, y_valid, task, w=None):
    """Fit one candidate on the training part; its losses after every epoch.

    Returns ``(rows, error)``: one tuple of :data:`CURVE_COLUMNS` per epoch, or
    no rows and the error's text when the fit failed. Both losses are measured
    the same way, after each epoch, in evaluation mode (batch norm on its
    running statistics), in the target's own units; ``w`` weighs the fit's
    training rows, not the losses.
    """
    pipe = clone(pipe).set_params(**params)
    callbacks = list(pipe.get_params()[f"{NET_STEP}__callbacks"] or [])
    callbacks.append((_STATES_CALLBACK, _EpochStates()))
    pipe.set_params(**{f"{NET_STEP}__callbacks": callbacks})
    weights = {} if w is None else {f"{NET_STEP}__sample_weight": w}
    try:
        pipe.fit(X_train, y_train, **weights)
    except Exception as exc:  # as GridSearchCV's error_score=nan: report, go on
        return [], f"{type(exc).__name__}: {exc}"
    net = pipe[-1].net_
    states = dict(net.callbacks_)[_STATES_CALLBACK].states_
    final = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
    rows = []
    try:
        for epoch, state in enumerate(states, start=1):
            net.module_.load_state_dict(state)
            train_loss = _loss(pipe, X_train, y_train, task)
            valid_loss = _loss(pipe, X_valid, y_valid, task)
            rows.append((*_candidate(params), epoch, train_loss, valid_loss))
    finally:
        net.module_.load_state_dict(final)
    return rows, None


def _curve_split(X, y, task: str, random_state, sample_weight=None):
    """``X_train, X_valid, y_train, y_valid, w_train``: the curve fits'
    seeded hold-out (``w_train`` is None without weights)."""
    arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
    parts = train_test_split(
        *arrays,
        test_size=CURVE_VALIDATION_FRACTION,
        random_state=random_state,
        shuffle=True,
        stratify=y if task == "classification" else None,
    )
    return (*parts[:4], None if sample_weight is None else parts[4])


def _scored_candidates(search) -> list[dict]:
    """The parameters of every candidate with a finite mean CV score.

    A candidate whose every CV fit failed (NaN score) would fail its curve fit
    too.
    """
    results = search.cv_results_
    scores = results["mean_test_score"]
    return [
        params
        for params, score in zip(results["params"], scores, strict=True)
        if np.isfinite(score)
    ]


def _curves(search, X, y, task, random_state, advance, sample_weight=None):
    """Fit each scored candidate once more; a frame of :data:`CURVE_COLUMNS`.

    The fits run with the search's ``n_jobs``; a failed one is a warning and
    no rows. ``advance(n)`` is called as fits finish (skipped ones count).
    """
    try:
        X_train, X_valid, y_train, y_valid, w_train = _curve_split(
            X, y, task, random_state, sample_weight
        )
    except ValueError as exc:  # too few rows to hold out a share of each class
        advance(len(search.cv_results_["params"]))
        warnings.warn(
            f"No training curves: their fits hold out "
            f"{CURVE_VALIDATION_FRACTION:.0%} of the {len(y)} rows, which "
            f"cannot be done here ({exc}). The sweep's scores stand; pass "
            "curves=False to skip them.",
            UserWarning,
            stacklevel=3,
        )
        return pd.DataFrame([], columns=list(CURVE_COLUMNS))
    candidates = _scored_candidates(search)
    advance(len(search.cv_results_["params"]) - len(candidates))
    jobs = (
        delayed(_curve_fit)(
            search.estimator, params, X_train, y_train, X_valid, y_valid, task, w_train
        )
        for params in candidates
    )
    outcomes = Parallel(n_jobs=search.n_jobs, return_as="generator")(jobs)
    rows = []
    for params, (candidate_rows, error) in zip(candidates, outcomes, strict=True):
        rows.extend(candidate_rows)
        advance(1)
        if error is not None:
            scaling, norm = _candidate(params)
            warnings.warn(
                f"The curve fit of scaling={scaling!r}, norm={norm!r} failed; it "
                f"has no curves. {error}",
                UserWarning,
                stacklevel=3,
            )
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


# -- the result --------------------------------------------------------------------
def check_model_given(model, action: str) -> None:
    """A TypeError that says what to pass when ``model`` is a sweep's result,
    a search or None rather than the fitted model they hold (what
    :func:`sknorm.save` and :func:`sknorm.export` take); ``action`` names
    the caller ("save", say)."""
    if isinstance(model, SweepResult):
        raise TypeError(
            f"{action} takes a fitted model, not the SweepResult: pass "
            "result.model (the model the sweep picked: its best candidate or the "
            "average of the best, refit on all the data), or result.best_estimator "
            "(the best candidate alone)."
        )
    if model is None:
        raise TypeError(
            f"{action} got None, not a fitted model (a sweep with refit=False "
            "fits none; its result.model is None: rerun it with refit=True, the "
            "default)."
        )
    if hasattr(model, "cv_results_") or hasattr(model, "param_grid"):  # a search
        raise TypeError(
            f"{action} takes a fitted model, not the {type(model).__name__}: pass "
            "its best_estimator_ (refit=True, the default, fits it)."
        )


@dataclass(repr=False)
class SweepResult:
    """What :func:`sweep` returns: the fitted search, its table and curves.

    Attributes
    ----------
    search : PackedSearchCV or GridSearchCV
        The fitted search (``cv_results_``, ``best_estimator_``, ...):
        :class:`PackedSearchCV` with the packed engine (the default), scikit-
        learn's ``GridSearchCV`` with ``engine="grid"``.
    table : pandas.DataFrame
        One row per (scaling, norm) candidate, best first: columns ``scaling``,
        ``norm``, ``mean_score``, ``std_score`` (over the CV folds),
        ``mean_fit_time`` (seconds) and ``rank`` (1 is best).
    curves : pandas.DataFrame or None
        Per-epoch losses of each candidate: from the packed run itself,
        averaged over the folds (training and held-out rows), or, with the
        grid engine, from one more fit per candidate on a hold-out split:
        columns ``scaling``, ``norm``, ``epoch``, ``train_loss``,
        ``valid_loss``. None when ``sweep(..., curves=False)``.
    task : {"classification", "regression"}
        The task the estimator was picked for.
    task_reason : str
        Why, in a few words: "y has 1,032 distinct whole-number values, more
        than 20", "task='regression' was given", ...
    scoring : str
        Name of the score in ``table`` ("accuracy", "r2" or the ``scoring``
        given).
    loss : str
        Name of the loss in ``curves``: "log loss" or "mean squared error".
    failures : dict
        ``(scaling, norm)`` -> the first error of each candidate with a failed
        fit (its score is NaN when every fold failed), e.g.
        ``"TrainingDivergedError: Training diverged: ..."``.

    The fitted models are properties: ``best_estimator`` (the best
    candidate refit on all the data), ``ensemble`` (the ``k`` best averaged;
    by default with the packed engine, see ``sweep(ensemble=...)``) and
    ``model``, the one of the two with the higher CV score: the one to keep.
    """

    search: GridSearchCV
    table: Any
    curves: Any
    task: str
    task_reason: str
    scoring: str
    loss: str
    failures: dict = field(default_factory=dict)

    @property
    def best_estimator(self) -> BaseEstimator | None:
        """The best pipeline, refit on all the data (``search.best_estimator_``;
        None with ``sweep(refit=False)``)."""
        return getattr(self.search, "best_estimator_", None)

    @property
    def best_params(self) -> dict:
        """The best candidate's parameters (``search.best_params_``)."""
        return self.search.best_params_

    @property
    def ensemble(self) -> BaseEstimator | None:
        """The average of the ``k`` best candidates fitted on all the data
        (soft-voting ``VotingClassifier`` or ``VotingRegressor``; the packed
        engine's default, ``k=3``), or None (``ensemble=0``, the grid engine,
        ``refit=False``)."""
        return getattr(self.search, "ensemble_estimator_", None)

    @property
    def model(self) -> BaseEstimator | None:
        """The model to keep: the ensemble (when there is one) when
        its mean CV score is above the best candidate's (the two are scored
        on the same folds, and picked on them, so both are as optimistic),
        else the best candidate refit on all the data (``best_estimator``)."""
        ensemble = self.ensemble
        if ensemble is not None and self._ensemble_wins():
            return ensemble
        return self.best_estimator

    def _ensemble_wins(self) -> bool:
        """Whether the ensemble's mean CV score is above the best candidate's
        (False without an ensemble score)."""
        scored = self.ensemble_score
        if scored is None:
            return False
        return scored["mean_score"] > float(self.search.best_score_)

    @property
    def ensemble_score(self) -> dict | None:
        """With an ensemble: ``{"candidates": [(scaling, norm),
        ...], "mean_score": ..., "std_score": ...}``, the average's score on
        the same CV folds as ``table``, else None."""
        if not hasattr(self.search, "ensemble_scores_"):
            return None
        params = self.search.cv_results_["params"]
        scores = self.search.ensemble_scores_
        return {
            "candidates": [
                _candidate(params[c]) for c in self.search.ensemble_candidates_
            ],
            "mean_score": float(np.mean(scores)),
            "std_score": float(np.std(scores)),
        }

    def plot(self):
        """Draw the score heatmap and, when recorded, the training curves.

        Needs matplotlib (``pip install 'sknorm[report]'``).

        Returns
        -------
        heatmap : matplotlib.figure.Figure
            Mean CV score, scaling (rows) x norm (columns).
        curves : matplotlib.figure.Figure or None
            Training and validation loss per epoch; None without curves.
        """
        # Imported here, not at the top: _plotting reads this module's column
        # names, so a top-level import would be circular.
        from ._plotting import plot_curves, plot_score_heatmap

        heatmap = plot_score_heatmap(self.table, scoring=self.scoring).figure
        if not self._has_curves():
            return heatmap, None
        return heatmap, plot_curves(self.curves, loss=self.loss).figure

    def _has_curves(self) -> bool:
        """Whether curves were recorded: none with ``curves=False``, nor when
        every curve fit failed or could not hold out its rows (an empty
        table)."""
        return self.curves is not None and not self.curves.empty

    def _repr_html_(self) -> str:
        """A notebook's view: the summary line, the table and the heatmap."""
        table = self.table.to_html(index=False, float_format="{:.4f}".format)
        parts = [f"<p><code>{html.escape(repr(self))}</code></p>", table]
        try:
            plt = import_optional("matplotlib.pyplot", "report", "the heatmap")
        except ImportError:
            return "\n".join(parts)
        from ._plotting import plot_score_heatmap  # circular at the top

        figure = plot_score_heatmap(self.table, scoring=self.scoring).figure
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plt.close(figure)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        parts.append(f'<img alt="mean CV score" src="data:image/png;base64,{encoded}">')
        return "\n".join(parts)

    def __repr__(self) -> str:
        best = self.table.iloc[0]
        scaling, norm = best[list(CANDIDATE_COLUMNS)]
        text = (
            f"SweepResult(task={self.task!r}, candidates={len(self.table)}, "
            f"best=(scaling={scaling!r}, norm={norm!r}), "
            f"best_{self.scoring}={best['mean_score']:.4g}"
        )
        scored = self.ensemble_score
        if scored is not None:  # and which of the two ``model`` is
            keeps = "ensemble" if self._ensemble_wins() else "best"
            keeps = keeps if self.model is not None else None  # refit=False
            text += (
                f", ensemble_{self.scoring}={scored['mean_score']:.4g}, model={keeps!r}"
            )
        return text + ")"


def _table(search):
    """One row of :data:`TABLE_COLUMNS` per candidate, best first."""
    results = search.cv_results_
    scalings, norms = zip(*map(_candidate, results["params"]), strict=True)
    columns = (
        scalings,
        norms,
        results["mean_test_score"],
        results["std_test_score"],
        results["mean_fit_time"],
        results["rank_test_score"],
    )
    table = pd.DataFrame(dict(zip(TABLE_COLUMNS, columns, strict=True)))
    # Stable sort: among tied ranks the first candidate stays first, as in
    # ``best_index_``.
    return table.sort_values("rank", kind="stable", ignore_index=True)


# -- where the fits run ------------------------------------------------------------
def _backend(backend, scheduler):
    """A context in which joblib runs the fits on ``backend`` (a joblib name)."""
    if backend == "dask":
        return _dask_backend(scheduler)
    if scheduler is not None:
        raise ValueError("scheduler is only used with backend='dask'.")
    if backend is None:
        return contextlib.nullcontext()
    return parallel_config(backend=backend)


@contextlib.contextmanager
def _dask_backend(scheduler) -> Iterator:
    """joblib's dask backend on a scheduler address, a client or the current one."""
    distributed = import_optional("distributed", "dask", "sweep(backend='dask')")
    if scheduler is not None and not isinstance(scheduler, distributed.Client):
        # Our own client, closed after the sweep; joblib's ``scheduler_host``
        # would leave its client open.
        with distributed.Client(scheduler, set_as_default=False) as client:
            with parallel_config(backend="dask", client=client):
                yield
        return
    try:  # joblib takes the given client, or finds the current one
        config = parallel_config(backend="dask", client=scheduler)
    except ValueError as exc:
        raise ValueError(
            "backend='dask' needs scheduler='tcp://host:port' (or a running "
            "distributed.Client)."
        ) from exc
    with config:
        yield


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], Any]]:
    """``advance(n)``: moves a tqdm bar on stderr, or does nothing."""
    if not enabled:
        yield lambda n: None
        return
    tqdm = import_optional("tqdm.auto", "report", "sweep(progress=True)").tqdm
    with tqdm(total=total, desc="sweep", unit="fit", file=sys.stderr) as bar:

        def advance(n: int) -> None:
            if bar.n + n > bar.total:  # a packed search fell back to the grid
                bar.total = bar.n + n
            bar.update(n)

        yield advance


# -- the steps of a sweep ------------------------------------------------------------
def _build_search(
    task,
    *,
    scalings,
    norms,
    cv,
    scoring,
    n_jobs,
    random_state,
    y,
    net_params,
    engine="grid",
    ensemble: int | str = 0,
    refit=True,
):
    """The unfitted search: the task's estimator, seeded, over the grid."""
    estimator_class = (
        NormMLPClassifier if task == "classification" else NormMLPRegressor
    )
    net_params = {**SWEEP_NET_DEFAULTS, **net_params}
    estimator = estimator_class(random_state=random_state, **net_params)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}.")
    packed = engine == "packed"
    valid = isinstance(ensemble, Integral) and not isinstance(ensemble, bool)
    if ensemble != "auto" and not (valid and (ensemble == 0 or ensemble >= 2)):
        raise ValueError(
            f"ensemble must be 'auto', 0 or an int >= 2, got {ensemble!r}."
        )
    if ensemble == "auto":  # the search caps it at the number of candidates
        # none for several target columns: VotingRegressor takes one
        ensemble = AUTO_ENSEMBLE if packed and not _several_outputs(y) else 0
    if ensemble and not packed:
        warnings.warn(
            "sweep(ensemble=...) needs the packed engine (the grid engine, which "
            "runs with engine='grid' or sample_weight, would need "
            f"{ensemble} x cv more fits to score it); no ensemble.",
            UserWarning,
            stacklevel=3,
        )
    pipeline, grid = make_norm_pipeline(estimator), normalization_grid(scalings, norms)
    # each candidate's network setup (device, n_threads, its norm's and its
    # embedding's options) once, before any fit: its own one-line error, where
    # inside the search every fit would fail and scikit-learn would report
    # them all as "All the N fits failed" with a traceback each
    for params in ParameterGrid(grid):
        clone(pipeline).set_params(**params)[-1]._check_setup(warm=False)
    return (_PackedSweepSearchCV if packed else _SweepSearchCV)(
        pipeline,
        grid,
        cv=_splitter(cv, y, task, random_state),
        scoring=scoring,
        n_jobs=n_jobs,
        refit=refit,
        return_train_score=False,
        **({"ensemble": ensemble} if packed else {}),
    )


def _n_fits(search, X, y, curves: bool) -> int:
    """Candidates x folds, the refit and, with curves on the grid engine, one
    fit per candidate (the packed engine records them in its run)."""
    n_candidates = len(ParameterGrid(search.param_grid))
    n_splits = search.cv.get_n_splits(X, y)
    refit = 1 if search.refit else 0
    grid_curves = curves and not isinstance(search, PackedSearchCV)
    return n_candidates * n_splits + refit + (n_candidates if grid_curves else 0)


def _fit_search(search, X, y, advance, progress: bool, sample_weight=None) -> None:
    """Fit the search; with ``progress``, ``advance`` after each group of
    candidates (as many as there are workers), or, packed, as the members
    finish their epochs; then after the refit."""
    n_splits = search.cv.get_n_splits(X, y)
    with _routing_weights(search, sample_weight) as fit_params:
        if progress and isinstance(search, _SweepSearchCV):
            group_size = effective_n_jobs(search.n_jobs)
            with _reporting(lambda done: advance(done * n_splits), group_size):
                search.fit(X, y, **fit_params)
        elif progress:
            whole = _WholeFits(advance)
            with reporting_progress(whole):
                search.fit(X, y, **fit_params)
            # members that never trained, and a fallback to the grid
            whole.top_up(len(search.cv_results_["params"]) * n_splits)
        else:
            search.fit(X, y, **fit_params)
    if search.refit:
        advance(1)


class _WholeFits:
    """Adds up the packed run's fractions of fits and moves the bar by whole
    fits, so it counts fits like the grid engine's bar."""

    def __init__(self, advance: Callable[[int], Any]) -> None:
        self.advance, self.done, self.shown = advance, 0.0, 0

    def __call__(self, fits: float) -> None:
        self.done += fits
        step = int(self.done + 1e-9) - self.shown
        if step > 0:
            self.shown += step
            self.advance(step)

    def top_up(self, total: int) -> None:
        if total > self.shown:
            self.advance(total - self.shown)
            self.shown = total


#: What :func:`sweep` sets on its networks unless given: no dropout.
SWEEP_NET_DEFAULTS: dict = {"dropout": 0.0}


# -- the function --------------------------------------------------------------------
def sweep(
    X,
    y,
    *,
    scalings: Iterable[str] = DEFAULT_SCALINGS,
    norms: Iterable[str] = DEFAULT_NORMS,
    cv=5,
    scoring=None,
    n_jobs: int | None = None,
    random_state: int | None = 0,
    task: str = "auto",
    backend: str | None = None,
    scheduler=None,
    progress: bool = False,
    curves: bool = True,
    engine: str = "packed",
    sample_weight=None,
    ensemble: int | str = "auto",
    refit: bool = True,
    **net_params,
) -> SweepResult:
    """Cross-validate every input scaling x hidden norm combination.

    Picks :class:`NormMLPClassifier` or :class:`NormMLPRegressor` from ``y``,
    puts it in :func:`make_norm_pipeline` and cross-validates it over
    :func:`normalization_grid` ``(scalings, norms)`` with
    :class:`PackedSearchCV` (every candidate and fold trained at once; or
    :class:`~sklearn.model_selection.GridSearchCV` with ``engine="grid"``),
    then refits on all the data the best candidate and the average of the
    three best (``result.model`` is whichever scored higher on the same
    folds). The training curves come from the same run (with the grid
    engine, from one more fit per candidate on 80% of the data).

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        The features as they come: numbers, booleans, pandas nullable types,
        categories, text and dates, blanks anywhere (see
        :class:`TabularScaler`, which every fold fits on its own rows).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Class labels or regression targets, without blanks.
    scalings : iterable of str, default=("none", "minmax", "standard", "plr")
        Input normalizations to try: :class:`InputScaler` methods, from
        :data:`sknorm.SCALINGS`, and the learned ones of
        :data:`sknorm.LEARNED_SCALINGS`: "learned_scale" (robust scaling and
        smooth clipping, then one learned factor per feature in front of the
        network, as in RealMLP) and "plr" (the same scaling, then the
        periodic PLR embeddings of Gorishniy et al., 2022), each a scaling
        and the network's ``input_embedding`` set together; the packed engine
        stacks them beside the others.
    norms : iterable of str, default=("none", "batch", "layer")
        Hidden-layer norms to try, from :data:`sknorm.NORMS`.
    cv : int, cross-validation splitter or None, default=5
        An int means ``StratifiedKFold(cv, shuffle=True,
        random_state=random_state)`` for classification and ``KFold`` (same
        arguments) for regression; a splitter is used as given; None is
        ``GridSearchCV``'s default (5 folds, not shuffled).
    scoring : str, callable or None, default=None
        As in ``GridSearchCV``; None uses the estimator's ``score`` (accuracy or
        R^2). One metric only.
    n_jobs : int or None, default=None
        The grid engine: parallel fits, as in ``GridSearchCV`` (None: one at a
        time), the curve fits too; with ``backend="dask"``, None means every
        thread of the cluster. The packed engine: worker threads, each
        training a share of the members as one stack (None: every core this
        process may use, when the run is big enough to pay; see
        :class:`PackedSearchCV`); with ``backend="dask"``, groups of members,
        one per thread of the cluster (None: all of them).
    random_state : int or None, default=0
        Seeds the CV shuffle, the curves' hold-out split and every network
        (``random_state`` of the estimator), so a sweep is reproducible.
    task : {"auto", "classification", "regression"}, default="auto"
        "classification" or "regression" is used as given. "auto" follows one
        rule: text, boolean and categorical labels are classes; numbers are
        classes when all are whole numbers (whatever their dtype, so 0./1.
        counts) and there are two distinct values, or at most 20
        (``AUTO_MAX_CLASSES``) with at least 5 rows each on average
        (``AUTO_MIN_ROWS_PER_CLASS``): iris, wine, digits, breast cancer.
        Anything else is a regression: fractions, several target columns,
        diabetes (214 whole values, 2 rows each), an integer price with 1,032
        values. ``result.task_reason`` says which part applied. A
        classification with more than 50 classes or under 3 rows per class on
        average warns.
    backend : str or None, default=None
        A joblib backend name for the fits; "dask" runs them on the Dask
        cluster at ``scheduler`` (needs ``pip install 'sknorm[dask]'``): the
        grid engine's fits, or the packed engine's groups of members (each
        group one task, trained as one stack by a worker; the scalings are
        fitted here, and the refit of the best candidate runs here).
    scheduler : str, distributed.Client or None, default=None
        Address of the Dask scheduler (``"tcp://host:8786"``) or a client; None
        with ``backend="dask"`` uses the current client.
    progress : bool, default=False
        Show a tqdm bar on stderr (needs ``pip install 'sknorm[report]'``). It
        counts fits: candidates x folds, the refit of the best candidate (with
        ``refit``) and, with the grid engine, one curve fit per candidate. The
        grid engine's search part advances in this process each time a group of
        candidates (as many as there are parallel workers) has finished all its
        folds, the curve part after each fit; the packed engine's as its
        members finish their epochs (a member's epoch is ``1 / max_epochs`` of
        a fit; one that stops early counts as done).
    curves : bool, default=True
        Record the training curves: with ``engine="grid"`` one extra fit per
        candidate on 80% of the data; with ``engine="packed"`` from the
        packed run itself, averaged over the folds, at no extra cost.
    engine : {"grid", "packed"}, default="packed"
        ``"grid"`` runs :class:`~sklearn.model_selection.GridSearchCV`, one fit
        after another (or ``n_jobs`` at a time). ``"packed"`` runs
        :class:`PackedSearchCV`: every candidate and fold trained at once as
        one stacked network, with the same scores (each member trains as its
        own fit would, seed for seed); it falls back to the grid, with a
        warning, for settings it cannot pack (callbacks, another optimizer,
        weights, a GPU). Its progress bar moves as the members finish their
        epochs (on Dask, as each group's task returns).
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the rows, routed the scikit-learn way (metadata routing) to
        every network's ``fit`` and to every CV score, so both are weighted;
        the grid engine runs (the packed one takes no weights). The curve fits
        train with the weights; their losses are unweighted.
    ensemble : int or "auto", default="auto"
        With ``k >= 2`` (packed engine): also the average of the ``k`` best
        candidates, scored on the same folds from the members' held-out
        predictions (no more training) and fitted on all the data (the best
        candidate's refit, and the other ``k - 1`` in one packed run): the
        result's ``ensemble`` and ``ensemble_score``, and ``model`` is the
        ensemble when its CV score is above the best candidate's (see
        :class:`SweepResult`, :class:`PackedSearchCV`). "auto": 3 (at most
        the number of candidates) with the packed engine, none with the grid
        one, which would need ``k x cv`` more fits to score it; measured in
        ``benchmarks/bench_quality.py``, the model it picks held against
        scikit-learn's MLP on every set where the best candidate alone did
        not. 0: no ensemble (the refit is then the best candidate's alone).
        ``k`` is capped at the number of candidates (one candidate: no
        ensemble); 1 is an error. The ensemble is a ``VotingClassifier`` or
        ``VotingRegressor`` over the fitted pipelines:
        :func:`sknorm.save` stores it and :func:`sknorm.export` writes it as
        one averaged model, as they do one pipeline.
    refit : bool, default=True
        Refit the best candidate (and, with ``ensemble``, the averaged ones)
        on all the data. False when only the scores are wanted: the
        result's ``best_estimator``, ``ensemble`` and ``model`` are then None
        (the table, the curves and ``ensemble_score`` are the same).
    **net_params
        Estimator parameters, e.g. ``max_epochs=30``,
        ``hidden_layer_sizes=(64, 64)``. The networks are the estimator's
        defaults but for ``dropout=0.0``: the
        estimator's 0.3 goes with its default of no hidden-layer norm; over
        the grid's norms it did not make the sweep's best model better (five
        sets, 3 seeds: mean rank 2.80 either way, worse on chile and spam7,
        better on titanic and diabetes; ``benchmarks/results/sweep_dropout.md``),
        and without it the sweep's figures stand as measured. Pass ``dropout``
        to sweep with it.

    Returns
    -------
    result : SweepResult
        ``search``, ``table``, ``curves``, ``best_estimator``, ``best_params``,
        ``ensemble``, ``ensemble_score``, ``model`` (the one to keep) and
        ``plot()``.

    See Also
    --------
    sknorm.make_norm_pipeline, sknorm.normalization_grid : The pieces, for a
        search of your own.

    Notes
    -----
    Before any fit, the data is checked and every problem is one line naming
    the column: a column blank in every row, numbers mixed with text,
    infinity, a date column when ``scalings`` include "none" (day counts must
    be scaled), blanks in ``y``, a single class. The best pipeline, refit on
    all the data, predicts on raw rows of the same kind.

    The curves are log loss for classifiers, mean squared error (in the
    target's units) for regressors. On the packed engine they come from the
    search's own run, averaged over the folds: the training loss is each
    epoch's mean batch loss in training mode (skorch's ``train_loss``), the
    validation loss is measured after each epoch in evaluation mode on the
    fold's held-out rows. With ``engine="grid"``, one more fit per candidate
    measures both after each epoch, in evaluation mode, on a training part
    and a held-out part (stratified for classification, seeded by
    ``random_state``).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sknorm import sweep
    >>> X, y = load_iris(return_X_y=True)
    >>> result = sweep(X, y, scalings=["standard"], norms=["none", "layer"],
    ...                cv=2, max_epochs=2, hidden_layer_sizes=(8,), curves=False)
    >>> result.table[["scaling", "norm"]].shape
    (2, 2)
    >>> sorted(result.best_params)
    ['net__norm', 'scale__method']
    """
    scalings = [scalings] if isinstance(scalings, str) else list(scalings)
    _check_target(y)
    task, task_reason = _resolve_task(y, task)
    _check_data(X, y, task, scalings)
    if task == "classification":
        _warn_about_classes(y)
    y = np.asarray(y)  # pandas' nullable and categorical targets as plain labels
    if sample_weight is not None:  # the packed engine would fall back anyway
        engine, sample_weight = "grid", _weights(sample_weight, y)
    n_jobs = -1 if backend == "dask" and n_jobs is None else n_jobs  # all of Dask
    search = _build_search(
        task,
        scalings=scalings,
        norms=norms,
        cv=cv,
        scoring=scoring,
        n_jobs=n_jobs,
        random_state=random_state,
        y=y,
        net_params=net_params,
        engine=engine,
        ensemble=ensemble,
        refit=refit,
    )
    scoring_name = _scoring_name(scoring, task)
    with _backend(backend, scheduler):
        with _progress_bar(progress, _n_fits(search, X, y, curves)) as advance:
            _fit_search(search, X, y, advance, progress, sample_weight)
            _check_scored(search, X, y, scoring_name)  # before any curve fit
            curve_frame = (
                _sweep_curves(search, X, y, task, random_state, advance, sample_weight)
                if curves
                else None
            )
    return SweepResult(
        search=search,
        table=_table(search),
        curves=curve_frame,
        task=task,
        task_reason=task_reason,
        scoring=scoring_name,
        loss=_loss_name(search, task, curve_frame, y),
        failures=_failures(search),
    )
