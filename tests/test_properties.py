"""Property tests: random shapes, scales and dtypes."""

import numpy as np
from _presets import fast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose

from sknorm import InputScaler, NormMLPClassifier, NormMLPRegressor

SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def tables(draw, min_rows=2):
    n = draw(st.integers(min_rows, 40))
    d = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    base = draw(
        arrays(np.float64, (n, d), elements=st.floats(-1, 1, allow_subnormal=False))
    )
    exponents = draw(arrays(np.int64, (d,), elements=st.integers(-6, 6)))
    return (base * 10.0**exponents).astype(dtype)


@SETTINGS
@given(X=tables(), method=st.sampled_from(["none", "minmax", "standard", "robust"]))
def test_scaler_round_trip(X, method):
    scaler = InputScaler(method).fit(X)
    Xt = scaler.transform(X)
    assert Xt.shape == X.shape and Xt.dtype == X.dtype
    assert np.isfinite(Xt).all()
    rtol = 1e-3 if X.dtype == np.float32 else 1e-9
    scale = np.abs(X).max(axis=0, keepdims=True) + np.finfo(X.dtype).tiny
    assert_allclose(scaler.inverse_transform(Xt) / scale, X / scale, atol=rtol)


@SETTINGS
@given(
    X=tables(min_rows=4),
    norm=st.sampled_from(["none", "batch", "layer", "ghost"]),
    n_classes=st.integers(2, 4),
    data=st.data(),
)
def test_classifier_outputs_and_batch_independence(X, norm, n_classes, data):
    n = X.shape[0]
    y = np.arange(n) % n_classes  # every class present
    clf = NormMLPClassifier(**fast(norm=norm, batch_size=data.draw(st.integers(2, 16))))
    Xs = InputScaler("standard").fit_transform(X)
    proba = clf.fit(Xs, y).predict_proba(Xs)
    assert proba.shape == (n, n_classes)
    assert np.isfinite(proba).all()
    assert_allclose(proba.sum(1), 1, rtol=1e-6)
    # In eval mode a row's prediction does not depend on the rows beside it.
    perm = data.draw(st.permutations(range(n)))
    assert_allclose(clf.predict_proba(Xs[perm]), proba[perm], rtol=1e-12, atol=1e-12)
    k = data.draw(st.integers(1, n))
    assert_allclose(clf.predict_proba(Xs[:k]), proba[:k], rtol=1e-12, atol=1e-12)


@SETTINGS
@given(
    X=tables(min_rows=3),
    n_outputs=st.integers(1, 3),
    norm=st.sampled_from(["batch", "layer"]),
)
def test_regressor_output_shapes(X, n_outputs, norm):
    n = X.shape[0]
    y = np.arange(n * n_outputs, dtype=float).reshape(n, n_outputs)
    y = y[:, 0] if n_outputs == 1 else y
    Xs = InputScaler("standard").fit_transform(X)
    pred = NormMLPRegressor(**fast(norm=norm)).fit(Xs, y).predict(Xs)
    assert pred.shape == y.shape
    assert np.isfinite(pred).all()
