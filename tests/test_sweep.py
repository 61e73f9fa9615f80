"""sweep(): the table, the curves, the plots, the task, progress and Dask."""

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from _presets import FAST as _FAST
from numpy.testing import assert_allclose
from sklearn.datasets import load_linnerud, load_wine
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from skorch.callbacks import Callback

from sknorm import (
    NormMLPClassifier,
    NormMLPRegressor,
    SweepResult,
    TabularScaler,
    sweep,
)
from sknorm._pipeline import DEFAULT_NORMS, DEFAULT_SCALINGS, LEARNED_SCALINGS
from sknorm._sweep import (
    AUTO_MAX_CLASSES,
    AUTO_MIN_ROWS_PER_CLASS,
    CANDIDATE_COLUMNS,
    CURVE_COLUMNS,
    TABLE_COLUMNS,
    WARN_CLASSES,
    WARN_ROWS_PER_CLASS,
    _build_search,
    _n_fits,
    _resolve_task,
)
from sknorm.callbacks import ActivationStats
from sknorm.datasets import make_loans

#: sweep() seeds every net with its own random_state: the preset's seed goes.
FAST = {k: v for k, v in _FAST.items() if k != "random_state"}

#: Candidates of the default grid.
N_DEFAULT = len(DEFAULT_SCALINGS) * len(DEFAULT_NORMS)


def _subset(X, y, n, seed=0):
    rows = np.random.RandomState(seed).permutation(len(y))[:n]
    return X[rows], y[rows]


@pytest.fixture(scope="module")
def cancer150(cancer):
    """150 rows of the breast cancer data: CV fits stay small."""
    return _subset(*cancer, 150)


@pytest.fixture(scope="module")
def result(cancer150):
    X, y = cancer150
    return sweep(X, y, cv=3, **FAST)


# -- the table ---------------------------------------------------------------------
def test_sweep_table_one_row_per_candidate(result):
    table = result.table
    assert isinstance(result, SweepResult)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert len(table) == N_DEFAULT == 12
    pairs = set(zip(table["scaling"], table["norm"], strict=True))
    assert pairs == {(s, n) for s in DEFAULT_SCALINGS for n in DEFAULT_NORMS}
    assert table["mean_score"].between(0, 1).all()
    assert (table["std_score"] >= 0).all()
    assert (table["mean_fit_time"] > 0).all()
    assert table["rank"].is_monotonic_increasing
    assert table["rank"].iloc[0] == 1


def test_sweep_best_row_is_the_search_best(result):
    best = result.table.iloc[0]
    assert result.best_params == result.search.best_params_
    method, embedding = LEARNED_SCALINGS.get(best["scaling"], (best["scaling"], "none"))
    assert result.best_params == {
        "scale__method": method,
        "net__input_embedding": embedding,
        "net__norm": best["norm"],
    }
    assert best["mean_score"] == pytest.approx(result.search.best_score_)


def test_sweep_search_is_a_refit_grid_search(result, cancer150):
    X, y = cancer150
    search = result.search
    assert isinstance(search, GridSearchCV)
    assert search.refit is True
    assert "mean_train_score" not in search.cv_results_
    assert result.best_estimator is search.best_estimator_
    net = result.best_estimator.named_steps["net"]
    assert isinstance(net, NormMLPClassifier)
    assert net.random_state == 0
    assert net.max_epochs == FAST["max_epochs"]
    assert net.hidden_layer_sizes == FAST["hidden_layer_sizes"]
    assert result.best_estimator.predict(X).shape == y.shape
    assert result.task == "classification"
    assert result.scoring == "accuracy"


def test_sweep_classification_cv_is_seeded_stratified(result):
    cv = result.search.cv
    assert isinstance(cv, StratifiedKFold)
    assert (cv.n_splits, cv.shuffle, cv.random_state) == (3, True, 0)


def test_sweep_is_reproducible(cancer150):
    X, y = cancer150
    kwargs = {"scalings": ["standard"], "norms": ["batch", "layer"], "cv": 2}
    first = sweep(X, y, curves=False, random_state=3, **kwargs, **FAST)
    second = sweep(X, y, curves=False, random_state=3, **kwargs, **FAST)
    assert_allclose(first.table["mean_score"], second.table["mean_score"])
    assert first.search.cv.random_state == 3


