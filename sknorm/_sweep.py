"""The normalization sweep: input scaling x hidden norm, cross-validated.

A thin layer over :class:`~sklearn.model_selection.GridSearchCV`: it picks the
estimator from the target, builds :func:`make_norm_pipeline` and
:func:`normalization_grid`, fixes the seeds, runs the search (optionally on a
Dask cluster, optionally with a progress bar) and returns the search with a
tidy table and per-epoch training curves. pandas, tqdm, matplotlib and
distributed are optional extras, imported only when used.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from joblib import effective_n_jobs, parallel_config
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import log_loss, mean_squared_error
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
from sklearn.utils.validation import check_X_y
from skorch.callbacks import Callback

from ._estimators import NormMLPClassifier, NormMLPRegressor
from ._pipeline import NET_STEP, SCALE_STEP, make_norm_pipeline, normalization_grid

__all__ = ["SweepResult", "sweep"]

TASKS = ("auto", "classification", "regression")
_REGRESSION_TARGETS = ("continuous", "continuous-multioutput")
_STATES_CALLBACK = "sknorm_epoch_states"
#: Share of the data held out by the curve fits.
CURVE_VALIDATION_FRACTION = 0.2


def _missing_extra(package: str, extra: str, purpose: str) -> ImportError:
    return ImportError(
        f"{purpose} needs {package}, which is not installed; install it with "
        f"`pip install 'sknorm[{extra}]'`."
    )


def _import_pandas():
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is in the test env
        raise _missing_extra("pandas", "report", "sweep()'s result table") from exc
    return pd


# -- the task and the search ---------------------------------------------------
def _resolve_task(y, task: str) -> str:
    """``"classification"`` or ``"regression"``, from ``task`` or from ``y``.

    Whole-number targets stored as floats (``load_diabetes``) count as
    regression: :func:`~sklearn.utils.multiclass.type_of_target` calls them
    "multiclass", but integer, string and boolean labels are what classes look
    like in practice.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    if task != "auto":
        return task
    kind = type_of_target(y, input_name="y")
    if kind == "binary":
        return "classification"
    if kind == "multiclass":
        is_float = np.asarray(y).dtype.kind == "f"
        return "regression" if is_float else "classification"
    if kind in _REGRESSION_TARGETS:
        return "regression"
    raise ValueError(
        f"sweep() supports binary, multiclass and continuous targets; y is {kind!r}."
    )


def _check_data(X, y, task: str) -> None:
    """Fail before any fit, with scikit-learn's messages, on data no candidate
    could be trained on (NaN, inf, text, empty, one class, ...)."""
    regression = task == "regression"
    _, y_checked = check_X_y(X, y, multi_output=regression, y_numeric=regression)
    if not regression and np.unique(y_checked).size < 2:
        raise ValueError(
            "y has only one class; a classification sweep needs at least two."
        )


def _splitter(cv, y, task: str, random_state):
    """An int ``cv`` becomes a shuffled, seeded (Stratified)KFold."""
    if isinstance(cv, Integral) and not isinstance(cv, bool):
        if task == "classification":
            return StratifiedKFold(int(cv), shuffle=True, random_state=random_state)
        return KFold(int(cv), shuffle=True, random_state=random_state)
    return check_cv(cv, y, classifier=task == "classification")


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


class _SweepSearchCV(GridSearchCV):
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


@contextlib.contextmanager
def _reporting(reporter: Callable[[int], Any], group_size: int) -> Iterator:
    token = _SEARCH_REPORTER.set((reporter, max(int(group_size), 1)))
    try:
        yield
    finally:
        _SEARCH_REPORTER.reset(token)


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


