"""TabularScaler: mixed tables with blanks become the numeric matrix a net takes."""

import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknorm import (
    SCALINGS,
    InputScaler,
    NormMLPClassifier,
    TabularScaler,
    make_norm_pipeline,
    normalization_grid,
)
from sknorm.datasets import make_loans


@parametrize_with_checks([TabularScaler(method) for method in SCALINGS])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def loans():
    return make_loans(300, random_state=1)


@pytest.mark.parametrize("method", SCALINGS)
def test_numeric_columns_scale_exactly_as_input_scaler_does(iris, method):
    X, _ = iris
    assert_allclose(
        TabularScaler(method).fit_transform(X),
        InputScaler(method).fit_transform(X),
        atol=1e-12,
    )


@pytest.mark.parametrize("method", SCALINGS)
def test_one_hot_and_indicator_columns_stay_0_1_under_every_method(loans, method):
    X, _ = loans
    X = X.drop(columns="opened") if method == "none" else X  # dates need scaling
    scaler = TabularScaler(method).fit(X)
    out = scaler.transform(X)
    names = scaler.get_feature_names_out()
    binary = [
        i
        for i, n in enumerate(names)
        if n.startswith(("missingindicator_", "region_", "job_", "employed_"))
        or n.startswith("has_phone_")
    ]
    assert len(binary) > 10
    assert set(np.unique(out[:, binary])) == {0.0, 1.0}
    if method == "ple":  # numbers become bin positions; categories stay 0/1
        return
    numeric = names.tolist().index("income")
    if method == "standard":  # the numbers are scaled: mean 0 over the fit rows
        assert abs(out[:, numeric].mean()) < 1e-9


def test_every_kind_of_column_is_read(loans):
    X, _ = loans
    kinds = TabularScaler().fit(X).column_kinds_
    assert kinds == {
        "age": "numeric",
        "income": "numeric",
        "balance": "numeric",
        "employed": "category",
        "has_phone": "category",
        "region": "category",
        "job": "category",
        "opened": "date",
    }


def test_dates_become_scaled_calendar_numbers_never_nanoseconds():
    when = pd.to_datetime(["2020-01-01", None, "2021-06-15", "2022-03-01"])
    X = pd.DataFrame({"when": when})
    scaler = TabularScaler("minmax").fit(X)
    names = scaler.get_feature_names_out().tolist()
    assert names[:5] == [
        "when_days",
        "when_year",
        "when_month",
        "when_day",
        "when_weekday",
    ]
    out = scaler.transform(X)
    assert out.min() >= 0 and out.max() <= 1 + 1e-12
    raw = TabularScaler("standard").fit(X)
    assert np.abs(raw.transform(X)).max() < 10  # not 1.6e18 nanoseconds


def test_unseen_categories_and_new_blanks_are_handled(loans):
    X, _ = loans
    scaler = TabularScaler().fit(X)
    new = X.head(3).copy()
    new["job"] = ["astronaut", None, "job_00"]
    new["region"] = pd.Categorical(
        [None, "west", "north"], categories=["north", "west"]
    )
    new["has_phone"] = [True, False, True]
    new["age"] = pd.array([None, None, 30], dtype="Int64")
    out = scaler.transform(new)
    assert np.isfinite(out).all() and out.shape == (
        3,
        len(scaler.get_feature_names_out()),
    )


def test_text_spelling_a_fitted_category_of_another_type_is_that_category():
    # booleans and category codes fitted as values, then given as text (a CSV
    # or JSON read as text): "True" and "10" are those categories, as the
    # ONNX export (which takes str(value)) reads them, not unseen values
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "num": rng.normal(size=40),
            "flag": rng.choice([True, False], 40),
            "code": pd.Categorical(rng.choice([10, 20, 30], 40)),
            "word": rng.choice(["a", "b"], 40),
        }
    )
    scaler = TabularScaler().fit(X)
    as_text = X.astype(str).assign(num=X["num"])
    assert_array_equal(scaler.transform(as_text), scaler.transform(X))
    # a spelling that is no fitted category stays unseen: all zeros there
    odd = X.head(2).assign(flag=["true", "yes"], code=["10.0", "x"])
    names = list(scaler.get_feature_names_out())
    out = scaler.transform(odd)
    assert not out[
        :, [names.index(n) for n in names if n[:4] in ("flag", "code")]
    ].any()
    # text fitted as text is never re-read
    assert_array_equal(
        scaler.transform(X.assign(word="a"))[:, names.index("word_a")], 1.0
    )


@pytest.mark.parametrize(
    "values, words",
    [
        ([True, 1, 0], "mixes booleans and numbers (e.g. True and 1)"),
        ([True, 1.5, None], "mixes booleans and numbers"),
        ([pd.Timestamp("2024-01-01"), "x"], "mixes dates and text (e.g. Timestamp"),
        ([1, "a", 2], "mixes numbers and text (e.g. 1 and 'a')"),
    ],
)
def test_a_column_of_mixed_kinds_is_named_with_its_kinds(values, words):
    # booleans beside numbers raised a bare IndexError; a date beside text
    # was blamed on the date
    with pytest.raises(ValueError, match=re.escape(f"Column 'm' {words}")):
        TabularScaler().fit(pd.DataFrame({"m": values}, dtype=object))