def test_sweep_regression_on_diabetes_picks_the_regressor(diabetes):
    X, y = _subset(*diabetes, 150)
    result = sweep(X, y, scalings=["standard"], norms=["none", "layer"], cv=2, **FAST)
    assert result.task == "regression"
    assert result.scoring == "r2"
    assert result.loss == "mean squared error"
    assert isinstance(result.best_estimator.named_steps["net"], NormMLPRegressor)
    assert isinstance(result.search.cv, KFold)
    assert len(result.table) == 2
    assert np.isfinite(result.curves["valid_loss"]).all()


def test_sweep_scoring_is_passed_to_the_search(cancer150):
    X, y = cancer150
    result = sweep(
        X,
        y,
        scalings=["standard"],
        norms=["layer"],
        cv=2,
        scoring="balanced_accuracy",
        curves=False,
        **FAST,
    )
    assert result.search.scoring == "balanced_accuracy"
    assert result.scoring == "balanced_accuracy"


# -- the steps, alone ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("task", "estimator", "splitter"),
    [
        ("classification", NormMLPClassifier, StratifiedKFold),
        ("regression", NormMLPRegressor, KFold),
    ],
)
def test_build_search_seeds_the_estimator_and_the_folds(task, estimator, splitter):
    X, y = np.zeros((20, 3)), np.array([0, 1] * 10)
    search = _build_search(
        task,
        scalings=["standard", "minmax"],
        norms=["layer"],
        cv=4,
        scoring=None,
        n_jobs=2,
        random_state=7,
        y=y,
        net_params={"max_epochs": 2},
    )
    net = search.estimator.named_steps["net"]
    assert type(net) is estimator
    assert (net.random_state, net.max_epochs) == (7, 2)
    assert isinstance(search.cv, splitter)
    assert (search.cv.n_splits, search.cv.random_state) == (4, 7)
    assert search.n_jobs == 2
    assert _n_fits(search, X, y, curves=False) == 2 * 4 + 1
    assert _n_fits(search, X, y, curves=True) == 2 * 4 + 1 + 2


# -- the task ----------------------------------------------------------------------
def _price(n=3000, seed=0):
    """An integer price in hundreds: 1,032 distinct values on 3,000 rows."""
    rng = np.random.RandomState(seed)
    values = rng.choice(np.arange(1500, 2532) * 100, size=n)
    values[: 2532 - 1500] = np.arange(1500, 2532) * 100  # every value at least once
    return values


@pytest.mark.parametrize(
    ("data", "task", "reason"),
    [
        ("iris", "classification", "3 distinct whole-number values, 50 rows each"),
        ("digits", "classification", "10 distinct whole-number values, 180 rows"),
        ("cancer", "classification", "2 distinct whole-number values, 284 rows"),
        ("diabetes", "regression", "214 distinct whole-number values, more than 20"),
    ],
)
def test_resolve_task_on_sklearn_data(request, data, task, reason):
    _, y = request.getfixturevalue(data)
    found, why = _resolve_task(y, "auto")
    assert found == task
    assert why.startswith(f"y has {reason}")


@pytest.mark.parametrize(
    ("y", "task", "reason"),
    [
        (load_wine(return_X_y=True)[1], "classification", "3 distinct whole-number"),
        (_price(), "regression", "1,032 distinct whole-number values, more than 20"),
        (load_linnerud(return_X_y=True)[1][:, 1], "regression", "2.2 rows each"),
        (np.tile([0.0, 1.0], 20), "classification", "2 distinct whole-number"),
        (np.tile([0, 1, 2, 3], 5), "classification", "4 distinct whole-number"),
        (np.tile([1.0, 2.0, 3.0, 4.0], 4), "regression", "fewer than 5"),
        (np.tile([0.5, 1.25, -3.0, 2.0], 5), "regression", "not whole (e.g. 0.5)"),
        (np.tile(["a", "b", "c"], 5), "classification", "3 distinct text labels"),
        (pd.Series(["x", "y"] * 5, dtype="category"), "classification", "categor"),
        (pd.Series([True, False] * 5, dtype="boolean"), "classification", "boolean"),
        (np.tile([True, False], 5), "classification", "boolean"),
        (pd.Series([3, 1, 2] * 9, dtype="Int64"), "classification", "3 distinct"),
        (np.arange(20.0).reshape(10, 2), "regression", "2 columns of numbers"),
    ],
    ids=[
        "wine",
        "integer-price",
        "linnerud-waist",
        "float-0-1",
        "four-ints",
        "four-ints-few-rows",
        "fractions",
        "text",
        "category",
        "nullable-boolean",
        "bool",
        "nullable-int",
        "two-columns",
    ],
)
def test_resolve_task_rule(y, task, reason):
    found, why = _resolve_task(y, "auto")
    assert found == task
    assert reason in why