def _curve_fit(pipe, params, X_train, y_train, X_valid, y_valid, task):
    """Fit one candidate on the training part; its losses after every epoch.

    Returns ``(rows, error)``: one dict per epoch, or no rows and the error's
    text when the fit failed. Both losses are measured the same way, after each
    epoch, in evaluation mode (batch norm on its running statistics), in the
    target's own units.
    """
    pipe = clone(pipe).set_params(**params)
    callbacks = list(pipe.get_params()[f"{NET_STEP}__callbacks"] or [])
    callbacks.append((_STATES_CALLBACK, _EpochStates()))
    pipe.set_params(**{f"{NET_STEP}__callbacks": callbacks})
    try:
        pipe.fit(X_train, y_train)
    except Exception as exc:  # as GridSearchCV's error_score=nan: report, go on
        return [], f"{type(exc).__name__}: {exc}"
    net = pipe[-1].net_
    states = dict(net.callbacks_)[_STATES_CALLBACK].states_
    final = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
    rows = []
    try:
        for epoch, state in enumerate(states, start=1):
            net.module_.load_state_dict(state)
            rows.append(
                {
                    "scaling": params[f"{SCALE_STEP}__method"],
                    "norm": params[f"{NET_STEP}__norm"],
                    "epoch": epoch,
                    "train_loss": _loss(pipe, X_train, y_train, task),
                    "valid_loss": _loss(pipe, X_valid, y_valid, task),
                }
            )
    finally:
        net.module_.load_state_dict(final)
    return rows, None


def _curves(search, X, y, task, random_state, n_jobs, advance):
    pd = _import_pandas()
    X_train, X_valid, y_train, y_valid = train_test_split(
        X,
        y,
        test_size=CURVE_VALIDATION_FRACTION,
        random_state=random_state,
        shuffle=True,
        stratify=y if task == "classification" else None,
    )
    results = search.cv_results_
    # Candidates whose every CV fit failed (NaN score) would fail here too.
    candidates = [
        params
        for params, score in zip(
            results["params"], results["mean_test_score"], strict=True
        )
        if np.isfinite(score)
    ]
    advance(len(results["params"]) - len(candidates))
    jobs = (
        delayed(_curve_fit)(
            search.estimator, params, X_train, y_train, X_valid, y_valid, task
        )
        for params in candidates
    )
    rows = []
    outcomes = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    for params, (candidate_rows, error) in zip(candidates, outcomes, strict=True):
        rows.extend(candidate_rows)
        advance(1)
        if error is not None:
            warnings.warn(
                f"The curve fit of scaling={params[f'{SCALE_STEP}__method']!r}, "
                f"norm={params[f'{NET_STEP}__norm']!r} failed; it has no curves. "
                f"{error}",
                UserWarning,
                stacklevel=3,
            )
    return pd.DataFrame(
        rows, columns=["scaling", "norm", "epoch", "train_loss", "valid_loss"]
    )


# -- the result --------------------------------------------------------------------
@dataclass(repr=False)
class SweepResult:
    """What :func:`sweep` returns: the fitted search, its table and curves.

    Attributes
    ----------
    search : GridSearchCV
        The fitted search (``cv_results_``, ``best_estimator_``, ...).
    table : pandas.DataFrame
        One row per (scaling, norm) candidate, best first: columns ``scaling``,
        ``norm``, ``mean_score``, ``std_score`` (over the CV folds),
        ``mean_fit_time`` (seconds) and ``rank`` (1 is best).
    curves : pandas.DataFrame or None
        Per-epoch losses of each candidate refit once on a hold-out split:
        columns ``scaling``, ``norm``, ``epoch``, ``train_loss``,
        ``valid_loss``. None when ``sweep(..., curves=False)``.
    task : {"classification", "regression"}
        The task the estimator was picked for.
    scoring : str
        Name of the score in ``table`` ("accuracy", "r2" or the ``scoring``
        given).
    loss : str
        Name of the loss in ``curves``: "log loss" or "mean squared error".
    """

    search: GridSearchCV
    table: Any
    curves: Any
    task: str
    scoring: str
    loss: str

    @property
    def best_estimator(self) -> BaseEstimator:
        """The best pipeline, refit on all the data (``search.best_estimator_``)."""
        return self.search.best_estimator_

    @property
    def best_params(self) -> dict:
        """The best candidate's parameters (``search.best_params_``)."""
        return self.search.best_params_

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
        from ._plotting import plot_curves, plot_score_heatmap

        heatmap = plot_score_heatmap(self.table, scoring=self.scoring).figure
        if self.curves is None:
            return heatmap, None
        return heatmap, plot_curves(self.curves, loss=self.loss).figure

    def __repr__(self) -> str:
        best = self.table.iloc[0]
        return (
            f"SweepResult(task={self.task!r}, candidates={len(self.table)}, "
            f"best=(scaling={best['scaling']!r}, norm={best['norm']!r}), "
            f"best_{self.scoring}={best['mean_score']:.4g})"
        )


