"""``PackedSearchCV``: a grid search whose candidates x folds train at once.

A drop-in for :class:`~sklearn.model_selection.GridSearchCV` over a pipeline
made by :func:`make_norm_pipeline` (or a bare sknorm estimator): when the grid
varies only what the packed engine (``_packed.py``) can give each member on
its own - any parameter of the steps before the network (the scaling), and the
network's ``norm``, ``norm_position``, ``dropout``, ``lr`` and
``weight_decay`` - every candidate x fold is one member of a single packed
run. Anything else falls back to ``GridSearchCV`` itself, with a warning
naming the parameter. The estimators never import this module.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import joblib
import numpy as np
import torch
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.metrics._scorer import _BaseScorer, _MultimetricScorer, _PassthroughScorer
from sklearn.model_selection import GridSearchCV, ParameterGrid, check_cv
from sklearn.model_selection._validation import (
    _insert_error_scores,
    _score,
    _warn_or_raise_about_fit_failures,
)
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _num_samples, indexable
from skorch.history import History

from ._estimators import NormMLPClassifier, _BaseNormMLP, _check_device
from ._packed import seeded_member, train_group_alone, train_packed, work_per_row
from ._training import ValidationSplit, fit_context
from .exceptions import TrainingDivergedError

__all__ = ["PACKABLE_NET_PARAMS", "PackedSearchCV"]

#: Network parameters the packed engine gives each member on its own.
PACKABLE_NET_PARAMS = frozenset(
    {
        "norm",
        "norm_position",
        "dropout",
        "lr",
        "weight_decay",
        "input_embedding",
        "embedding_params",
    }
)
#: Network settings under which the engine trains exactly as the estimator:
#: (parameter, accepted values); anything else falls back.
_ENGINE_SETTINGS = (
    ("optimizer", ("adam", torch.optim.Adam), "the engine runs Adam"),
    ("callbacks", (None, []), "the engine runs no callbacks"),
    ("warm_start", (False,), "the engine trains from scratch"),
    # The engine keeps torch's running variance.
    ("norm_defaults", ("torch",), "the engine follows torch's conventions"),
)


def _net_and_prep(estimator) -> tuple[str | None, BaseEstimator, Pipeline | None]:
    """``(net step name, network, the steps before it)``; the name is None for
    a bare estimator."""
    if isinstance(estimator, Pipeline):
        name, net = estimator.steps[-1]
        prep = Pipeline(estimator.steps[:-1]) if len(estimator.steps) > 1 else None
        return name, net, prep
    return None, estimator, None


def _unpackable(estimator, param_grid, fit_params: dict) -> str | None:
    """Why this search cannot be packed (a short phrase), or None."""
    name, net, prep = _net_and_prep(estimator)
    if not isinstance(net, _BaseNormMLP):
        return f"the final step is {type(net).__name__}, not a sknorm estimator"
    for key, accepted, why in _ENGINE_SETTINGS:
        if not any(
            net.get_params()[key] is v or net.get_params()[key] == v for v in accepted
        ):
            return f"{key}={net.get_params()[key]!r} ({why})"
    try:
        kind = torch.device(net.device).type
    except (RuntimeError, ValueError, TypeError):  # each fit names the problem
        kind = "cpu"
    if kind not in ("cpu", "cuda"):  # e.g. "mps": no float64 there
        return f"device={net.device!r} (the engine runs on the CPU or a CUDA GPU)"
    if getattr(net, "class_weight", None) is not None:
        return "class_weight is set"
    if fit_params:
        return f"fit parameters {sorted(fit_params)} are given"
    grids = [param_grid] if isinstance(param_grid, dict) else list(param_grid)
    prep_steps = {n for n, _ in prep.steps} if prep is not None else set()
    for grid in grids:
        for key in grid:
            step, _, param = key.partition("__")
            if name is None and key in PACKABLE_NET_PARAMS:
                continue
            if step == name and param in PACKABLE_NET_PARAMS:
                continue
            if step in prep_steps:
                continue
            return f"parameter {key!r} cannot be packed"
    return None


class _Unpackable(Exception):
    """This search cannot be packed after all; the message says why."""


#: While :func:`reporting_progress` is active: called with fits done (fractions
#: of a fit, as the packed run's members finish epochs).
_PROGRESS: ContextVar[Callable[[float], Any] | None] = ContextVar(
    "sknorm_packed_progress", default=None
)


@contextlib.contextmanager
def reporting_progress(progress: Callable[[float], Any]) -> Iterator[None]:
    """Packed runs started in this context call ``progress(fits)`` as their
    members train: one member's epoch is ``1 / max_epochs`` of a fit, and a
    member that stops early reports the rest of its share at once."""
    token = _PROGRESS.set(progress)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


@dataclass
class _Fold:
    """One fold under one preprocessing: the fitted steps, the network's
    training tensors and the fitted attributes a network gets from them."""

    prep: Pipeline | None
    X: torch.Tensor
    y: torch.Tensor
    fitted: dict
    X_train: object
    y_train: object
    X_test: object
    y_test: object
    heldout: tuple | None
    scored: tuple | None  # the test rows as predict takes them, float64
    raw_test: object = None  # the test rows as they came, for a scorer's own use
    raw_train: object = None  # ... and the training rows, for training scores
    error: BaseException | None = None  # why the steps before the network failed


def _failed_fold(y, test, error: BaseException) -> _Fold:
    """A fold whose steps before the network failed to fit (or whose rows
    the network refuses): its members fail with ``error``, as that fit would
    in ``GridSearchCV``."""
    y_test = None if test is None else _safe_indexing(y, test)
    nothing = dict.fromkeys(("prep", "X", "y", "X_train", "y_train", "X_test"))
    nothing |= {"heldout": None, "scored": None}
    return _Fold(**nothing, fitted={}, y_test=y_test, error=error)


def _prepare_fold(
    prep, net, X, y, train, test, keep_train: bool = True, keep_raw: bool = False
) -> _Fold:
    """Fit the steps before the network on the fold's training rows, and
    validate the transformed rows as the network's ``fit`` would. Without
    ``keep_train`` the transformed training rows are not kept beyond the
    network's tensors (only training scores need them); with ``keep_raw``
    the raw test rows are kept (scorers of the user's own get them)."""
    X_train, y_train = _safe_indexing(X, train), _safe_indexing(y, train)
    X_test = y_test = heldout = scored = None  # ``test`` None: a refit on all rows
    if test is not None:
        X_test, y_test = _safe_indexing(X, test), _safe_indexing(y, test)
    raw_test = X_test if keep_raw else None
    raw_train = X_train if keep_raw and keep_train else None
    if prep is not None:
        prep = clone(prep)
        # in this process, on a Dask cluster too (under its joblib config a
        # ColumnTransformer would send its parts out): small, and rows are here
        with joblib.parallel_config(n_jobs=1):
            X_train = prep.fit_transform(X_train, y_train)
            X_test = None if test is None else prep.transform(X_test)
    probe = clone(net)
    X_valid, y_tensor = probe._validate_targets(X_train, y_train, reset=True)
    fitted = {k: v for k, v in vars(probe).items() if k.endswith("_")}
    try:  # the held-out rows as the network sees them, for the curves
        if test is not None:
            X_held, y_held = probe._validate_targets(X_test, y_test, reset=False)
            heldout = (_float32(X_held), y_held)
            X_scored = _tensor(np.asarray(X_held, dtype=np.float64))
            scored = (X_scored, y_held)
    except ValueError:  # e.g. a class absent from the training rows
        heldout = scored = None
    return _Fold(
        prep,
        _float32(X_valid),
        y_tensor,
        fitted,
        X_train if keep_train else None,
        y_train,
        X_test,
        y_test,
        heldout,
        scored,
        raw_test,
        raw_train,
    )


def _own_scorers(scorers) -> bool:
    """Whether a scorer is the user's own callable: it may look at the whole
    pipeline or the raw rows, so it gets them, as ``GridSearchCV`` gives
    them. scikit-learn's scorers only ask the estimator for predictions,
    which the network answers alike on the transformed rows."""
    inner = (
        scorers._scorers.values()
        if isinstance(scorers, _MultimetricScorer)
        else [scorers]
    )
    return any(not isinstance(s, _BaseScorer | _PassthroughScorer) for s in inner)


def _several_outputs(y) -> bool:
    """Whether ``y`` holds more than one target column."""
    return y is not None and np.ndim(y) == 2 and np.shape(y)[1] > 1


def _float32(X) -> torch.Tensor:
    return _tensor(np.ascontiguousarray(X, dtype=np.float32))


def _tensor(array: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` of a copy when ``array`` is read-only (a pandas
    frame's values under copy-on-write), where torch would warn that writing
    to it is undefined."""
    return torch.from_numpy(array if array.flags.writeable else array.copy())


@dataclass
class _Member:
    """One candidate on one fold: its network (unfitted until materialised),
    what the engine needs, and what the run gave it."""

    candidate: int
    params: dict
    fold: int
    net: BaseEstimator
    data: _Fold
    seed: int
    train: tuple | None = None
    valid: tuple | None = None
    error: str | None = None
    exception: BaseException | None = None  # what made it fail, if it raised
    work: float = 0.0  # multiply-adds per epoch, roughly: its share of the run


def _seed(net) -> int:
    """The seed the estimator's ``fit`` draws from its ``random_state``."""
    return int(check_random_state(net.random_state).randint(np.iinfo(np.int32).max))


def _split_for_early_stopping(member: _Member, cache: dict) -> None:
    """The estimator's own validation split (``ValidationSplit``, seeded by
    the fit's seed); members with the same fold and seed share it. Rows too
    few to split (the fit would train on all, without early stopping) make
    the search fall back to the grid."""
    net, data = member.net, member.data
    if not net.early_stopping:
        member.train = (data.X, data.y)
        return
    key = (id(data), member.seed, net.validation_fraction)
    if key not in cache:
        split = ValidationSplit(
            net.validation_fraction, stratified=net._stratify, random_state=member.seed
        )
        train, valid = split(data.X, data.y)
        if valid is None:
            raise _Unpackable(
                f"a fold's {len(data.y)} training rows are too few for early "
                "stopping's validation split"
            )
        parts = [torch.as_tensor(s.indices) for s in (train, valid)]
        cache[key] = [(data.X[i], data.y[i]) for i in parts]
    member.train, member.valid = cache[key]


def _module_and_rng(member: _Member):
    """The member's initialized MLP and RNG, as its estimator's fit makes them."""
    net = member.net
    net.__dict__.update(member.data.fitted)
    params = net._module_params(member.data.X.shape[1], net._n_net_outputs())
    return seeded_member(params, member.seed)


def _history(train_loss, valid_loss) -> History:
    """A skorch history with the per-epoch losses of a packed member."""
    history = History()
    for epoch, loss in enumerate(train_loss, start=1):
        history.new_epoch()
        history.record("epoch", epoch)
        history.record("train_loss", loss)
        if epoch <= len(valid_loss):
            history.record("valid_loss", valid_loss[epoch - 1])
    return history


def _materialise(member: _Member, state: dict, history: History):
    """The member as an ordinary fitted estimator: its fitted attributes and a
    skorch net holding the trained weights (the persistence hook)."""
    fitted = {**member.data.fitted, "n_iter_": len(history)}
    member.net._restore_net(fitted, state, history)
    return member.net


def _answer(member: _Member, outputs: np.ndarray) -> np.ndarray:
    """The member's predictions (probabilities, or targets in their units) on
    its test rows from the packed run's float64 raw ``outputs`` there: its
    estimator's own output map (softmax, the target's un-scaling)."""
    net = member.net
    net.__dict__.update(member.data.fitted)
    with torch.no_grad():
        return net._output_module().double()(torch.from_numpy(outputs)).numpy()


@contextlib.contextmanager
def _answering(member: _Member, answer: np.ndarray, n_iter: int):
    """The member's estimator, fitted attributes set, whose ``predict`` (and
    ``predict_proba``, ``score``) on its test rows returns from ``answer``
    (see :func:`_answer`), with no net built. Any other rows are an error
    (only the test rows were computed)."""
    net, rows = member.net, member.data.X_test
    net.__dict__.update(member.data.fitted, n_iter_=n_iter)

    def forward(X):
        if X is not rows:
            raise RuntimeError("A packed member answers only for its test rows.")
        return answer

    net._forward = forward
    try:
        yield net
    finally:
        del net._forward


def _on_dask() -> bool:
    """Whether the active joblib backend is Dask's (``parallel_config(
    backend="dask")``, which ``sweep(backend="dask")`` sets): then the packed
    groups run on its workers, as ``GridSearchCV``'s fits would."""
    backend = joblib.parallel.get_active_backend()[0]
    return type(backend).__name__ == "DaskDistributedBackend"


def _joblib_runner() -> Callable[[list[tuple]], Any]:
    """A ``train_packed`` runner: one joblib task per group of members, on
    the active backend (one group per worker thread of the cluster), each
    result yielded as it arrives in order."""

    def run(jobs: list[tuple]):
        parallel = Parallel(n_jobs=len(jobs), return_as="generator")
        return parallel(delayed(train_group_alone)(*job) for job in jobs)

    return run


def _pipeline(name, prep, net):
    if name is None:
        return net
    steps = list(prep.steps) if prep is not None else []
    return Pipeline([*steps, (name, net)])


class PackedSearchCV(GridSearchCV):
    """Grid search over a sknorm pipeline, every candidate x fold trained at once.

    The same contract as :class:`~sklearn.model_selection.GridSearchCV`
    (``cv_results_`` with the same keys, ranks, ``best_*``, ``refit``, several
    scorers, any splitter, ``groups``, ``error_score``); what differs is how
    the fits run. When the grid varies only the steps before the network (the
    scaling) and the network's ``norm``, ``norm_position``, ``dropout``,
    ``lr`` and ``weight_decay``, the steps before the network are fitted once
    per (setting, fold) and every candidate x fold becomes one member of a
    single packed run (``sknorm._packed.train_packed``): each member starts
    from the initialization its own ``fit`` would draw from ``random_state``,
    shuffles its own fold with its own generator, keeps its own batch-norm
    statistics, early-stopping state and Adam state, and a member whose loss
    stops being finite gets ``error_score`` while the others go on. With the
    estimator's ``device="cuda"`` the run trains on the GPU as one stack
    (``n_jobs`` does not apply), each member still shuffled and dropped out
    by its own CPU generator, as its fit on the CPU would be; the members
    the packed run fits (an ensemble's) come back on the CPU, while
    ``best_estimator_`` is refit by its own ``fit`` on the GPU. Any other
    grid (or estimator setting the engine does not run: another optimizer,
    callbacks, class or sample weights, a device other than the CPU and
    CUDA, such as Apple's ``"mps"``) falls back to ``GridSearchCV`` with a
    warning naming the reason.

    Parameters
    ----------
    estimator : Pipeline or sknorm estimator
        A pipeline whose last step is :class:`NormMLPClassifier` or
        :class:`NormMLPRegressor` (as :func:`make_norm_pipeline` builds), or
        one of those estimators.
    param_grid : dict or list of dict
        As in ``GridSearchCV``.
    scoring : str, callable, list, tuple, dict or None, default=None
        As in ``GridSearchCV``; several scorers too.
    cv : int, cross-validation splitter or iterable, default=5
        As in ``GridSearchCV``; ``groups`` go to :meth:`fit`.
    refit : bool, str or callable, default=True
        Refit the best candidate on all the data with the estimator's own
        ``fit``; a scorer name with several scorers.
    error_score : "raise" or float, default=np.nan
        The score of a member that fails (diverges).
    n_jobs : int or None, default=None
        The packed run's worker threads: the members are dealt into
        ``n_jobs`` groups, each trained as one stack by its own thread (torch
        releases the GIL in its kernels, so they run on separate cores, with
        no process to start); -1 means every core. None takes the estimator's
        ``n_threads`` (None there: every core this process may use when the
        stack is big enough to pay, else one); on a GPU, one stack. Under
        joblib's Dask backend (``with joblib.parallel_config(backend="dask")``,
        as ``GridSearchCV`` runs its fits there), each group is one task on
        the cluster instead, run by a worker with one torch thread; -1 then
        means every thread of the cluster. The fallback uses ``n_jobs`` as
        ``GridSearchCV`` does.
    return_train_score : bool, default=False
        Also score each member on its training rows.
    verbose : int, default=0
        Used by the fallback.
    pre_dispatch : int or str, default="2*n_jobs"
        Used by the fallback.
    ensemble : int, default=0
        With ``k >= 2`` (one scorer, or ``refit`` naming one of several; not
        with a callable ``refit``), also the average of the ``k`` best
        candidates (their probabilities for a classifier: soft voting): scored
        on the same folds from the members' predictions on their held-out rows
        (no more training), and, with ``refit``, fitted on all the data as
        scikit-learn's ``VotingClassifier`` or ``VotingRegressor`` (the best
        candidate is ``best_estimator_`` itself; the other ``k - 1`` train in
        one packed run). Packed engine only: the fallback would need
        ``k x folds`` more fits for the score, and leaves it out. The
        candidates are chosen on the same folds that score their average, so
        its score is as optimistic as ``best_score_``.

    Attributes
    ----------
    cv_results_ : dict of numpy arrays
        As ``GridSearchCV``'s. ``mean_fit_time`` is each candidate's share of
        the packed run, by its members' work (multiply-adds per epoch times
        the epochs each trained), as the packed run's time goes where its
        arithmetic is: a PLR candidate's is some 20 times a plain one's (one
        by one, where per-step overhead dominates, its fits take about 3
        times as long).
    best_estimator_, best_score_, best_params_, best_index_, scorer_, \
n_splits_, refit_time_, multimetric_
        As in ``GridSearchCV``.
    packed_ : bool
        Whether the packed engine ran (False: the fallback did).
    ensemble_candidates_ : list of int
        With ``ensemble``: the averaged candidates (indices into
        ``cv_results_["params"]``), best first.
    ensemble_scores_ : ndarray of shape (n_splits,)
        With ``ensemble``: their average's score on each fold (NaN where a
        member failed); ``ensemble_score_`` is the mean.
    ensemble_estimator_ : VotingClassifier or VotingRegressor
        With ``ensemble`` and ``refit``: the average, fitted on all the data;
        its ``estimators_`` are ``sklearn.frozen.FrozenEstimator`` holding the
        fitted pipelines (the first is ``best_estimator_``).
    curves_ : list of dict
        With the packed engine: one dict per member and epoch with
        ``params``, ``candidate``, ``fold``, ``epoch``, ``train_loss`` (the
        mean batch loss of the epoch, as skorch's) and ``valid_loss`` (the
        loss on the member's held-out fold after the epoch, in evaluation
        mode). Losses are the training criterion: log loss, or the mean
        squared error of the standardized targets for a regressor.

    See Also
    --------
    sklearn.model_selection.GridSearchCV : The search it replaces.
    sknorm.normalization_grid : A grid over scaling and norm.

    Notes
    -----
    Scoring: once trained, every member runs on its held-out rows in float64
    inside the packed run, and its estimator (the fold's fitted attributes,
    no net built) answers ``predict``/``predict_proba`` there from those
    outputs, through its own output map, so any scikit-learn scorer works at
    the cost of the scorer alone. With ``return_train_score`` each member is
    materialised instead (a skorch net holding its weights, about 2-4 ms).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sknorm import NormMLPClassifier, make_norm_pipeline, normalization_grid
    >>> from sknorm._search import PackedSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> net = NormMLPClassifier((16,), max_epochs=5, random_state=0)
    >>> grid = normalization_grid(["standard"], ["batch", "layer"])
    >>> search = PackedSearchCV(make_norm_pipeline(net), grid, cv=3).fit(X, y)
    >>> search.packed_, len(search.cv_results_["params"])
    (True, 2)
    """

    _parameter_constraints: dict = {
        **GridSearchCV._parameter_constraints,
        "ensemble": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        estimator: BaseEstimator,
        param_grid: dict | list,
        *,
        scoring=None,
        cv=5,
        refit=True,
        error_score=np.nan,
        n_jobs: int | None = None,
        return_train_score: bool = False,
        verbose: int = 0,
        pre_dispatch="2*n_jobs",
        ensemble: int = 0,
    ) -> None:
        self.ensemble = ensemble
        super().__init__(
            estimator,
            param_grid,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )

    def fit(self, X, y=None, **params) -> PackedSearchCV:
        """Run the search: packed when the grid allows, else as GridSearchCV.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            The data, as the estimator takes it.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        **params : dict
            ``groups`` for the splitter; other fit parameters make the search
            fall back.

        Returns
        -------
        self : PackedSearchCV
            The fitted search.
        """
        self._validate_params()  # as GridSearchCV's fit, on the packed path too
        groups = params.pop("groups", None)
        self._check_ensemble_setup()
        if self.ensemble and self.ensemble >= 2 and _several_outputs(y):
            raise ValueError(
                f"ensemble={self.ensemble} averages candidates with scikit-learn's "
                "VotingRegressor, which takes one target column; y has "
                f"{np.shape(y)[1]}: pass ensemble=0."
            )
        reason = _unpackable(self.estimator, self.param_grid, params)
        if reason is None and y is None:
            reason = "y is None"
        if reason is None:
            try:
                self.packed_ = True
                return self._fit_packed(X, y, groups)
            except _Unpackable as exc:
                reason = str(exc)
        self.packed_ = False
        if self.ensemble and self.ensemble >= 2:  # scored only in a packed run
            reason += "; no ensemble (it is scored from the packed run)"
        warnings.warn(
            f"PackedSearchCV runs as GridSearchCV: {reason}.",
            UserWarning,
            stacklevel=2,
        )
        self.curves_ = []
        extra = {} if groups is None else {"groups": groups}
        return super().fit(X, y, **extra, **params)

    def _check_ensemble_setup(self) -> None:
        """An ensemble ranks the candidates by one scorer and keeps the best
        (``best_estimator_``) among them: settings where it cannot, refused
        before any fit."""
        if not (self.ensemble and self.ensemble >= 2):
            return
        if callable(self.refit):
            raise ValueError(
                f"ensemble={self.ensemble} averages the best candidates by mean "
                "score, with the best as best_estimator_; a callable refit picks "
                "best_estimator_ another way. Pass refit=True (or a scorer name), "
                "or ensemble=0."
            )
        several = isinstance(self.scoring, list | tuple | set | dict)
        if several and not isinstance(self.refit, str):
            raise ValueError(
                f"ensemble={self.ensemble} ranks the candidates by one scorer: "
                f"with several scorers pass refit=<one of their names> (got "
                f"refit={self.refit!r}), or ensemble=0."
            )

    # -- the packed path ------------------------------------------------------
    def _members(self, X, y, splits, candidates, refit=False) -> list[_Member]:
        """One member per candidate x fold (candidate-major, as GridSearchCV
        orders its fits); the steps before the network are fitted once per
        (setting, fold) and shared. ``refit``: ``splits`` is all the rows
        with no test part, and nothing is kept for scoring."""
        name, net, prep = _net_and_prep(self.estimator)
        settings, folds, members = [], {}, []
        for c, params in enumerate(candidates):
            net_params, prep_params = {}, {}
            for key, value in params.items():
                step, _, param = key.partition("__")
                if name is None:
                    net_params[key] = value
                elif step == name:
                    net_params[param] = value
                else:
                    prep_params[key] = value
            if prep_params not in settings:
                settings.append(prep_params)
            p = settings.index(prep_params)
            for f, (train, test) in enumerate(splits):
                if (p, f) not in folds:
                    step_prep = None if prep is None else clone(prep)
                    try:
                        if step_prep is not None:
                            step_prep.set_params(**clone(prep_params, safe=False))
                        folds[p, f] = _prepare_fold(
                            step_prep,
                            net,
                            X,
                            y,
                            train,
                            test,
                            self.return_train_score and not refit,
                            keep_raw=self._own_scoring and not refit,
                        )
                    except Exception as exc:  # as a failed fit in GridSearchCV
                        folds[p, f] = _failed_fold(y, test, exc)
                member_net = clone(net).set_params(**net_params)
                members.append(
                    _Member(c, params, f, member_net, folds[p, f], _seed(member_net))
                )
        return members

    def _run(self, members: list[_Member]):
        """Train every member that could be built, in one packed run;
        ``(members run, PackedRun)``."""
        ready, built, cache = [], [], {}
        for member in members:
            try:
                if member.data.error is not None:
                    raise member.data.error
                member.net._validate_params()
                _check_device(member.net.device)
                _split_for_early_stopping(member, cache)
                built.append(_module_and_rng(member))
                member.work = work_per_row(built[-1][0]) * len(member.train[1])
                ready.append(member)
            except _Unpackable:
                raise
            except Exception as exc:  # as a failed fit in GridSearchCV
                member.error = f"{type(exc).__name__}: {exc}"
                member.exception = exc
        if not ready:
            return ready, None
        net = ready[0].net
        modules, generators = zip(*built, strict=True)
        early = bool(net.early_stopping)
        heldout = [m.data.heldout for m in ready]
        scored = [m.data.scored for m in ready]
        run = train_packed(
            modules,
            generators,
            [m.train for m in ready],
            task="classification"
            if isinstance(net, NormMLPClassifier)
            else "regression",
            max_epochs=net.max_epochs,
            batch_size=net.batch_size,
            lr=[m.net.lr for m in ready],
            weight_decay=[m.net.weight_decay for m in ready],
            valid_sets=[m.valid for m in ready] if early else None,
            heldout_sets=None if any(h is None for h in heldout) else heldout,
            patience=net.n_iter_no_change if early else None,
            tol=net.tol,
            predict_sets=None
            if self.return_train_score
            or self._own_scoring
            or any(s is None for s in scored)
            else scored,
            n_threads=self._workers(net),
            progress=_PROGRESS.get(),
            runner=_joblib_runner() if _on_dask() else None,
            device=net.device,
        )
        return ready, run

    def _workers(self, net) -> int | None:
        """Worker threads of the packed run: ``n_jobs`` when given, else the
        estimator's ``n_threads`` (None: the cores, when the stack is big)."""
        if self.n_jobs is not None:
            return effective_n_jobs(self.n_jobs)
        return net.n_threads

    def _failed(self, scorers, error: str, exception=None) -> dict:
        """``_fit_and_score``'s result for a failed fit; with ``error_score=
        "raise"``, the fit's own exception (or, for a member that diverged in
        the run, :class:`TrainingDivergedError`)."""
        if self.error_score == "raise":
            if exception is not None:
                raise exception
            raise TrainingDivergedError(error)
        if isinstance(scorers, dict) or hasattr(scorers, "_scorers"):
            names = scorers._scorers if hasattr(scorers, "_scorers") else scorers
            scores = {name: self.error_score for name in names}
        else:
            scores = self.error_score
        result = {"fit_error": error, "test_scores": scores, "score_time": 0.0}
        if self.return_train_score:
            result["train_scores"] = scores
        return result

    def _scored(self, member: _Member, run, i: int, scorers) -> dict:
        """Score one trained member as ``_fit_and_score`` does. With the run's
        outputs on the test rows, its estimator answers from them; else it
        is materialised (a net holding its weights) and predicts."""
        start = time.perf_counter()
        data = member.data
        if run.outputs is not None:
            answer = _answer(member, run.outputs[i])
            self._answers[member.candidate, member.fold] = answer
            with _answering(member, answer, len(run.train_loss[i])) as net:
                scores = _score(
                    net, data.X_test, data.y_test, scorers, {}, self.error_score
                )
            return {
                "fit_error": None,
                "test_scores": scores,
                "score_time": time.perf_counter() - start,
            }
        history = _history(run.train_loss[i], run.valid_loss[i])
        estimator = _materialise(member, run.states[i], history)
        X_test, X_train = data.X_test, data.X_train
        if self._own_scoring:  # the whole fitted pipeline, on the raw rows
            name = _net_and_prep(self.estimator)[0]
            estimator = _pipeline(name, data.prep, estimator)
            X_test, X_train = data.raw_test, data.raw_train
        scores = _score(estimator, X_test, data.y_test, scorers, {}, self.error_score)
        result = {"fit_error": None, "test_scores": scores}
        if self.return_train_score:
            result["train_scores"] = _score(
                estimator, X_train, data.y_train, scorers, {}, self.error_score
            )
        result["score_time"] = time.perf_counter() - start
        return result

    def _score_members(self, members, ready, run, scorers, fit_time: float):
        """One ``_fit_and_score``-style dict per member, and the curves. Each
        member's fit time is its share of the run by its work (multiply-adds
        per epoch times the epochs it trained: a PLR member costs some 20
        plain ones, one that stopped early less); one that could not be
        built gets none."""
        by_member = {id(m): i for i, m in enumerate(ready)}
        work = [
            0.0 if i is None else m.work * len(run.train_loss[i])
            for m, i in ((m, by_member.get(id(m))) for m in members)
        ]
        total = sum(work)
        out, curves = [], []
        for member, member_work in zip(members, work, strict=True):
            share = fit_time * member_work / total if total else 0.0
            i = by_member.get(id(member))
            error = member.error if i is None else run.errors[i]
            if error is not None:
                result = self._failed(scorers, error, member.exception)
            else:
                result = self._scored(member, run, i, scorers)
            result.update(n_test_samples=len(member.data.y_test), fit_time=share)
            out.append(result)
            if i is not None:
                curves += _member_curves(member, run, i)
        return out, curves

    def _fit_packed(self, X, y, groups) -> PackedSearchCV:
        scorers, refit_metric = self._get_scorers()
        self._own_scoring = _own_scorers(scorers)
        X, y = indexable(X, y)
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(cv.split(X, y, groups))
        self.n_splits_ = len(splits)
        candidates = list(ParameterGrid(self.param_grid))
        if not splits or not candidates:  # GridSearchCV's words
            raise ValueError(
                "No fits were performed. Was the CV iterator empty? "
                "Were there no candidates?"
            )
        start = time.perf_counter()
        self._answers: dict[tuple[int, int], np.ndarray] = {}
        members = self._members(X, y, splits, candidates)
        ready, run = self._run(members)
        fit_time = time.perf_counter() - start
        # one torch thread: OpenMP threads on these small predictions cost
        # more than they gain, and on a busy machine they wait on each other
        with fit_context(None, 1):
            out, self.curves_ = self._score_members(
                members, ready, run, scorers, fit_time
            )
        _warn_or_raise_about_fit_failures(out, self.error_score)
        if callable(self.scoring):
            _insert_error_scores(out, self.error_score)
        results = self._format_results(candidates, self.n_splits_, out)
        self.multimetric_ = isinstance(out[0]["test_scores"], dict)
        if callable(self.scoring) and self.multimetric_:
            self._check_refit_for_multimetric(out[0]["test_scores"])
            refit_metric = self.refit
        self._select_best(results, refit_metric)
        # an ensemble of at least two, and at most every candidate
        averaged = min(self.ensemble or 0, len(candidates)) >= 2
        if averaged and self._own_scoring:
            # a scorer of the user's own takes the whole model on each fold's
            # raw rows, and the packed run builds no averaged pipeline per fold
            warnings.warn(
                f"ensemble={self.ensemble}: a scorer of your own (a plain function) "
                "scores the whole model, and the packed run keeps no averaged "
                "model per fold; no ensemble. A scikit-learn scorer (a name, or "
                "make_scorer) scores it.",
                UserWarning,
                stacklevel=3,
            )
            averaged = False
        if averaged:
            self._score_ensemble(results, members, scorers, refit_metric)
        if self.refit:
            self._refit(X, y)
            if averaged:
                self._refit_ensemble(results, X, y)
        self.scorer_ = getattr(scorers, "_scorers", scorers)
        self.cv_results_ = results
        return self

    def _score_ensemble(self, results, members, scorers, refit_metric) -> None:
        """The top candidates' average, scored on each fold from the members'
        answers there (no training): ``ensemble_candidates_``,
        ``ensemble_scores_`` and ``ensemble_score_``."""
        key = (
            "rank_test_score" if not self.multimetric_ else f"rank_test_{refit_metric}"
        )
        top = [int(c) for c in np.argsort(results[key], kind="stable")[: self.ensemble]]
        self.ensemble_candidates_ = top
        scores = []
        for fold in range(self.n_splits_):
            answers = [self._answers.get((c, fold)) for c in top]
            if any(a is None for a in answers):  # a failed member, or no outputs
                scores.append(np.nan)
                continue
            member = next(
                m for m in members if m.candidate == top[0] and m.fold == fold
            )
            with _answering(member, np.mean(answers, axis=0), 0) as net:
                score = _score(
                    net, member.data.X_test, member.data.y_test, scorers, {}, np.nan
                )
            scores.append(score[refit_metric] if isinstance(score, dict) else score)
        self.ensemble_scores_ = np.asarray(scores, dtype=float)
        self.ensemble_score_ = float(np.mean(self.ensemble_scores_))

    def _refit_ensemble(self, results, X, y) -> None:
        """The top candidates fitted on all the data and averaged: scikit-
        learn's soft-voting ``VotingClassifier`` or ``VotingRegressor`` over
        the fitted pipelines (held by ``FrozenEstimator``, so its ``fit``
        keeps them). The best candidate is ``best_estimator_`` itself; the
        others are refit in one packed run, each as its own ``fit`` would
        train it."""
        top = self.ensemble_candidates_
        others = [c for c in top if c != self.best_index_]
        refits = dict(
            zip(
                others,
                self._packed_refits(X, y, [results["params"][c] for c in others]),
                strict=True,
            )
        )
        fitted = [refits[c] if c in refits else self.best_estimator_ for c in top]
        estimators = [
            (self._member_name(c, results["params"][c]), FrozenEstimator(model))
            for c, model in zip(self.ensemble_candidates_, fitted, strict=True)
        ]
        if is_classifier(self.estimator):
            ensemble = VotingClassifier(estimators, voting="soft")
        else:
            ensemble = VotingRegressor(estimators)
        # frozen members: fit only reads the classes (y of one column as 1-D)
        self.ensemble_estimator_ = ensemble.fit(
            X, np.ravel(y) if np.ndim(y) == 2 else y
        )

    def _member_name(self, index: int, params: dict) -> str:
        """The ensemble's name for candidate ``index`` (its row of
        ``cv_results_``)."""
        return f"candidate_{index}"

    def _packed_refits(self, X, y, candidates: list[dict]) -> list:
        """``candidates`` fitted on all the rows as one packed run: ordinary
        fitted pipelines (or estimators), as the estimator's own ``fit``
        would train each, up to float32 rounding. A member that fails raises
        the error its own fit would."""
        rows = np.arange(_num_samples(X))
        try:
            with reporting_progress(None):
                members = self._members(X, y, [(rows, None)], candidates, refit=True)
                ready, run = self._run(members)
        except _Unpackable:  # e.g. too few rows for early stopping's split
            return [
                clone(self.estimator).set_params(**clone(c, safe=False)).fit(X, y)
                for c in candidates
            ]
        by_member = {id(m): i for i, m in enumerate(ready)}
        name = _net_and_prep(self.estimator)[0]
        fitted = []
        for member in members:
            i = by_member.get(id(member))
            error = member.error if i is None else run.errors[i]
            if member.exception is not None:
                raise member.exception
            if error is not None:
                raise TrainingDivergedError(f"The refit failed: {error}")
            history = _history(run.train_loss[i], run.valid_loss[i])
            net = _materialise(member, run.states[i], history)
            fitted.append(_pipeline(name, member.data.prep, net))
        return fitted

    def _select_best(self, results: dict, refit_metric) -> None:
        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(
                self.refit, refit_metric, results
            )
            if not callable(self.refit):
                key = f"mean_test_{refit_metric}"
                self.best_score_ = results[key][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]

    def _refit(self, X, y) -> None:
        """The best candidate refit on all the data by its own ``fit``."""
        params = clone(self.best_params_, safe=False)
        self.best_estimator_ = clone(self.estimator).set_params(**params)
        start = time.perf_counter()
        self.best_estimator_.fit(X, y)
        self.refit_time_ = time.perf_counter() - start
        if hasattr(self.best_estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.best_estimator_.feature_names_in_


def _member_curves(member: _Member, run, i: int) -> list[dict]:
    """Per-epoch rows of one member for :attr:`PackedSearchCV.curves_`."""
    train, heldout = run.train_loss[i], run.heldout_loss[i]
    return [
        {
            "params": member.params,
            "candidate": member.candidate,
            "fold": member.fold,
            "epoch": epoch,
            "train_loss": loss,
            "valid_loss": heldout[epoch - 1] if epoch <= len(heldout) else np.nan,
        }
        for epoch, loss in enumerate(train, start=1)
    ]