def test_resolve_task_thresholds_are_the_documented_ones():
    assert (AUTO_MAX_CLASSES, AUTO_MIN_ROWS_PER_CLASS) == (20, 5)
    doc = " ".join(sweep.__doc__.split())
    assert "at most 20 (``AUTO_MAX_CLASSES``) with at least 5 rows each" in doc
    assert f"more than {WARN_CLASSES} classes or under {WARN_ROWS_PER_CLASS}" in doc
    assert _resolve_task(np.repeat(np.arange(20), 5), "auto")[0] == "classification"
    assert _resolve_task(np.repeat(np.arange(21), 5), "auto")[0] == "regression"
    assert _resolve_task(np.repeat(np.arange(20), 4), "auto")[0] == "regression"


def test_resolve_task_override_and_errors():
    assert _resolve_task(np.array([0.5, 1.5]), "classification") == (
        "classification",
        "task='classification' was given",
    )
    assert _resolve_task(np.array([0, 1]), "regression")[0] == "regression"
    with pytest.raises(ValueError, match="task must be one of"):
        _resolve_task(np.array([0, 1]), "clustering")
    with pytest.raises(ValueError, match="multilabel-indicator"):
        _resolve_task(np.array([[0, 1], [1, 0]]), "auto")
    with pytest.raises(ValueError, match=r"y \('grade'\) mixes kinds of values"):
        _resolve_task(pd.Series([1, "a", 2], name="grade", dtype=object), "auto")


@pytest.mark.filterwarnings("ignore:The number of unique classes:UserWarning")
def test_sweep_many_classes_with_few_rows_warns(cancer150):
    X, _ = cancer150
    labels = np.repeat([f"c{i}" for i in range(75)], 2)
    with pytest.warns(UserWarning, match=r"75 classes with 2.0 rows each"):
        result = sweep(
            X,
            labels,
            scalings=["standard"],
            norms=["none"],
            cv=2,
            curves=False,
            max_epochs=1,
            hidden_layer_sizes=(4,),
        )
    assert result.task == "classification"


def test_sweep_task_override_uses_the_regressor_on_classes(iris):
    X, y = iris
    result = sweep(
        X,
        y,
        scalings=["standard"],
        norms=["layer"],
        cv=2,
        task="regression",
        curves=False,
        **FAST,
    )
    assert isinstance(result.best_estimator.named_steps["net"], NormMLPRegressor)
    assert result.task_reason == "task='regression' was given"


# -- raw tables ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def loans():
    """240 training rows of make_loans and 40 held-out ones."""
    return make_loans(240, random_state=0), make_loans(40, random_state=1)


def test_sweep_on_a_raw_frame_predicts_raw_rows(loans):
    (X, y), (X_new, _) = loans
    result = sweep(X, y, scalings=["minmax", "standard"], norms=["layer"], cv=2, **FAST)
    assert result.task == "classification"
    assert result.task_reason == "y holds 2 distinct text labels"
    scaler = result.best_estimator.named_steps["scale"]
    assert isinstance(scaler, TabularScaler)
    assert scaler.column_kinds_["opened"] == "date"
    X_new = X_new.assign(job=["job_99"] * 40)  # a job never seen at fit
    X_new.loc[:4, ["age", "region", "opened"]] = None
    assert set(result.best_estimator.predict(X_new)) <= {"yes", "no"}
    assert len(result.curves) == 2 * FAST["max_epochs"]