def _table(search):
    pd = _import_pandas()
    results = search.cv_results_
    table = pd.DataFrame(
        {
            "scaling": [p[f"{SCALE_STEP}__method"] for p in results["params"]],
            "norm": [p[f"{NET_STEP}__norm"] for p in results["params"]],
            "mean_score": results["mean_test_score"],
            "std_score": results["std_test_score"],
            "mean_fit_time": results["mean_fit_time"],
            "rank": results["rank_test_score"],
        }
    )
    # Stable sort: among tied ranks the first candidate stays first, as in
    # ``best_index_``.
    return table.sort_values("rank", kind="stable", ignore_index=True)


# -- where the fits run ------------------------------------------------------------
@contextlib.contextmanager
def _dask_client(scheduler) -> Iterator:
    try:
        import distributed
    except ImportError as exc:
        raise _missing_extra(
            "dask.distributed", "dask", "sweep(backend='dask')"
        ) from exc
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if scheduler is None:
        try:
            yield distributed.get_client()
        except ValueError as exc:
            raise ValueError(
                "backend='dask' needs scheduler='tcp://host:port' (or a running "
                "distributed.Client)."
            ) from exc
        return
    with distributed.Client(scheduler, set_as_default=False) as client:
        yield client


@contextlib.contextmanager
def _backend(backend, scheduler) -> Iterator:
    """Run the enclosed joblib work on ``backend`` (a joblib backend name)."""
    if backend is None:
        if scheduler is not None:
            raise ValueError("scheduler is only used with backend='dask'.")
        yield
    elif backend == "dask":
        with _dask_client(scheduler) as client:
            with parallel_config(backend="dask", client=client):
                yield
    else:
        if scheduler is not None:
            raise ValueError("scheduler is only used with backend='dask'.")
        with parallel_config(backend=backend):
            yield


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], Any]]:
    if not enabled:
        yield lambda n: None
        return
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise _missing_extra("tqdm", "report", "sweep(progress=True)") from exc
    with tqdm(total=total, desc="sweep", unit="fit", file=sys.stderr) as bar:
        yield bar.update


