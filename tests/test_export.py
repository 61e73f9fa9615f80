import subprocess
import sys

import numpy as np
import pytest
import torch
from _presets import FAST
from numpy.testing import assert_allclose
from sklearn.datasets import load_breast_cancer, load_diabetes, make_regression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from sknorm import NormMLPClassifier, NormMLPRegressor, export, make_norm_pipeline


def _split(X, y):
    return X[:400], y[:400], X[400:], y[400:]


def _run_exported(path, X):
    return (
        torch.export.load(path)
        .module()(torch.as_tensor(X, dtype=torch.float32))
        .numpy()
    )


@pytest.mark.parametrize("scaling", ["none", "minmax", "standard", "robust"])
@pytest.mark.parametrize("norm", ["batch", "layer", "ghost", "batch_renorm"])
def test_classifier_export_matches_the_pipeline(tmp_path, scaling, norm):
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_norm_pipeline(NormMLPClassifier(**FAST, norm=norm), scaling=scaling)
    pipe.fit(X_train, y_train)
    path = export(pipe, tmp_path / "model.pt2")
    assert_allclose(_run_exported(path, X_test), pipe.predict_proba(X_test), atol=1e-4)


@pytest.mark.parametrize("targets", [1, 2])
def test_regressor_export_matches_the_pipeline(tmp_path, targets):
    if targets == 1:
        X, y = load_diabetes(return_X_y=True)
    else:
        X, y = make_regression(500, 8, n_targets=2, noise=1.0, random_state=0)
    X_train, y_train, X_test, _ = _split(X, y)
    pipe = make_norm_pipeline(NormMLPRegressor(**FAST), scaling="minmax").fit(
        X_train, y_train
    )
    out = _run_exported(export(pipe, tmp_path / "model.pt2"), X_test)
    expected = pipe.predict(X_test)
    assert out.shape == expected.shape
    assert_allclose(out, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())


def test_sklearn_scalers_and_clip_fold_too(tmp_path):
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_pipeline(
        RobustScaler(), MinMaxScaler(clip=True), NormMLPClassifier(**FAST)
    ).fit(X_train, y_train)
    out = _run_exported(export(pipe, tmp_path / "m.pt2"), X_test * 1.5)
    assert_allclose(out, pipe.predict_proba(X_test * 1.5), atol=1e-4)


def test_exported_model_runs_without_sknorm(tmp_path):
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_norm_pipeline(NormMLPClassifier(**FAST, norm="batch_renorm")).fit(
        X_train, y_train
    )
    path = export(pipe, tmp_path / "model.pt2")
    np.save(tmp_path / "X.npy", X_test.astype(np.float32))
    script = (
        "import sys; sys.modules['sknorm'] = None; sys.modules['sklearn'] = None\n"
        "import numpy as np, torch\n"
        f"m = torch.export.load({str(path)!r}).module()\n"
        f"X = torch.from_numpy(np.load({str(tmp_path / 'X.npy')!r}))\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, m(X).numpy())\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert_allclose(
        np.load(tmp_path / "out.npy"), pipe.predict_proba(X_test), atol=1e-4
    )


# torch's ONNX exporter warns about its own use of a deprecated pytree API.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_onnx_export(tmp_path):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_norm_pipeline(NormMLPClassifier(**FAST)).fit(X_train, y_train)
    path = export(pipe, tmp_path / "model.onnx", format="onnx")
    session = ort.InferenceSession(str(path))
    (out,) = session.run(None, {"X": X_test.astype(np.float32)})
    assert_allclose(out, pipe.predict_proba(X_test), atol=1e-4)


def test_export_errors(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    quantile = make_norm_pipeline(NormMLPClassifier(**FAST), scaling="quantile").fit(
        X, y
    )
    with pytest.raises(ValueError, match="'quantile' scaling is not an affine map"):
        export(quantile, tmp_path / "q.pt2")
    with pytest.raises(ValueError, match="format must be one of"):
        export(quantile, tmp_path / "q.bin", format="pickle")
    with pytest.raises(TypeError, match="NormMLPClassifier or NormMLPRegressor"):
        export(make_pipeline(MinMaxScaler()).fit(X), tmp_path / "x.pt2")


@pytest.mark.parametrize(
    "scaler",
    [
        StandardScaler(with_mean=False),
        StandardScaler(with_std=False),
        RobustScaler(with_centering=False),
        RobustScaler(with_scaling=False),
    ],
    ids=["std-no-mean", "std-no-std", "robust-no-center", "robust-no-scale"],
)
def test_partial_scalers_fold_too(tmp_path, scaler):
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_pipeline(scaler, NormMLPClassifier(**FAST)).fit(X_train, y_train)
    out = _run_exported(export(pipe, tmp_path / "m.pt2"), X_test)
    assert_allclose(out, pipe.predict_proba(X_test), atol=1e-4)
