import json
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from skorch.callbacks import EarlyStopping

from sknorm import (
    InputScaler,
    NormMLPClassifier,
    NormMLPRegressor,
    load,
    make_norm_pipeline,
    save,
)

FAST = {"hidden_layer_sizes": (16, 16), "max_epochs": 3, "random_state": 0}


@pytest.fixture(scope="module")
def iris_pipe():
    X, y = load_iris(return_X_y=True)
    y = np.array(["setosa", "versicolor", "virginica"])[y]
    return make_norm_pipeline(NormMLPClassifier(**FAST)).fit(X, y), X


@pytest.mark.parametrize("dumps, loads", [(pickle.dumps, pickle.loads)])
def test_pickle_round_trip(iris_pipe, dumps, loads):
    pipe, X = iris_pipe
    again = loads(dumps(pipe))
    assert_array_equal(again.predict_proba(X), pipe.predict_proba(X))
    assert_array_equal(again.predict(X), pipe.predict(X))


def test_joblib_round_trip(iris_pipe, tmp_path):
    pipe, X = iris_pipe
    joblib.dump(pipe, tmp_path / "m.joblib")
    assert_array_equal(
        joblib.load(tmp_path / "m.joblib").predict_proba(X), pipe.predict_proba(X)
    )


@pytest.mark.parametrize(
    "scaling", ["none", "minmax", "standard", "robust", "quantile"]
)
@pytest.mark.parametrize(
    "norm", ["batch", "layer", "rms", "group", "ghost", "batch_renorm"]
)
def test_safe_format_round_trip_classifier(tmp_path, scaling, norm):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    pipe = make_norm_pipeline(
        NormMLPClassifier(**FAST, norm=norm), scaling=scaling
    ).fit(X, y)
    again = load(save(pipe, tmp_path / "m.sknorm"))
    assert_array_equal(again.predict_proba(X), pipe.predict_proba(X))
    assert_array_equal(again["net"].classes_, pipe["net"].classes_)
    assert_array_equal(again["scale"].feature_names_in_, X.columns)
    assert (
        again["net"].history_[:, "train_loss"] == pipe["net"].history_[:, "train_loss"]
    )
    assert again.get_params()["net__norm"] == norm


@pytest.mark.parametrize("y_2d", [False, True])
def test_safe_format_round_trip_regressor(tmp_path, y_2d):
    X, y = load_diabetes(return_X_y=True)
    y = np.c_[y, -y] if y_2d else y
    pipe = make_pipeline(
        StandardScaler(), MinMaxScaler(), NormMLPRegressor(**FAST)
    ).fit(X, y)
    again = load(save(pipe, tmp_path / "m.sknorm"))
    assert_array_equal(again.predict(X), pipe.predict(X))
    assert again.predict(X).shape == pipe.predict(X).shape


def test_safe_format_single_estimator_and_scaler(tmp_path):
    X, y = load_iris(return_X_y=True)
    clf = NormMLPClassifier(**FAST).fit(X, y)
    assert_array_equal(load(save(clf, tmp_path / "c")).predict(X), clf.predict(X))
    scaler = InputScaler("minmax", feature_range=(-1, 1)).fit(X)
    again = load(save(scaler, tmp_path / "s"))
    assert again.feature_range == (-1, 1)
    assert_array_equal(again.transform(X), scaler.transform(X))


def test_loaded_model_can_keep_training(tmp_path, iris_pipe):
    pipe, X = iris_pipe
    again = load(save(pipe, tmp_path / "m"))
    again.set_params(net__warm_start=True).fit(X, pipe.predict(X))
    assert again["net"].n_iter_ == 6


def test_object_parameters_are_dropped_with_a_warning(tmp_path):
    X, y = load_iris(return_X_y=True)
    clf = NormMLPClassifier(
        **FAST, callbacks=[EarlyStopping(monitor="train_loss")]
    ).fit(X, y)
    with pytest.warns(
        UserWarning, match=r"\['callbacks'\] are saved as their defaults"
    ):
        path = save(clf, tmp_path / "m")
    assert load(path).callbacks is None


def test_tampered_file_is_refused_and_runs_nothing(tmp_path, iris_pipe):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.sknorm"
    torch.save({"format": "sknorm-safe", "payload": Evil()}, path)
    with pytest.raises(ValueError, match="not a safe sknorm model file"):
        load(path)
    assert not marker.exists()
    # A plain pickle of a real model is refused as well.
    pipe, _ = iris_pipe
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(pipe))
    with pytest.raises(ValueError, match="not a safe sknorm model file"):
        load(tmp_path / "model.pkl")


def test_shape_mismatch_is_named(tmp_path, iris_pipe):
    pipe, _ = iris_pipe
    path = save(pipe, tmp_path / "m")
    payload = torch.load(path, weights_only=True)
    net = json.loads(payload["config"])["steps"][-1][1]
    payload["tensors"][net["module"]["hidden.0.linear.weight"]] = torch.zeros(3, 3)
    torch.save(payload, path)
    with pytest.raises(
        ValueError, match=r"hidden.0.linear.weight: file \(3, 3\), model \(16, 4\)"
    ):
        load(path)


def test_versions_are_checked(tmp_path, iris_pipe):
    pipe, X = iris_pipe
    path = save(pipe, tmp_path / "m")
    payload = torch.load(path, weights_only=True)
    payload["sknorm_version"] = "0.0.1"
    torch.save(payload, path)
    with pytest.warns(UserWarning, match="written by sknorm 0.0.1"):
        assert_array_equal(load(path).predict(X), pipe.predict(X))
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(ValueError, match="file format 99"):
        load(path)


def test_other_steps_are_refused(tmp_path):
    from sklearn.decomposition import PCA

    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(PCA(2), NormMLPClassifier(**FAST)).fit(X, y)
    with pytest.raises(TypeError, match="got a PCA step"):
        save(pipe, tmp_path / "m")


def test_no_warning_for_plain_models(tmp_path, iris_pipe):
    pipe, _ = iris_pipe
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(save(pipe, tmp_path / "m"))


def test_every_fitted_attribute_is_kept_or_refused(tmp_path):
    # save() asks the estimator for its fitted state: an attribute added by a
    # later version is kept without a change here, or refused, never dropped.
    X, y = load_diabetes(return_X_y=True)
    reg = NormMLPRegressor(**FAST).fit(X, y)
    reg.new_statistic_ = np.arange(3.0)
    again = load(save(reg, tmp_path / "m"))
    assert_array_equal(again.new_statistic_, reg.new_statistic_)
    assert_array_equal(again.predict(X), reg.predict(X))
    reg.unstorable_ = object()
    with pytest.raises(TypeError, match="cannot store a object"):
        save(reg, tmp_path / "m2")