# -- the function --------------------------------------------------------------------
def sweep(
    X,
    y,
    *,
    scalings: Iterable[str] = ("none", "minmax", "standard"),
    norms: Iterable[str] = ("none", "batch", "layer"),
    cv=5,
    scoring=None,
    n_jobs: int | None = None,
    random_state: int | None = 0,
    task: str = "auto",
    backend: str | None = None,
    scheduler=None,
    progress: bool = False,
    curves: bool = True,
    **net_params,
) -> SweepResult:
    """Cross-validate every input scaling x hidden norm combination.

    Picks :class:`NormMLPClassifier` or :class:`NormMLPRegressor` from ``y``,
    puts it in :func:`make_norm_pipeline` and runs
    :class:`~sklearn.model_selection.GridSearchCV` over
    :func:`normalization_grid` ``(scalings, norms)``, refitting the best
    candidate on all the data. With ``curves=True`` each candidate is then fit
    once more on 80% of the data to record its training and validation loss
    after every epoch.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Numeric features (numpy array or DataFrame).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Class labels or regression targets.
    scalings : iterable of str, default=("none", "minmax", "standard")
        :class:`InputScaler` methods to try.
    norms : iterable of str, default=("none", "batch", "layer")
        Hidden-layer norms to try.
    cv : int, cross-validation splitter or None, default=5
        An int means ``StratifiedKFold(cv, shuffle=True,
        random_state=random_state)`` for classification and ``KFold`` (same
        arguments) for regression; a splitter is used as given; None is
        ``GridSearchCV``'s default (5 folds, not shuffled).
    scoring : str, callable or None, default=None
        As in ``GridSearchCV``; None uses the estimator's ``score`` (accuracy or
        R^2). One metric only.
    n_jobs : int or None, default=None
        Parallel fits, as in ``GridSearchCV``; used for the curve fits too. With
        ``backend="dask"``, None means every thread of the cluster.
    random_state : int or None, default=0
        Seeds the CV shuffle, the curves' hold-out split and every network
        (``random_state`` of the estimator), so a sweep is reproducible.
    task : {"auto", "classification", "regression"}, default="auto"
        "auto" reads ``y`` with :func:`~sklearn.utils.multiclass.type_of_target`:
        binary and multiclass labels mean classification, continuous targets
        regression. Whole numbers stored as floats count as regression.
    backend : str or None, default=None
        A joblib backend name for the fits; "dask" runs them on the Dask
        cluster at ``scheduler`` (needs ``pip install 'sknorm[dask]'``).
    scheduler : str, distributed.Client or None, default=None
        Address of the Dask scheduler (``"tcp://host:8786"``) or a client; None
        with ``backend="dask"`` uses the current client.
    progress : bool, default=False
        Show a tqdm bar on stderr (needs ``pip install 'sknorm[report]'``). It
        counts fits: candidates x folds, the refit of the best candidate and
        one curve fit per candidate. The search part advances in this process
        each time a group of candidates (as many as there are parallel
        workers) has finished all its folds; the curve part after each fit.
    curves : bool, default=True
        Record the training curves (one extra fit per candidate).
    **net_params
        Estimator parameters, e.g. ``max_epochs=30``,
        ``hidden_layer_sizes=(64, 64)``.

    Returns
    -------
    result : SweepResult
        ``search``, ``table``, ``curves``, ``best_estimator``, ``best_params``
        and ``plot()``.

    See Also
    --------
    sknorm.make_norm_pipeline, sknorm.normalization_grid : The pieces, for a
        search of your own.

    Notes
    -----
    The curves are measured after each epoch, in evaluation mode, on the
    training part and on the held-out part (stratified for classification,
    seeded by ``random_state``): log loss for classifiers, mean squared error
    (in the target's units) for regressors.

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
    task = _resolve_task(y, task)
    _check_data(X, y, task)
    if task == "classification":
        estimator = NormMLPClassifier(random_state=random_state, **net_params)
    else:
        estimator = NormMLPRegressor(random_state=random_state, **net_params)
    grid = normalization_grid(scalings, norms)
    splitter = _splitter(cv, y, task, random_state)
    scoring_name = _scoring_name(scoring, task)
    _import_pandas()  # fail before hours of fitting, not after

    with _backend(backend, scheduler):
        if backend == "dask" and n_jobs is None:
            n_jobs = -1
        search = _SweepSearchCV(
            make_norm_pipeline(estimator),
            grid,
            cv=splitter,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=True,
            return_train_score=False,
        )
        n_candidates = len(ParameterGrid(grid))
        n_splits = splitter.get_n_splits(X, y)
        n_fits = n_candidates * n_splits + 1 + (n_candidates if curves else 0)
        with _progress_bar(progress, n_fits) as advance:
            if progress:
                with _reporting(
                    lambda done: advance(done * n_splits), effective_n_jobs(n_jobs)
                ):
                    search.fit(X, y)
            else:
                search.fit(X, y)
            advance(1)  # the refit
            curve_frame = (
                _curves(search, X, y, task, random_state, n_jobs, advance)
                if curves
                else None
            )
    return SweepResult(
        search=search,
        table=_table(search),
        curves=curve_frame,
        task=task,
        scoring=scoring_name,
        loss="log loss" if task == "classification" else "mean squared error",
    )