def test_sweep_fits_the_preprocessing_inside_each_fold(loans):
    (X, y), _ = loans
    X = X.assign(city=["Lyon"] * 120 + ["Paris"] * 100 + ["Nice"] * 20)
    folds = [
        (np.arange(120, 240), np.arange(120)),
        (np.arange(120), np.arange(120, 240)),
    ]
    seen = []

    def scorer(pipe, X_test, y_test):
        scaler = pipe.named_steps["scale"]
        train = X.drop(index=X_test.index)
        impute = scaler.transformer_.named_transformers_["numeric"]["impute"]
        categories = scaler.transformer_.named_transformers_["categories"]
        city = list(categories.feature_names_in_).index("city")
        seen.append(set(categories.categories_[city]) == set(train["city"]))
        income = list(impute.feature_names_in_).index("income")
        seen.append(
            impute.statistics_[income] == pytest.approx(train["income"].median())
        )
        return 1.0

    sweep(
        X,
        y,
        scalings=["standard"],
        norms=["none"],
        cv=folds,
        scoring=scorer,
        curves=False,
        n_jobs=1,
        **FAST,
    )
    assert seen == [True] * 4


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (
            lambda X, y: (X.assign(notes=None), y),
            {},
            "Column 'notes' is blank in every",
        ),
        (
            lambda X, y: (X.assign(code=[1, "A"] * 60), y),
            {},
            "Column 'code' mixes numbers and text",
        ),
        (
            lambda X, y: (X, y.mask(y.index % 7 == 3)),
            {},
            r"y \('default'\) is blank in 17 of 120 rows",
        ),
        (
            lambda X, y: (X, y),
            {"scalings": ["none", "standard"]},
            "Date column 'opened' must be scaled, but scalings include 'none'",
        ),
        (lambda X, y: (X, y), {"task": "regression"}, "A regression needs numbers"),
        (lambda X, y: (X.iloc[:100], y), {}, "inconsistent numbers of samples"),
    ],
    ids=["all-blank", "mixed", "blank-y", "date-unscaled", "labels-regressed", "len"],
)
def test_sweep_bad_frame_is_one_line_naming_the_column(loans, change, kwargs, message):
    (X, y), _ = loans
    X, y = change(X.iloc[:120], y.iloc[:120])
    args = {"scalings": ["standard"], "norms": ["none"], "cv": 2, **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        sweep(X, y, **args, **FAST)
    assert len(str(info.value).splitlines()) == 1


# -- the curves and the plots --------------------------------------------------------
def test_sweep_curves_frame(result):
    curves = result.curves
    assert list(curves.columns) == list(CURVE_COLUMNS)
    assert len(curves) == N_DEFAULT * FAST["max_epochs"]
    for _, part in curves.groupby(["scaling", "norm"]):
        assert part["epoch"].tolist() == list(range(1, FAST["max_epochs"] + 1))
    losses = curves[["train_loss", "valid_loss"]].to_numpy()
    assert np.isfinite(losses).all() and (losses > 0).all()
    assert result.loss == "log loss"


def test_sweep_without_curves(cancer150):
    X, y = cancer150
    result = sweep(
        X, y, scalings=["standard"], norms=["none"], cv=2, curves=False, **FAST
    )
    assert result.curves is None
    assert "standard" in repr(result)


class _FailOnRows(Callback):
    """Fails a fit on exactly ``n_rows`` training rows (the curve fit's size)."""

    def __init__(self, n_rows=None):
        self.n_rows = n_rows

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if len(X) == self.n_rows:
            raise RuntimeError("boom")


def test_sweep_failed_curve_fit_warns_and_goes_on(cancer150):
    X, y = cancer150  # 150 rows: CV fits on 75, the refit on 150, curve fits on 120
    with pytest.warns(UserWarning, match="curve fit of scaling='standard'.*boom"):
        result = sweep(
            X,
            y,
            scalings=["standard"],
            norms=["none", "layer"],
            cv=2,
            callbacks=[_FailOnRows(120)],
            **FAST,
        )
    assert len(result.table) == 2
    assert result.curves.empty
    assert list(result.curves.columns) == list(CURVE_COLUMNS)


def test_sweep_too_small_to_hold_out_curves_keeps_its_scores():
    # 10 rows, 3 classes: the grid engine's curve fits hold out 20% (2 rows),
    # fewer than the classes; the search's scores stand, the curves are none
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 2)), np.array(list("aaaabbbccc"))
    with pytest.warns(UserWarning, match=r"No training curves.*20% of the 10 rows"):
        result = sweep(
            X, y, scalings=["standard"], norms=["none"], cv=2, engine="grid", **FAST
        )
    assert len(result.table) == 1 and result.model is not None
    assert result.curves.empty
    assert list(result.curves.columns) == list(CURVE_COLUMNS)
    pytest.importorskip("matplotlib").use("Agg")
    heatmap, curves = result.plot()  # no curves to draw: none, not a crash
    assert curves is None and heatmap is not None


