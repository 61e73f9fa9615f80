"""Every way bad input enters, and the error it gets: a table.

Each row: where the input enters, what is wrong, the call, the exception type and
a word of its message. No row may end in a torch stack trace: the error must be
raised before any torch code runs (or by sknorm's own checks).
"""

import traceback

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from _presets import FAST
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Checkpoint, EarlyStopping, EpochScoring

from sknorm import (
    InputScaler,
    NormMLPClassifier,
    NormMLPRegressor,
    make_norm_pipeline,
    normalization_grid,
    sweep,
)

X, Y = load_breast_cancer(return_X_y=True)
X, Y = X[:120], Y[:120]


def _with(value, X=X):
    X = X.copy()
    X[5, 3] = value
    return X


def _frame_with_text():
    df = pd.DataFrame(X[:, :3], columns=["age", "income", "score"])
    df["city"] = ["Paris", "Lyon"] * 60
    return df


def clf():
    return NormMLPClassifier(**FAST)


def reg():
    return NormMLPRegressor(**FAST)


def fitted(est):
    return est.fit(X, Y)


# (where, what, call, exception, word in the message)
CASES = [
    # InputScaler
    ("InputScaler", "NaN", lambda: InputScaler().fit(_with(np.nan)), ValueError, "NaN"),
    (
        "InputScaler",
        "inf",
        lambda: InputScaler().fit(_with(np.inf)),
        ValueError,
        "infinity",
    ),
    ("InputScaler", "empty", lambda: InputScaler().fit(X[:0]), ValueError, "0 sample"),
    (
        "InputScaler",
        "no feature",
        lambda: InputScaler().fit(X[:, :0]),
        ValueError,
        "0 feature",
    ),
    (
        "InputScaler",
        "1-D X",
        lambda: InputScaler().fit(X[:, 0]),
        ValueError,
        "2D array",
    ),
    (
        "InputScaler",
        "wrong width at transform",
        lambda: InputScaler().fit(X).transform(X[:, :4]),
        ValueError,
        "features",
    ),
    (
        "InputScaler",
        "text column",
        lambda: InputScaler().fit(_frame_with_text()),
        ValueError,
        "could not convert string",
    ),
    (
        "InputScaler",
        "sparse",
        lambda: InputScaler().fit(sp.csr_matrix(X)),
        TypeError,
        "dense data is required",
    ),
    (
        "InputScaler",
        "unknown method",
        lambda: InputScaler("l2").fit(X),
        ValueError,
        "method",
    ),
    (
        "InputScaler",
        "transform before fit",
        lambda: InputScaler().transform(X),
        NotFittedError,
        "not fitted",
    ),
    # Estimators: X
    ("classifier", "NaN in X", lambda: clf().fit(_with(np.nan), Y), ValueError, "NaN"),
    (
        "regressor",
        "inf in X",
        lambda: reg().fit(_with(-np.inf), Y),
        ValueError,
        "infinity",
    ),
    ("classifier", "empty", lambda: clf().fit(X[:0], Y[:0]), ValueError, "0 sample"),
    (
        "regressor",
        "3-D X",
        lambda: reg().fit(X.reshape(120, 5, 6), Y),
        ValueError,
        "dim 3",
    ),
    (
        "classifier",
        "complex X",
        lambda: clf().fit(X.astype(complex), Y),
        ValueError,
        "Complex",
    ),
    (
        "regressor",
        "one sample, batch norm",
        lambda: NormMLPRegressor(**FAST).fit(X[:1], Y[:1].astype(float)),
        ValueError,
        "n_samples=1",
    ),
    (
        "classifier",
        "wrong width at predict",
        lambda: fitted(clf()).predict(X[:, :5]),
        ValueError,
        "X has 5 features",
    ),
    (
        "regressor",
        "text column in a DataFrame",
        lambda: reg().fit(_frame_with_text(), Y),
        ValueError,
        "could not convert string",
    ),
    (
        "classifier",
        "beyond float32 (1e300)",
        lambda: clf().fit(X * 1e300, Y),
        ValueError,
        "too large for float32",
    ),
    (
        "classifier",
        "predict before fit",
        lambda: clf().predict(X),
        NotFittedError,
        "not fitted",
    ),
    # Estimators: y
    (
        "classifier",
        "one class",
        lambda: clf().fit(X, np.zeros(120)),
        ValueError,
        "one class",
    ),
    (
        "classifier",
        "continuous target",
        lambda: clf().fit(X, np.linspace(0, 1, 120)),
        ValueError,
        "Unknown label type",
    ),
    (
        "classifier",
        "2-column y",
        lambda: clf().fit(X, np.c_[Y, Y]),
        ValueError,
        "1d array",
    ),
    (
        "classifier",
        "NaN in y",
        lambda: clf().fit(X, np.where(Y == 0, np.nan, Y)),
        ValueError,
        "NaN",
    ),
    (
        "regressor",
        "NaN in y",
        lambda: reg().fit(X, np.where(Y == 0, np.nan, Y)),
        ValueError,
        "NaN",
    ),
    (
        "regressor",
        "X/y lengths differ",
        lambda: reg().fit(X, Y[:100]),
        ValueError,
        "inconsistent",
    ),
    ("classifier", "y is None", lambda: clf().fit(X, None), ValueError, "requires y"),
    (
        "classifier",
        "new label in partial_fit",
        lambda: fitted(clf()).partial_fit(X, Y + 5),
        ValueError,
        "not in classes_",
    ),
    # Estimators: parameters
    (
        "classifier",
        "negative lr",
        lambda: NormMLPClassifier(lr=-1).fit(X, Y),
        ValueError,
        "'lr'",
    ),
    (
        "classifier",
        "zero lr",
        lambda: NormMLPClassifier(**FAST, lr=0).fit(X, Y),
        ValueError,
        "'lr' parameter",
    ),
    (
        "classifier",
        "non-integer layer width",
        lambda: NormMLPClassifier(hidden_layer_sizes=(10, 2.5)).fit(X, Y),
        ValueError,
        "hidden_layer_sizes",
    ),
    (
        "classifier",
        "unknown optimizer",
        lambda: NormMLPClassifier(optimizer="lbfgs").fit(X, Y),
        ValueError,
        "'optimizer' parameter",
    ),
    (
        "classifier",
        "dropout of 1",
        lambda: NormMLPClassifier(dropout=1.0).fit(X, Y),
        ValueError,
        "'dropout' parameter",
    ),
    (
        "regressor",
        "batch size 0",
        lambda: NormMLPRegressor(batch_size=0).fit(X, Y),
        ValueError,
        "'batch_size' parameter",
    ),
    (
        "classifier",
        "unknown activation",
        lambda: NormMLPClassifier(activation="swish").fit(X, Y),
        ValueError,
        "'activation' parameter",
    ),
    (
        "regressor",
        "unknown norm option",
        lambda: NormMLPRegressor(norm_params={"group": 4}).fit(X, Y),
        ValueError,
        "unknown option",
    ),
    (
        "regressor",
        "norm_params not a dict",
        lambda: NormMLPRegressor(norm_params=[("groups", 4)]).fit(X, Y),
        ValueError,
        "'norm_params' parameter",
    ),
    (
        "regressor",
        "NaN in X",
        lambda: reg().fit(_with(np.nan), Y),
        ValueError,
        "NaN",
    ),
    (
        "classifier",
        "inf in X",
        lambda: clf().fit(_with(np.inf), Y),
        ValueError,
        "infinity",
    ),
    (
        "regressor",
        "zero-width layer",
        lambda: NormMLPRegressor(hidden_layer_sizes=(8, 0)).fit(X, Y),
        ValueError,
        "hidden_layer_sizes",
    ),
    (
        "classifier",
        "groups do not divide the width",
        lambda: NormMLPClassifier(norm="group", hidden_layer_sizes=(10,)).fit(X, Y),
        ValueError,
        "groups=8 groups",
    ),
    (
        "classifier",
        "unknown norm",
        lambda: NormMLPClassifier(norm="instance").fit(X, Y),
        ValueError,
        "'norm'",
    ),
    # The sweep: checked before any fit
    (
        "sweep",
        "an all-blank column",
        lambda: sweep(_frame_with_text().assign(empty=None), Y, cv=2),
        ValueError,
        "'empty' is blank in every row",
    ),
    (
        "sweep",
        "one class",
        lambda: sweep(X, np.zeros(120, dtype=int), cv=2),
        ValueError,
        "one class",
    ),
    (
        "sweep",
        "NaN in y",
        lambda: sweep(X, np.where(np.arange(120) == 7, np.nan, Y), cv=2),
        ValueError,
        "y is blank in 1 of 120 rows",
    ),
    (
        "sweep",
        "unknown norm",
        lambda: sweep(X, Y, norms=["batchnorm"]),
        ValueError,
        "Unknown norms",
    ),
    (
        "sweep",
        "a class of one row",
        lambda: sweep(X, np.r_[Y[:-1], 7], cv=2),
        ValueError,
        "class '7' of y has only 1 row",
    ),
    (
        "sweep",
        "unknown task",
        lambda: sweep(X, Y, task="ranking"),
        ValueError,
        "task must be",
    ),
    # Pipeline helpers
    (
        "make_norm_pipeline",
        "unknown scaling",
        lambda: make_norm_pipeline(clf(), "zscore"),
        ValueError,
        "Unknown scaling",
    ),
    (
        "normalization_grid",
        "unknown norm",
        lambda: normalization_grid(norms=["batchnorm"]),
        ValueError,
        "Unknown norms",
    ),
    (
        "normalization_grid",
        "empty list",
        lambda: normalization_grid(scalings=[]),
        ValueError,
        "at least one",
    ),
    (
        "pipeline",
        "NaN through the strict pipeline",
        lambda: make_norm_pipeline(clf(), tabular=False).fit(_with(np.nan), Y),
        ValueError,
        "NaN",
    ),
    (
        "pipeline",
        "an all-blank column",
        lambda: make_norm_pipeline(clf()).fit(
            _frame_with_text().assign(empty=np.nan), Y
        ),
        ValueError,
        "'empty' is blank in every row",
    ),
    (
        "pipeline",
        "a column of numbers and text",
        lambda: make_norm_pipeline(clf()).fit(
            _frame_with_text().assign(mixed=[1.0, "two"] * 60), Y
        ),
        ValueError,
        "'mixed' mixes numbers and text",
    ),
    # Parameters that pass scikit-learn's validation but would fail in torch/skorch
    (
        "classifier",
        "weight_decay for an optimizer without it",
        lambda: (
            clf().set_params(optimizer=torch.optim.Rprop, weight_decay=0.1).fit(X, Y)
        ),
        ValueError,
        "Rprop takes no weight_decay",
    ),
    (
        "classifier",
        "a number as a callback",
        lambda: clf().set_params(callbacks=[1]).fit(X, Y),
        ValueError,
        r"callbacks\[0\] must be a skorch callback",
    ),
    (
        "classifier",
        "a plain function as a callback",
        lambda: clf().set_params(callbacks=[print]).fit(X, Y),
        ValueError,
        r"callbacks\[0\] must be a skorch callback",
    ),
    (
        "classifier",
        "EarlyStopping() without a validation split",
        lambda: (
            clf()
            .set_params(early_stopping=False, callbacks=[EarlyStopping()])
            .fit(X, Y)
        ),
        ValueError,
        "early_stopping=True",
    ),
    (
        "regressor",
        "Checkpoint() without a validation split",
        lambda: (
            reg()
            .set_params(
                early_stopping=False,
                callbacks=[("ck", Checkpoint(dirname="/nonexistent"))],
            )
            .fit(X, Y)
        ),
        ValueError,
        "uses validation scores",
    ),
    (
        "classifier",
        "validation EpochScoring without a validation split",
        lambda: (
            clf()
            .set_params(early_stopping=False, callbacks=[EpochScoring("accuracy")])
            .fit(X, Y)
        ),
        ValueError,
        "uses validation scores",
    ),
    (
        "classifier",
        "device='cuda' on a torch without CUDA",
        lambda: clf().set_params(device="cuda").fit(X, Y),
        ValueError,
        "cannot use a cuda device",
    )
    if not torch.cuda.is_available()
    else (
        "classifier",
        "device='mps' where there is none",
        lambda: clf().set_params(device="mps").fit(X, Y),
        ValueError,
        "cannot use a mps device",
    ),
    (
        "classifier",
        "device='nonsense'",
        lambda: clf().set_params(device="nonsense").fit(X, Y),
        ValueError,
        "not a torch device",
    ),
    (
        "classifier",
        "batch_size=1 with batch norm",
        lambda: clf().set_params(batch_size=1).fit(X, Y),
        ValueError,
        "batch_size must be at least 2",
    ),
    (
        "regressor",
        "n_threads beyond the cores",
        lambda: reg().set_params(n_threads=10**6).fit(X, Y),
        ValueError,
        "more than the",
    ),
    (
        "classifier",
        "warm start with another architecture",
        lambda: (
            clf()
            .set_params(warm_start=True)
            .fit(X, Y)
            .set_params(hidden_layer_sizes=(4, 4))
            .fit(X, Y)
        ),
        ValueError,
        "hidden_layer_sizes'] changed",
    ),
    (
        "regressor",
        "warm start with another norm",
        lambda: (
            reg()
            .set_params(warm_start=True)
            .fit(X, Y)
            .set_params(norm="layer")
            .fit(X, Y)
        ),
        ValueError,
        "'norm'",
    ),
    (
        "regressor",
        "a target of 1e200",
        lambda: reg().fit(X, Y * 1e200 + 1),
        ValueError,
        "y is too large",
    ),
    (
        "InputScaler",
        "an infinite feature_range",
        lambda: InputScaler("minmax", feature_range=(0, np.inf)).fit(X),
        ValueError,
        "finite",
    ),
    (
        "normalization_grid",
        "a single value for a swept parameter",
        lambda: normalization_grid(lr=0.1),
        ValueError,
        "lr must be a list",
    ),
]


@pytest.mark.parametrize(
    "where, what, call, error, word", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES]
)
def test_bad_input_gets_a_named_error(where, what, call, error, word):
    with pytest.raises(error, match=word) as info:
        call()
    frames = traceback.extract_tb(info.value.__traceback__)
    assert not any("/torch/" in f.filename for f in frames), "raised from inside torch"


# Inputs that look odd but are fine: they train and give finite predictions.
WORKS = [
    ("one feature", X[:, :1]),
    ("constant columns", np.c_[X[:, :3], np.ones((120, 2))]),
    ("huge magnitudes (1e12) with scaling 'none'", X * 1e12),
    ("float32 input", X.astype(np.float32)),
    ("integer input", X.astype(np.int64)),
    ("NaN, imputed by the default pipeline", _with(np.nan)),
    ("a text column, one-hot encoded by the default pipeline", _frame_with_text()),
]


@pytest.mark.parametrize("what, data", WORKS, ids=[w[0] for w in WORKS])
def test_odd_but_valid_input_works(what, data):
    for est in (clf(), reg()):
        pipe = make_norm_pipeline(est, scaling="none").fit(data, Y)
        assert np.isfinite(pipe.predict(data)).all()
