"""PackedSearchCV keeps GridSearchCV's contract.

Scores: the packed members train as their own fits do (test_packed.py), so on
the same folds and seeds their scores equal GridSearchCV's up to the float
rounding gap; accuracy on a few dozen held-out rows changes only when a
prediction flips, so the scores are compared with ``atol=0.02`` (one flipped
row in 50) and, measured, agree exactly.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, StratifiedKFold
from sklearn.utils._param_validation import InvalidParameterError

from sknorm import (
    NormMLPClassifier,
    NormMLPRegressor,
    PackedSearchCV,
    make_norm_pipeline,
    normalization_grid,
)

SETTINGS = {
    "hidden_layer_sizes": (8,),
    "max_epochs": 3,
    "batch_size": 32,
    "random_state": 0,
    "n_threads": 1,
}
GRID = {"scale__method": ["none", "standard"], "net__norm": ["batch", "layer"]}
CV = StratifiedKFold(3, shuffle=True, random_state=0)


def _searches(X, y, **params):
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    packed = PackedSearchCV(pipe, GRID, cv=CV, **params).fit(X, y)
    grid = GridSearchCV(pipe, GRID, cv=CV, **params).fit(X, y)
    return packed, grid


@pytest.fixture(scope="module")
def searches(cancer):
    X, y = cancer
    return _searches(X[::3], y[::3])


def test_packed_search_has_grid_search_results(searches):
    packed, grid = searches
    assert packed.packed_
    assert sorted(packed.cv_results_) == sorted(grid.cv_results_)
    for key in ("mean_test_score", "split0_test_score", "split2_test_score"):
        assert_allclose(packed.cv_results_[key], grid.cv_results_[key], atol=0.02)
    assert packed.cv_results_["params"] == grid.cv_results_["params"]


def test_packed_search_ranks_and_refits_the_best(searches, cancer):
    packed, _ = searches
    ranks = packed.cv_results_["rank_test_score"]
    assert ranks[packed.best_index_] == 1 == ranks.min()
    assert packed.best_score_ == packed.cv_results_["mean_test_score"].max()
    X, _ = cancer
    assert packed.best_estimator_.predict(X[:5]).shape == (5,)
    assert packed.best_estimator_[-1].n_iter_ == SETTINGS["max_epochs"]


def test_fit_time_is_each_candidates_share_of_the_run_by_its_work(cancer):
    # a PLR member's multiply-adds are many plain ones' (its embedding), so
    # its share of the packed run is too; the shares add up to the run
    X, y = cancer
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    grid = {"net__input_embedding": ["none", "periodic"], "net__norm": ["none"]}
    search = PackedSearchCV(pipe, grid, cv=CV, refit=False).fit(X[::3], y[::3])
    plain, plr = search.cv_results_["mean_fit_time"]
    assert plr > 5 * plain > 0
    assert (search.cv_results_["std_fit_time"] >= 0).all()


def test_packed_search_records_curves(searches):
    packed, _ = searches
    assert len(packed.curves_) == 4 * 3 * SETTINGS["max_epochs"]
    row = packed.curves_[0]
    assert set(row) == {
        "params",
        "candidate",
        "fold",
        "epoch",
        "train_loss",
        "valid_loss",
    }
    assert np.isfinite([r["valid_loss"] for r in packed.curves_]).all()


def test_packed_search_with_several_scorers(cancer):
    X, y = cancer
    scoring = {"acc": "accuracy", "auc": "roc_auc"}
    packed, grid = _searches(X[::3], y[::3], scoring=scoring, refit="auc")
    assert sorted(packed.cv_results_) == sorted(grid.cv_results_)
    assert_allclose(
        packed.cv_results_["mean_test_auc"],
        grid.cv_results_["mean_test_auc"],
        atol=0.02,
    )
    assert packed.best_params_ == grid.best_params_


def test_packed_search_takes_a_splitter_with_groups(diabetes):
    X, y = diabetes
    groups = np.arange(len(y)) % 4
    pipe = make_norm_pipeline(NormMLPRegressor(**SETTINGS))
    grid = {"net__norm": ["none", "rms"], "net__lr": [1e-3, 1e-2]}
    search = PackedSearchCV(pipe, grid, cv=GroupKFold(4)).fit(X, y, groups=groups)
    reference = GridSearchCV(pipe, grid, cv=GroupKFold(4)).fit(X, y, groups=groups)
    assert search.packed_
    assert_allclose(
        search.cv_results_["mean_test_score"],
        reference.cv_results_["mean_test_score"],
        atol=1e-3,
    )


def test_a_diverging_candidate_gets_error_score(diabetes):
    X, y = diabetes
    X = X * 1e4  # unscaled, so that lr=1e12 overflows float32 at once
    pipe = make_norm_pipeline(
        NormMLPRegressor(**{**SETTINGS, "hidden_layer_sizes": (8, 8)})
    )
    grid = {"scale__method": ["none"], "net__norm": ["none"], "net__lr": [1e-3, 1e12]}
    with pytest.warns(FitFailedWarning, match="diverged"):
        search = PackedSearchCV(pipe, grid, cv=3).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isnan(scores[1]) and np.isfinite(scores[0])
    assert search.best_index_ == 0


def test_unpackable_grid_falls_back_with_a_warning(iris):
    X, y = iris
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    grid = {"net__hidden_layer_sizes": [(4,), (8,)]}
    with pytest.warns(UserWarning, match="'net__hidden_layer_sizes' cannot be packed"):
        search = PackedSearchCV(pipe, grid, cv=2).fit(X, y)
    assert not search.packed_
    assert len(search.cv_results_["params"]) == 2
    # an ensemble asked for is left out, and the warning says so
    with pytest.warns(UserWarning, match="no ensemble"):
        search = PackedSearchCV(pipe, grid, cv=2, ensemble=2).fit(X, y)
    assert not hasattr(search, "ensemble_estimator_")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without cuda")
def test_a_device_this_torch_cannot_use_fails_each_fit_as_in_the_grid(iris):
    # device="cuda" packs (the run trains on the GPU, tests/test_gpu.py); where
    # torch has no CUDA, every member fails with the estimator's own message,
    # as each of GridSearchCV's fits would, not with torch's assertion
    X, y = iris
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS, device="cuda"))
    search = PackedSearchCV(pipe, {"net__norm": ["none", "layer"]}, cv=2)
    with pytest.raises(ValueError, match="this torch cannot use a cuda device"):
        search.fit(X, y)


def test_a_device_the_engine_does_not_run_on_falls_back():
    # Apple's mps has no float64, which the engine's scores use: the grid runs
    # (where each fit names the device if this torch cannot use it)
    from sknorm._search import _unpackable

    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS, device="mps"))
    reason = _unpackable(pipe, {"net__norm": ["none"]}, {})
    assert reason == "device='mps' (the engine runs on the CPU or a CUDA GPU)"
    for device in ("cpu", "cuda", "cuda:0"):
        pipe.set_params(net__device=device)
        assert _unpackable(pipe, {"net__norm": ["none"]}, {}) is None


def test_packed_search_warns_nothing_on_a_packable_grid(iris):
    X, y = iris
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PackedSearchCV(pipe, {"net__dropout": [0.0, 0.2]}, cv=2).fit(X, y)


def test_the_ensemble_is_the_average_of_the_best_candidates(diabetes):
    # its score on each fold: the top candidates' own fits on that fold (the
    # grid engine's), their predictions averaged, scored; the packed run gets
    # it from the members' predictions without training anything more
    X, y = diabetes
    net = NormMLPRegressor((16,), max_epochs=8, early_stopping=False, random_state=0)
    grid = normalization_grid(["minmax", "standard"], ["none", "layer"])
    cv = KFold(3, shuffle=True, random_state=0)
    search = PackedSearchCV(make_norm_pipeline(net), grid, cv=cv, ensemble=2)
    search.fit(X, y)
    top = search.ensemble_candidates_
    ranks = search.cv_results_["rank_test_score"]
    assert sorted(ranks[top]) == [1, 2]
    params = [search.cv_results_["params"][c] for c in top]
    expected = []
    for train, test in cv.split(X, y):
        preds = [
            clone(make_norm_pipeline(net)).set_params(**p).fit(X[train], y[train])
            for p in params
        ]
        mean = np.mean([p.predict(X[test]) for p in preds], axis=0)
        expected.append(r2_score(y[test], mean))
    assert_allclose(search.ensemble_scores_, expected, rtol=1e-4)
    assert search.ensemble_score_ == pytest.approx(np.mean(expected), rel=1e-4)
    fitted = search.ensemble_estimator_
    assert isinstance(fitted, VotingRegressor) and len(fitted.estimators_) == 2
    assert fitted.predict(X[:5]).shape == (5,)
    # refit in one packed run, each as its own fit on all the rows trains it
    own = [clone(make_norm_pipeline(net)).set_params(**p).fit(X, y) for p in params]
    for frozen, model in zip(fitted.estimators_, own, strict=True):
        assert_allclose(frozen.predict(X), model.predict(X), rtol=1e-4, atol=1e-3)
    mean = np.mean([model.predict(X) for model in own], axis=0)
    assert_allclose(fitted.predict(X), mean, rtol=1e-4, atol=1e-3)


def test_the_ensemble_refit_early_stops_each_member_as_its_own_fit(cancer):
    X, y = cancer
    net = NormMLPClassifier(
        (16,), lr=0.01, max_epochs=40, n_iter_no_change=2, random_state=0
    )
    # Not batch norm here: the bias in front of it has a zero gradient up to
    # rounding, which Adam scales up to lr-sized steps, so its running mean
    # (and the evaluation outputs) follow the rounding of each run's products
    grid = normalization_grid(["minmax", "standard"], ["none", "layer"])
    search = PackedSearchCV(make_norm_pipeline(net), grid, cv=2, ensemble=3)
    search.fit(X, y)
    fitted = search.ensemble_estimator_
    for c, frozen in zip(search.ensemble_candidates_, fitted.estimators_, strict=True):
        params = search.cv_results_["params"][c]
        own = clone(make_norm_pipeline(net)).set_params(**params).fit(X, y)
        assert frozen.estimator[-1].n_iter_ == own[-1].n_iter_ < 40
        assert_allclose(frozen.predict_proba(X), own.predict_proba(X), atol=1e-5)


def test_the_ensemble_of_a_classifier_votes_softly(cancer):
    X, y = cancer
    net = NormMLPClassifier((8,), max_epochs=3, early_stopping=False, random_state=0)
    grid = normalization_grid(["standard"], ["none", "batch", "layer"])
    search = PackedSearchCV(make_norm_pipeline(net), grid, cv=2, ensemble=3)
    search.fit(X, y)
    assert len(search.ensemble_candidates_) == 3
    assert np.isfinite(search.ensemble_scores_).all()
    fitted = search.ensemble_estimator_
    assert isinstance(fitted, VotingClassifier) and fitted.voting == "soft"
    assert set(fitted.predict(X[:20])) <= set(y)


def test_folds_with_different_one_hot_widths_pack_and_match_the_grid(cancer):
    # A category seen in one row only: the fold that holds it out of its
    # training rows one-hot encodes one column fewer than the others.
    X, y = cancer
    frame = pd.DataFrame(X[::3, :5], columns=[f"x{i}" for i in range(5)])
    frame["kind"] = np.where(np.arange(len(frame)) % 2 == 0, "a", "b")
    frame.loc[0, "kind"] = "rare"
    y = y[::3]
    grid = {
        "scale__method": ["standard"],
        # Not batch norm: under it the periodic embedding is chaotic (the
        # rounding gap grows, test_packed.py's RTOL_PERIODIC_BATCH).
        "net__norm": ["none", "layer"],
        "net__input_embedding": ["none", "scale", "periodic"],
    }
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback
        packed = PackedSearchCV(pipe, grid, cv=CV).fit(frame, y)
    widths = {
        clone(pipe[0]).fit(frame.iloc[train]).transform(frame.iloc[:1]).shape[1]
        for train, _ in CV.split(frame, y)
    }
    assert len(widths) == 2 and packed.packed_
    reference = GridSearchCV(pipe, grid, cv=CV).fit(frame, y)
    assert_allclose(
        packed.cv_results_["mean_test_score"],
        reference.cv_results_["mean_test_score"],
        atol=0.02,
    )


def test_a_scorer_of_ones_own_gets_the_pipeline_and_the_raw_rows(cancer):
    X, y = cancer
    X, y = X[::3], y[::3]
    seen = []

    def scorer(estimator, X_rows, y_rows):
        seen.append((type(estimator).__name__, X_rows.shape[1], float(X_rows.max())))
        return float(np.mean(estimator.predict(X_rows) == y_rows))

    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    packed = PackedSearchCV(
        pipe,
        GRID,
        cv=CV,
        scoring={"own": scorer, "acc": "accuracy"},
        refit="own",
        return_train_score=True,
    ).fit(X, y)
    assert packed.packed_ and len(seen) == 2 * 4 * 3  # test and train rows
    assert {s[:2] for s in seen} == {("Pipeline", 30)}
    assert min(s[2] for s in seen) > 100  # raw, unscaled rows (areas in the 1000s)
    assert_allclose(
        packed.cv_results_["mean_test_own"], packed.cv_results_["mean_test_acc"]
    )


def test_read_only_rows_become_tensors_of_a_copy():
    # a DataFrame's values under pandas' copy-on-write are read-only: torch
    # warns ("not writable ... undefined behavior") on them unless copied
    from sknorm._search import _float32, _tensor

    rows = np.arange(6, dtype=np.float32).reshape(2, 3)
    rows.flags.writeable = False
    for tensor in (_float32(rows), _tensor(rows)):
        assert not np.shares_memory(tensor.numpy(), rows)
        assert_array_equal(tensor.numpy(), rows)
    writable = np.ones((2, 3), dtype=np.float32)
    assert np.shares_memory(_float32(writable).numpy(), writable)  # no copy


def test_a_failing_step_before_the_network_fails_its_candidates_only(iris):
    # as in GridSearchCV: the fits of a bad scaling fail (error_score, a
    # warning), the others go on; with error_score="raise", its own error
    X, y = iris
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    grid = {"scale__method": ["standard", "bogus"], "net__norm": ["layer"]}
    searches = []
    for cls in (PackedSearchCV, GridSearchCV):
        with pytest.warns(FitFailedWarning, match="2 fits failed out of a total of 4"):
            searches.append(cls(pipe, grid, cv=2).fit(X, y))
    for search in searches:
        scores = search.cv_results_["mean_test_score"]
        assert np.isfinite(scores[0]) and np.isnan(scores[1])
        assert search.best_index_ == 0
    with pytest.raises(InvalidParameterError, match="'method' parameter"):
        PackedSearchCV(pipe, grid, cv=2, error_score="raise").fit(X, y)


def test_error_score_raise_raises_a_members_own_error(iris):
    X, y = iris
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    search = PackedSearchCV(pipe, {"net__norm": ["layer", "bogus"]}, cv=2)
    with pytest.raises(InvalidParameterError, match="'norm' parameter"):
        search.set_params(error_score="raise").fit(X, y)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"error_score": "bogus"}, "'error_score' parameter"),
        ({"cv": 1}, "'cv' parameter"),
        ({"ensemble": "auto"}, "'ensemble' parameter"),
        ({"ensemble": -3}, "'ensemble' parameter"),
    ],
)
def test_the_search_validates_its_parameters_as_grid_search(iris, params, message):
    X, y = iris
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    with pytest.raises(InvalidParameterError, match=message):
        PackedSearchCV(pipe, GRID, **params).fit(X, y)


def test_an_empty_cv_iterator_is_grid_searchs_error(iris):
    X, y = iris
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    with pytest.raises(ValueError, match="No fits were performed"):
        PackedSearchCV(pipe, GRID, cv=[]).fit(X, y)


@pytest.mark.parametrize(
    "scoring, refit, message",
    [
        (["accuracy", "neg_log_loss"], False, "pass refit=<one of their names>"),
        ({"a": "accuracy", "b": "neg_log_loss"}, True, "pass refit=<one of"),
        (None, lambda results: 0, "a callable refit"),
    ],
)
def test_an_ensemble_needs_one_scorer_to_rank_by(iris, scoring, refit, message):
    # refused before any fit, where it raised a KeyError after the whole run
    # (several scorers) or left best_estimator_ out (a callable refit)
    X, y = iris
    pipe = make_norm_pipeline(NormMLPClassifier(**SETTINGS))
    search = PackedSearchCV(pipe, GRID, cv=2, scoring=scoring, refit=refit, ensemble=2)
    with pytest.raises(ValueError, match=re.escape(message)):
        search.fit(X, y)