@pytest.mark.parametrize("engine, refit", [("packed", True), ("grid", False)])
def test_sweep_whose_scorer_fails_everywhere_says_why(engine, refit, monkeypatch):
    # f1 on yes/no labels needs a pos_label: every fit runs, every score is
    # NaN; scikit-learn only warns (and refits some candidate as the "best"),
    # the sweep raises with the scorer's own error
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] > 0, "yes", "no")

    def no_curves(*args, **kwargs):
        raise AssertionError("curves fitted before the scores were checked")

    monkeypatch.setattr("sknorm._sweep._sweep_curves", no_curves)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's "Scoring failed"
        expected = (
            r"No candidate has a 'f1' score.*scorer failed: ValueError: pos_label=1"
        )
        with pytest.raises(ValueError, match=expected):
            sweep(
                X,
                y,
                scoring="f1",
                cv=2,
                engine=engine,
                refit=refit,
                scalings=["standard"],
                norms=["none"],
                **FAST,
            )


def test_sweep_of_several_targets_has_no_ensemble():
    # VotingRegressor takes one target column: "auto" averages none for two,
    # an explicit ensemble is refused before any fit; one column (n, 1) has one
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    Y = np.c_[X[:, 0], 3 * X[:, 1]]
    options = {"scalings": ["standard", "minmax"], "norms": ["none"], "cv": 2}
    result = sweep(X, Y, **options, **FAST)
    assert result.ensemble is None and result.model.predict(X[:3]).shape == (3, 2)
    with pytest.raises(ValueError, match="takes one target column; y has 2"):
        sweep(X, Y, ensemble=2, **options, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DataConversionWarning either
        result = sweep(X, Y[:, :1], **options, **FAST)
    assert result.ensemble is not None


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without cuda")
def test_sweep_checks_the_networks_setup_once_before_any_fit():
    # the estimator's own one-line error, not scikit-learn's "All the 4 fits
    # failed" with a traceback per fit; each candidate's setup (its norm's
    # and, through "plr", its embedding's options), not only the base one's
    X, y = np.random.RandomState(0).rand(40, 3), np.r_[np.zeros(20), np.ones(20)]
    options = {"scalings": ["standard"], "norms": ["none", "layer"], "cv": 2}
    with pytest.raises(ValueError, match=r"^device='cuda': this torch cannot use"):
        sweep(X, y, device="cuda", **options, **FAST)
    bad_embedding = {"scalings": ["standard", "plr"], "norms": ["none"], "cv": 2}
    with pytest.raises(ValueError, match=r"^embedding_params\['n_frequencies'\] mus"):
        sweep(X, y, embedding_params={"n_frequencies": 0}, **bad_embedding, **FAST)
    with pytest.raises(ValueError, match=r"^probe_size must be an integer >= 2"):
        sweep(X, y, callbacks=[ActivationStats(probe_size=1)], **options, **FAST)
    bad_batch = {"scalings": ["standard"], "norms": ["none", "batch"], "cv": 2}
    with pytest.raises(ValueError, match=r"^norm='batch' computes statistics"):
        sweep(X, y, **bad_batch, **{**FAST, "batch_size": 1})


def test_sweep_with_a_scorer_of_ones_own_has_no_ensemble(iris):
    # a plain function scores the whole model on each fold; the packed run
    # keeps no averaged model per fold: said, and none refit (its score was NaN)
    X, y = iris

    def accuracy(est, X, y):
        return float((est.predict(X) == y).mean())

    grid = {"scalings": ["standard", "minmax"], "norms": ["none", "layer"], "cv": 2}
    with pytest.warns(UserWarning, match="a scorer of your own .* no ensemble"):
        result = sweep(X, y, scoring=accuracy, curves=False, **grid, **FAST)
    assert result.ensemble is None and result.ensemble_score is None
    assert result.model is result.best_estimator


def test_sweep_plot_returns_figures(result):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    heatmap, curves = result.plot()
    try:
        assert isinstance(heatmap, Figure) and isinstance(curves, Figure)
        ax = heatmap.axes[0]
        assert ax.get_xlabel() == "hidden-layer norm"
        assert ax.get_ylabel() == "input scaling"
        assert "accuracy" in ax.get_title()
        cells = [t.get_text() for t in ax.texts]
        assert len(cells) == N_DEFAULT and all(" ± " in t for t in cells)
        assert len(heatmap.axes) == 2  # the colour bar
        # small multiples: a panel per norm, a line pair per scaling
        assert curves.get_supxlabel() == "epoch"
        assert "log loss" in curves.get_supylabel()
        panels = [ax for ax in curves.axes if ax.get_visible()]
        n_scalings = len(DEFAULT_SCALINGS)
        assert len(panels) == 3
        assert all(len(ax.lines) == 2 * n_scalings for ax in panels)
        assert len(curves.legends[0].get_texts()) == n_scalings + 2
    finally:
        plt.close(heatmap)
        plt.close(curves)


def test_sweep_without_refit_scores_the_same_and_fits_no_model(result, cancer150):
    # The module's result refits; without it the search and the curves are
    # the same runs, and there is no fitted model to hand back.
    X, y = cancer150
    bare = sweep(X, y, cv=3, refit=False, **FAST)
    assert bare.search.refit is False
    assert bare.best_estimator is None and bare.model is None
    assert not hasattr(bare.search, "best_estimator_")
    assert bare.best_params == result.best_params
    assert_allclose(bare.table["mean_score"], result.table["mean_score"])
    assert len(bare.curves) == len(result.curves)


def test_sweep_without_refit_on_the_grid_engine(cancer150):
    X, y = cancer150
    grid = {"scalings": ["standard"], "norms": ["none", "layer"], "cv": 2}
    bare = sweep(X, y, **grid, refit=False, engine="grid", curves=False, **FAST)
    assert bare.search.refit is False and bare.best_estimator is None
    assert len(bare.table) == 2 and bare.best_params


def test_sweep_without_refit_still_scores_the_ensemble(cancer150):
    X, y = cancer150
    bare = sweep(X, y, cv=2, refit=False, ensemble=2, curves=False, **FAST)
    assert bare.ensemble is None and bare.model is None
    assert len(bare.ensemble_score["candidates"]) == 2
    assert np.isfinite(bare.ensemble_score["mean_score"])
    assert repr(bare).endswith("model=None)")  # no model to keep: none fitted


# -- progress and backends ----------------------------------------------------------
@pytest.mark.parametrize(
    ("engine", "count"),
    # 2 candidates x 2 folds + the refit (+ 2 curve fits on the grid engine;
    # the packed run records its curves)
    [("packed", "5/5"), ("grid", "7/7")],
)
def test_sweep_progress_bar_counts_every_fit(cancer150, capsys, engine, count):
    pytest.importorskip("tqdm")
    X, y = cancer150
    sweep(
        X,
        y,
        scalings=["minmax", "standard"],
        norms=["layer"],
        cv=2,
        progress=True,
        backend="threading",
        n_jobs=2,
        engine=engine,
        **FAST,
    )
    err = capsys.readouterr().err
    assert count in err


def test_sweep_backend_arguments_are_checked(cancer150):
    X, y = cancer150
    with pytest.raises(ValueError, match="scheduler is only used"):
        sweep(X, y, scheduler="tcp://127.0.0.1:1", curves=False)
    with pytest.raises(ValueError, match="scoring must be"):
        sweep(X, y, scoring=3, curves=False)


def test_sweep_dask_missing_names_the_extra(cancer150, monkeypatch):
    X, y = cancer150
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"sknorm\[dask\]"):
        sweep(X, y, backend="dask", scheduler="tcp://127.0.0.1:1", **FAST)


