"""Sample and class weights: what a weight means, and that scikit-learn's
metadata routing delivers it."""

import numpy as np
import pytest
import sklearn
from _presets import fast
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_class_weight

from sknorm import InputScaler, NormMLPClassifier, NormMLPRegressor

PREDICT = {NormMLPClassifier: "predict_proba", NormMLPRegressor: "predict"}
ESTIMATORS = pytest.mark.parametrize("Estimator", list(PREDICT))


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    return X, y


def _fit_predict(Estimator, X, y, **fit_params):
    # one batch holds all the data (no validation split), and layer norm's
    # statistics are per row
    params = fast(norm="layer", batch_size=256, max_epochs=10, early_stopping=False)
    est = Estimator(**params)
    return getattr(est.fit(X, y, **fit_params), PREDICT[Estimator])


@ESTIMATORS
def test_integer_weights_equal_repeated_rows_in_one_batch(data, Estimator):
    X, y = data
    w = np.random.RandomState(0).randint(0, 4, size=len(y))  # zeros included
    weighted = _fit_predict(Estimator, X, y, sample_weight=w)(X)
    repeated = _fit_predict(Estimator, X.repeat(w, axis=0), y.repeat(w))(X)
    assert_allclose(weighted, repeated, rtol=1e-4, atol=1e-6)


@ESTIMATORS
def test_unit_weights_are_no_weights_and_only_ratios_count(data, Estimator):
    X, y = data
    plain = _fit_predict(Estimator, X, y)(X)
    ones = _fit_predict(Estimator, X, y, sample_weight=np.ones(len(y)))(X)
    assert_array_equal(ones, plain)
    w = np.linspace(0.1, 3.0, len(y))
    assert_allclose(
        _fit_predict(Estimator, X, y, sample_weight=10 * w)(X),
        _fit_predict(Estimator, X, y, sample_weight=w)(X),
        rtol=1e-5,
    )


def test_weights_move_the_decision(data):
    X, y = data
    heavy_ones = np.where(y == 1, 20.0, 1.0)
    clf = NormMLPClassifier(**fast(max_epochs=10))
    plain = clf.fit(X, y).predict_proba(X)[:, 1]
    weighted = clf.fit(X, y, sample_weight=heavy_ones).predict_proba(X)[:, 1]
    assert weighted.mean() > plain.mean() + 0.05


@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 1: 0.5}])
def test_class_weight_multiplies_the_sample_weights(data, class_weight):
    X, y = data[0][:45], data[1][:45]  # 23/22: "balanced" is not all ones
    w = np.linspace(0.5, 2.0, len(y))
    # as scikit-learn's linear models: "balanced" counts the weighted samples
    per_class = compute_class_weight(
        class_weight, classes=np.array([0, 1]), y=y, sample_weight=w
    )
    expected = NormMLPClassifier(**fast()).fit(X, y, sample_weight=w * per_class[y])
    clf = NormMLPClassifier(**fast(), class_weight=class_weight)
    assert_allclose(
        clf.fit(X, y, sample_weight=w).predict_proba(X),
        expected.predict_proba(X),
        rtol=1e-5,
    )


def test_balanced_class_weight_is_refused_by_partial_fit(data):
    X, y = data
    clf = NormMLPClassifier(**fast(), class_weight="balanced")
    with pytest.raises(ValueError, match="compute_class_weight"):
        clf.partial_fit(X, y, classes=[0, 1])
    clf.set_params(class_weight={0: 1.0, 1: 2.0}).partial_fit(X, y, classes=[0, 1])


@pytest.mark.parametrize("weight", [-1.0, np.nan, np.inf, "2"])
def test_class_weights_must_be_finite_and_non_negative(data, weight):
    # as sample weights are: a negative one would push the loss the wrong
    # way; NaN was reported as "all zero"
    X, y = data
    clf = NormMLPClassifier(**fast(), class_weight={0: weight, 1: 1.0})
    with pytest.raises(ValueError, match=r"class_weight must map classes to fin"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


@ESTIMATORS
def test_partial_fit_weighs_each_call(data, Estimator):
    X, y = data
    w = np.linspace(0.5, 2.0, len(y))
    est = Estimator(**fast(max_epochs=1))
    est.partial_fit(X, y, sample_weight=w).partial_fit(X, y, sample_weight=w)
    assert est.n_iter_ == 2


def test_early_stopping_weighs_the_validation_loss(data):
    X, y = data
    params = fast(early_stopping=True, max_epochs=2)
    plain = NormMLPClassifier(**params).fit(X, y).history_[:, "valid_loss"]
    w = np.where(y == 1, 5.0, 1.0)
    weighted = NormMLPClassifier(**params).fit(X, y, sample_weight=w)
    assert weighted.history_[:, "valid_loss"] != plain


@ESTIMATORS
def test_sample_weight_is_routed_by_pipeline_and_grid_search(data, Estimator):
    X, y = data
    w = np.linspace(0.2, 3.0, len(y))

    def net():
        return Estimator(**fast())

    expected = getattr(
        Pipeline([("scale", InputScaler()), ("net", net())]).fit(
            X, y, net__sample_weight=w
        ),
        PREDICT[Estimator],
    )(X)
    direct = getattr(
        net().fit(InputScaler().fit_transform(X), y, sample_weight=w),
        PREDICT[Estimator],
    )(InputScaler().fit_transform(X))
    assert_allclose(expected, direct)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = net().set_fit_request(sample_weight=True)
        pipe = Pipeline([("scale", InputScaler()), ("net", routed)])
        assert_allclose(
            getattr(pipe.fit(X, y, sample_weight=w), PREDICT[Estimator])(X),
            expected,
        )
        routed = net().set_fit_request(sample_weight=True)
        routed.set_score_request(sample_weight=True)
        search = GridSearchCV(
            Pipeline([("scale", InputScaler()), ("net", routed)]),
            {"net__lr": [1e-3]},
            cv=2,
        ).fit(X, y, sample_weight=w)
        assert_allclose(
            getattr(search.best_estimator_, PREDICT[Estimator])(X), expected
        )
