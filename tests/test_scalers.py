import numpy as np
import pandas as pd
import pytest
from _presets import FAST
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sknorm import SCALINGS, InputScaler, NormMLPClassifier, make_norm_pipeline


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    # An age-like and a tuition-like column: very different scales.
    X_train = np.c_[rng.uniform(18, 80, 50), rng.uniform(1e3, 5e4, 50)]
    X_test = np.c_[rng.uniform(10, 90, 20), rng.uniform(0, 6e4, 20)]
    return X_train, X_test


def test_minmax_matches_formula(data):
    X_train, X_test = data
    lo, hi = X_train.min(axis=0), X_train.max(axis=0)
    scaler = InputScaler("minmax").fit(X_train)
    assert_allclose(scaler.transform(X_train), (X_train - lo) / (hi - lo))
    # Statistics come from the training data only.
    assert_allclose(scaler.transform(X_test), (X_test - lo) / (hi - lo))


def test_minmax_feature_range_and_clip(data):
    X_train, X_test = data
    lo, hi = X_train.min(axis=0), X_train.max(axis=0)
    Xt = InputScaler("minmax", feature_range=(-1, 1)).fit(X_train).transform(X_test)
    assert_allclose(Xt, 2 * (X_test - lo) / (hi - lo) - 1)
    clipped = InputScaler("minmax", clip=True).fit(X_train).transform(X_test)
    assert clipped.min() >= 0 and clipped.max() <= 1
    assert Xt.min() < -1  # without clip the test data leaves the range


def test_standard_matches_formula(data):
    X_train, X_test = data
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)  # population std
    scaler = InputScaler("standard").fit(X_train)
    assert_allclose(scaler.transform(X_train), (X_train - mean) / std)
    assert_allclose(scaler.transform(X_test), (X_test - mean) / std)
    assert_allclose(
        InputScaler("standard", with_mean=False).fit(X_train).transform(X_test),
        X_test / std,
    )
    assert_allclose(
        InputScaler("standard", with_std=False).fit(X_train).transform(X_test),
        X_test - mean,
    )


def test_none_passes_through_a_copy(data):
    X_train, _ = data
    Xt = InputScaler("none").fit_transform(X_train)
    assert_array_equal(Xt, X_train)
    assert Xt is not X_train


@pytest.mark.parametrize(
    "method, sklearn_scaler",
    [("minmax", MinMaxScaler()), ("standard", StandardScaler())],
)
def test_delegates_to_sklearn(data, method, sklearn_scaler):
    X_train, X_test = data
    ours = InputScaler(method).fit(X_train)
    assert type(ours.scaler_) is type(sklearn_scaler)
    assert_array_equal(
        ours.transform(X_test), sklearn_scaler.fit(X_train).transform(X_test)
    )


@pytest.mark.parametrize("method", SCALINGS)
def test_constant_feature_gives_finite_values(method):
    X = np.c_[np.full(10, 3.0), np.arange(10.0)]
    Xt = InputScaler(method).fit_transform(X)
    assert np.isfinite(Xt).all()
    assert np.ptp(Xt[:, 0]) == 0  # still constant
    if method not in ("none", "quantile"):  # quantile: the CDF's lower bound
        assert_allclose(Xt[:, 0], 0.0)


@pytest.mark.parametrize("method", SCALINGS)
def test_a_float32_spread_below_the_smallest_normal_is_constant(method):
    # Found by hypothesis: StandardScaler kept a float64 std of 5e-46 and
    # transform divided float32 data by it cast to 0, giving NaN.
    X = np.array([[1e-45, 1.0], [0.0, 2.0], [0.0, 3.0], [0.0, 4.0]], np.float32)
    assert np.isfinite(InputScaler(method).fit_transform(X)).all()


@pytest.mark.parametrize("method", [m for m in SCALINGS if m != "ple"])
def test_inverse_transform_round_trip(data, method):
    X_train, X_test = data
    if method == "quantile":  # the CDF clips values outside the training range
        X_test = X_train[::-1]
    scaler = InputScaler(method).fit(X_train)
    assert_allclose(scaler.inverse_transform(scaler.transform(X_test)), X_test)


@pytest.mark.parametrize("method", SCALINGS)
def test_feature_names_and_pandas_output(data, method):
    X_train, _ = data
    df = pd.DataFrame(X_train, columns=["age", "tuition"])
    scaler = InputScaler(method).set_output(transform="pandas").fit(df)
    names = ["age", "tuition"]
    if method == "ple":  # one column per bin
        edges = scaler.scaler_.edges_
        names = [
            f"{n}_bin{t}"
            for n, e in zip(names, edges, strict=True)
            for t in range(e.size - 1)
        ]
    assert_array_equal(scaler.get_feature_names_out(), names)
    out = scaler.transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == names


@pytest.mark.parametrize("method", SCALINGS)
def test_a_constant_feature_of_large_values_stays_finite(method):
    # 1e16 + 1 == 1e16: ple's one bin of width 1 had width 0 (NaN, then inf)
    for value in (1e16, 1.6e18):
        scaler = InputScaler(method).fit(np.full((3, 1), value))
        assert np.isfinite(scaler.transform(np.full((2, 1), value))).all()
        assert np.isfinite(scaler.transform([[value * 1.06]])).all()