def test_sweep_dask_without_a_client_says_what_to_give(cancer150):
    pytest.importorskip("distributed")
    X, y = cancer150
    with pytest.raises(ValueError, match=r"needs scheduler='tcp://host:port'"):
        sweep(X, y, backend="dask", curves=False, **FAST)


@pytest.mark.dask
def test_sweep_on_a_dask_cluster_matches_one_process(cancer150):
    """A real two-process LocalCluster gives the scores of a local sweep, with
    each engine: the grid's fits, and the packed engine's groups of members,
    run on its workers (the task stream says so)."""
    distributed = pytest.importorskip("distributed")
    X, y = cancer150
    kwargs = {
        "scalings": ["none", "standard"],
        "norms": ["batch", "layer"],
        "cv": 2,
        "curves": False,
        "refit": False,  # the scores are what is compared
        "n_threads": 1,  # as in the Dask workers
        **FAST,
    }
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        with distributed.Client(cluster) as client:
            for engine, task in (("packed", "train_group_alone"), ("grid", "fit")):
                local = sweep(X, y, n_jobs=1, engine=engine, **kwargs)
                with distributed.get_task_stream(client) as stream:
                    remote = sweep(
                        X,
                        y,
                        backend="dask",
                        scheduler=client,
                        progress=True,
                        engine=engine,
                        **kwargs,
                    )
                ran = " ".join(str(t["key"]) for t in stream.data)
                assert task in ran, (engine, ran)
                key = list(CANDIDATE_COLUMNS)
                both = local.table.merge(
                    remote.table, on=key, suffixes=("_local", "_dask")
                )
                assert len(both) == 4
                assert_allclose(both["mean_score_dask"], both["mean_score_local"])
                assert_allclose(both["std_score_dask"], both["std_score_local"])
                assert remote.best_params == local.best_params