def test_a_column_whose_kind_changed_since_fit_is_named():
    # a date in a numeric column was read as nanoseconds, numbers in a date
    # column as nanoseconds since 1970
    numbers = TabularScaler().fit(pd.DataFrame({"n": [1.0, 2.0, 3.0]}))
    with pytest.raises(ValueError, match="'n' was numeric at fit but holds dates"):
        numbers.transform(pd.DataFrame({"n": pd.to_datetime(["2024-01-01"])}))
    dates = pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-02-01"])})
    with pytest.raises(ValueError, match="'d' was a date at fit but holds numbers"):
        TabularScaler().fit(dates).transform(pd.DataFrame({"d": [5, 6]}))


def test_a_time_zone_aware_date_keeps_its_hour_part():
    # the parts are read in UTC (as the ONNX export's seconds are): local
    # midnights in Paris are 23:00 UTC, so the hour part is kept
    when = pd.to_datetime(["2024-01-01", "2024-06-01", "2024-01-06"])
    X = pd.DataFrame({"d": when.tz_localize("Europe/Paris")})
    assert TabularScaler().fit(X).date_parts_["d"][-1] == "hour"
    assert "hour" not in TabularScaler().fit(pd.DataFrame({"d": when})).date_parts_["d"]


def test_output_names_that_clash_are_named():
    scaler = TabularScaler().fit(pd.DataFrame({"t": ["x", "y"], "t_x": [1.0, 2.0]}))
    with pytest.raises(ValueError, match=r"\['t_x'\] clash: a column is named"):
        scaler.get_feature_names_out()


def test_high_cardinality_text_is_capped(loans):
    X, _ = loans
    for cap in (5, 20):
        names = TabularScaler(max_categories=cap).fit(X).get_feature_names_out()
        assert sum(n.startswith("job_") for n in names) == cap
        assert "job_infrequent_sklearn" in names


def test_numpy_object_array_with_text_is_read():
    X = np.array([[1.0, "a"], [2.0, "b"], [np.nan, None]], dtype=object)
    scaler = TabularScaler("minmax").fit(X)
    assert scaler.column_kinds_ == {"x0": "numeric", "x1": "category"}


@pytest.mark.parametrize(
    "frame, error, word",
    [
        (
            pd.DataFrame({"a": [np.nan, None, np.nan], "b": [1, 2, 3]}),
            ValueError,
            "'a' is blank",
        ),
        (
            pd.DataFrame({"m": [1, "two", 3.0]}),
            ValueError,
            "'m' mixes numbers and text",
        ),
        (pd.DataFrame({"d": [{"x": 1}, 2, 3]}), TypeError, "string or a number"),
    ],
)
def test_unusable_columns_are_named(frame, error, word):
    with pytest.raises(error, match=word):
        TabularScaler().fit(frame)


def test_a_date_with_no_scaling_is_an_error_naming_it(loans):
    X, _ = loans
    with pytest.raises(ValueError, match=r"'opened'.*scaling other than 'none'"):
        TabularScaler("none").fit(X)


def test_text_at_predict_in_a_numeric_column_is_named(loans):
    X, _ = loans
    scaler = TabularScaler().fit(X)
    bad = X.head(2).astype({"income": object})
    bad.loc[bad.index[0], "income"] = "lots"
    with pytest.raises(ValueError, match=r"'income'.*holds text"):
        scaler.transform(bad)


def test_pipeline_takes_raw_rows_and_imputer_is_fitted_per_fold(loans):
    X, y = loans
    pipe = make_norm_pipeline(NormMLPClassifier((16,), max_epochs=3, random_state=0))
    search = GridSearchCV(
        pipe,
        normalization_grid(["minmax", "standard"], ["layer"]),
        cv=KFold(3, shuffle=True, random_state=0),
        return_train_score=False,
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # The refit's imputer medians come from all rows; a fold's from its rows.
    fold = make_norm_pipeline(NormMLPClassifier((16,), max_epochs=1)).fit(
        X[:100], y[:100]
    )
    medians = fold["scale"].transformer_.named_transformers_["numeric"]["impute"]
    assert medians.statistics_[0] == X["age"][:100].median()
    assert search.best_estimator_.predict(X.head(5)).shape == (5,)


def test_normalization_grid_finds_a_scaler_inside_a_column_transformer(iris):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    X, y = iris
    prep = ColumnTransformer([("num", InputScaler(), [0, 1, 2, 3])])
    pipe = Pipeline([("prep", prep), ("model", NormMLPClassifier((8,), max_epochs=2))])
    grid = normalization_grid(["minmax", "standard"], ["layer"], pipeline=pipe)
    assert sorted(grid) == ["model__norm", "prep__num__method"]
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert_array_equal(
        search.cv_results_["param_prep__num__method"], ["minmax", "standard"]
    )


def test_sparse_input_is_refused_with_the_way_out():
    import scipy.sparse as sp

    X = sp.random(20, 4, density=0.3, format="csr", random_state=0)
    with pytest.raises(TypeError, match="Sparse data was passed to TabularScaler"):
        TabularScaler().fit(X)
    with pytest.raises(TypeError, match=r"tabular=False"):
        make_norm_pipeline(NormMLPClassifier(max_epochs=1)).fit(X, np.arange(20) % 2)


def test_rows_without_the_fitted_names_are_read_by_position_as_sklearn_does():
    X = pd.DataFrame({"age": [20.0, None, 40.0, 31.0], "city": ["a", "b", None, "a"]})
    by_name = TabularScaler().fit(X)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        got = by_name.transform(X.to_numpy())
    np.testing.assert_array_equal(got, by_name.transform(X))
    by_position = TabularScaler().fit(X.to_numpy())
    with pytest.warns(UserWarning, match="X has feature names"):
        np.testing.assert_array_equal(by_position.transform(X), got)