def test_robust_clip_sends_far_values_to_the_bound_and_checks_its_range():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    scaler = InputScaler("robust_clip").fit(X)
    # sqrt(1 + (z / 3) ** 2) overflowed past |z| ~ 1e154: z / inf gave 0
    assert_allclose(scaler.transform([[1e100], [1e155], [-1e160]]).ravel(), [3, 3, -3])
    with pytest.raises(ValueError, match=r"inside \(-3, 3\); 5.0 is none of them"):
        scaler.inverse_transform(np.array([[5.0]]))
    for bad in [(75, 25), (0, 200), (10, 50, 90), ("a", "b")]:
        with pytest.raises(ValueError, match="quantile_range must be two percentiles"):
            InputScaler("robust_clip", quantile_range=bad).fit(X)


def test_ple_cannot_be_inverted(data):
    X_train, _ = data
    with pytest.raises(ValueError, match=r"'ple' encoding .* not inverted"):
        InputScaler("ple").fit(X_train).inverse_transform(X_train)


def test_robust_clip_follows_realmlp():
    # Holzmüller et al. (2024): median-centred, scaled by 1 / IQR (or 2 / range
    # when the IQR is 0, or 0 when constant), then z / sqrt(1 + (z / 3) ** 2).
    rng = np.random.RandomState(0)
    X = np.c_[
        rng.standard_cauchy(200), np.r_[np.zeros(190), np.arange(10.0)], np.ones(200)
    ]
    out = InputScaler("robust_clip").fit_transform(X)
    q25, med, q75 = np.percentile(X[:, 0], [25, 50, 75])
    z = (X[:, 0] - med) / (q75 - q25)
    assert_allclose(out[:, 0], z / np.sqrt(1 + (z / 3) ** 2))
    z = (X[:, 1] - 0.0) * 2 / 9.0  # IQR 0: the range
    assert_allclose(out[:, 1], z / np.sqrt(1 + (z / 3) ** 2))
    assert_allclose(out[:, 2], 0.0)  # constant
    assert np.abs(out).max() < 3


def test_ple_follows_the_paper():
    # Gorishniy et al. (2022), eq. 1: bins b_0..b_T from training quantiles.
    X_train = np.arange(9.0).reshape(-1, 1)  # quantile edges 0, 2, 4, 6, 8
    enc = InputScaler("ple", n_bins=4).fit(X_train)
    assert_allclose(enc.scaler_.edges_[0], [0, 2, 4, 6, 8])
    out = enc.transform(np.array([[-2.0], [3.0], [8.0], [11.0]]))
    assert_allclose(
        out,
        [
            [-1.0, 0.0, 0.0, 0.0],  # below b_0: the first bin extends down
            [1.0, 0.5, 0.0, 0.0],  # inside bin 2
            [1.0, 1.0, 1.0, 1.0],
            [1.0, 1.0, 1.0, 2.5],  # above b_T: the last bin extends up
        ],
    )


def test_float32_is_preserved(data):
    X_train, _ = data
    for method in SCALINGS:
        assert InputScaler(method).fit_transform(X_train.astype(np.float32)).dtype == (
            np.float32
        )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"method": "robustish"}, "method"),
        ({"method": "minmax", "feature_range": (0, 1, 2)}, "feature_range"),
        ({"method": "minmax", "feature_range": (1, 0)}, "feature_range"),
    ],
)
def test_bad_parameters_are_named(data, params, match):
    with pytest.raises(ValueError, match=match):
        InputScaler(**params).fit(data[0])


def test_unknown_method_is_invalid_parameter_error(data):
    with pytest.raises(InvalidParameterError, match="'method' parameter"):
        InputScaler("l2").fit(data[0])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_rejected(data, bad):
    X = data[0].copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        InputScaler("standard").fit(X)


def test_sklearn_scalers_work_as_alternative_steps(cancer):
    X, y = cancer[0][:200], cancer[1][:200]
    pipe = make_norm_pipeline(NormMLPClassifier(**FAST))
    search = GridSearchCV(
        pipe, {"scale": [MinMaxScaler(), StandardScaler(), InputScaler("minmax")]}, cv=2
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 3
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_robust_matches_median_and_iqr(data):
    X_train, X_test = data
    median = np.median(X_train, axis=0)
    q1, q3 = np.percentile(X_train, [25, 75], axis=0)
    scaler = InputScaler("robust").fit(X_train)
    assert_allclose(scaler.transform(X_test), (X_test - median) / (q3 - q1))
    wide = InputScaler("robust", quantile_range=(10.0, 90.0)).fit(X_train)
    q10, q90 = np.percentile(X_train, [10, 90], axis=0)
    assert_allclose(wide.transform(X_test), (X_test - median) / (q90 - q10))


def test_quantile_maps_to_a_normal_distribution():
    rng = np.random.RandomState(0)
    X = rng.lognormal(size=(2000, 2)) * [1.0, 1e4]  # skewed, different scales
    Xt = InputScaler("quantile").fit_transform(X)
    assert_allclose(Xt.mean(0), 0, atol=0.05)
    assert_allclose(Xt.std(0), 1, atol=0.1)
    small = InputScaler("quantile").fit(X[:50])  # n_quantiles capped at n_samples
    assert small.scaler_.n_quantiles_ == 50