def test_the_grid_and_packed_engines_agree(cancer):
    # Each packed member trains as its own fit would, seed for seed: the same
    # scores up to float32 rounding in a different order (a row or two).
    X, y = cancer
    grid = dict(scalings=["none", "standard"], norms=["none", "batch", "layer"])
    runs = {
        engine: sweep(X[:300], y[:300], cv=3, engine=engine, **grid, **FAST)
        for engine in ("grid", "packed")
    }
    tables = {e: r.table.sort_values(["scaling", "norm"]) for e, r in runs.items()}
    assert_allclose(
        tables["grid"]["mean_score"], tables["packed"]["mean_score"], atol=0.01
    )
    assert runs["packed"].search.packed_
    for result in runs.values():
        assert list(result.curves.columns) == list(CURVE_COLUMNS)
        assert len(result.curves) == 6 * FAST["max_epochs"]
        assert result.curves[["train_loss", "valid_loss"]].notna().all().all()


def test_an_unknown_engine_is_named(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="engine must be one of"):
        sweep(X, y, engine="turbo")


def test_a_sweep_result_displays_itself_in_a_notebook(iris):
    X, y = iris
    result = sweep(
        X, y, scalings=["standard"], norms=["none", "layer"], cv=2, curves=False, **FAST
    )
    page = result._repr_html_()
    assert page.count("<tr") == 3  # header + two candidates
    assert "SweepResult(task=&#x27;classification&#x27;" in page
    assert page.count('src="data:image/png;base64,') == 1


def test_sweep_with_sample_weight_weighs_training_and_scores(cancer):
    X, y = cancer
    X, y = X[:200], y[:200]
    weights = np.where(y == 0, 5.0, 1.0)
    grid = dict(scalings=["standard"], norms=["none"], cv=2, curves=True, **FAST)
    weighted = sweep(X, y, sample_weight=weights, **grid)
    plain = sweep(X, y, engine="grid", **grid)
    assert not weighted.search.packed_ if hasattr(weighted.search, "packed_") else True
    # The same folds and seeds: only the weights differ, in training and scores.
    assert weighted.table["mean_score"][0] != plain.table["mean_score"][0]
    assert len(weighted.curves) == FAST["max_epochs"]
    with pytest.raises(ValueError, match="sample_weight"):
        sweep(X, y, sample_weight=weights[:10], **grid)


def test_sweep_ensemble_scores_and_fits_the_average_of_the_best(cancer):
    X, y = cancer
    result = sweep(
        X[::3],
        y[::3],
        scalings=["standard"],
        norms=["none", "batch", "layer"],
        cv=3,
        ensemble=2,
        max_epochs=3,
        hidden_layer_sizes=(8,),
        curves=False,
    )
    summary = result.ensemble_score
    assert summary["candidates"] == [
        tuple(r) for r in result.table[["scaling", "norm"]].values[:2]
    ]
    assert 0 < summary["mean_score"] <= 1
    assert result.ensemble.predict(X[:4]).shape == (4,)
    # the model to keep: whichever of the two scored higher on the same folds
    better = summary["mean_score"] > result.search.best_score_
    expected = result.ensemble if better else result.best_estimator
    assert result.model is expected
    result.search.ensemble_scores_ = np.full(3, result.search.best_score_ + 0.01)
    assert result.model is result.ensemble
    result.search.ensemble_scores_ = np.full(3, result.search.best_score_)
    assert result.model is result.best_estimator


def test_sweep_ensemble_needs_the_packed_engine(iris):
    X, y = iris
    with pytest.warns(UserWarning, match="needs the packed engine"):
        result = sweep(
            X,
            y,
            scalings=["standard"],
            norms=["none", "layer"],
            cv=2,
            max_epochs=1,
            hidden_layer_sizes=(4,),
            curves=False,
            engine="grid",
            ensemble=2,
        )
    assert result.ensemble is None and result.ensemble_score is None
    assert result.model is result.best_estimator


def test_sweep_averages_the_three_best_by_default_on_the_packed_engine(iris):
    X, y = iris
    tiny = {"cv": 2, "max_epochs": 1, "hidden_layer_sizes": (4,), "curves": False}
    result = sweep(
        X, y, scalings=["standard", "minmax"], norms=["none", "layer"], **tiny
    )
    assert len(result.ensemble_score["candidates"]) == 3
    assert len(result.ensemble.estimators_) == 3
    # members named by what they are, in the order of the table's best
    names = ["/".join(c) for c in result.ensemble_score["candidates"]]
    assert list(result.ensemble.named_estimators_) == names
    assert set(names) <= {
        "standard/none",
        "standard/layer",
        "minmax/none",
        "minmax/layer",
    }
    expected = result.ensemble if result._ensemble_wins() else result.best_estimator
    assert result.model is expected
    keeps = "ensemble" if result._ensemble_wins() else "best"
    mean = result.ensemble_score["mean_score"]
    assert f"ensemble_accuracy={mean:.4g}, model={keeps!r})" in repr(result)
    # two candidates: both averaged; one: nothing to average
    two = sweep(X, y, scalings=["standard"], norms=["none", "layer"], **tiny)
    assert len(two.ensemble_score["candidates"]) == 2
    one = sweep(X, y, scalings=["standard"], norms=["none"], **tiny)
    assert one.ensemble is None and one.model is one.best_estimator
    off = sweep(
        X, y, scalings=["standard"], norms=["none", "layer"], ensemble=0, **tiny
    )
    assert off.ensemble_score is None and off.model is off.best_estimator
    assert "ensemble" not in repr(off)
    with warnings.catch_warnings(record=True) as caught:  # the grid engine: none,
        warnings.simplefilter("always")  # and no warning about it
        grid = sweep(
            X, y, scalings=["standard"], norms=["none", "layer"], engine="grid", **tiny
        )
    assert not [w for w in caught if "ensemble" in str(w.message)]
    assert grid.ensemble_score is None and grid.model is grid.best_estimator
    for bad in ("three", -1, 2.5, 1, True):
        with pytest.raises(ValueError, match="ensemble must be 'auto', 0 or an int"):
            sweep(X, y, scalings=["standard"], ensemble=bad, **tiny)
    # more than there are candidates: all of them; one candidate: none
    capped = sweep(
        X, y, scalings=["standard"], norms=["none", "layer"], ensemble=5, **tiny
    )
    assert len(capped.ensemble_score["candidates"]) == 2
    alone = sweep(X, y, scalings=["standard"], norms=["none"], ensemble=2, **tiny)
    assert alone.ensemble is None and alone.ensemble_score is None


@pytest.mark.parametrize("engine", ["packed", "grid"])
def test_sweep_learned_scalings_are_named_and_run_on_either_engine(cancer150, engine):
    X, y = cancer150
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback from the packed engine
        result = sweep(
            X,
            y,
            scalings=["standard", "plr", "learned_scale"],
            norms=["batch"],
            cv=2,
            engine=engine,
            **FAST,
        )
    assert sorted(result.table["scaling"]) == ["learned_scale", "plr", "standard"]
    assert getattr(result.search, "packed_", False) is (engine == "packed")
    assert sorted(result.curves["scaling"].unique()) == sorted(result.table["scaling"])
    best = result.table.iloc[0]["scaling"]
    embedding = {"plr": "periodic", "learned_scale": "scale", "standard": "none"}
    assert result.best_estimator["net"].input_embedding == embedding[best]
    assert result.best_estimator.predict(X).shape == y.shape
