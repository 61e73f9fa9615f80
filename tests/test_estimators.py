import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_iris,
    make_regression,
)
from sklearn.model_selection import cross_val_score
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import Callback, Checkpoint, EarlyStopping, LRScheduler

from sknorm import NORMS, NormMLPClassifier, NormMLPRegressor, make_norm_pipeline
from sknorm._estimators import OPTIMIZERS
from sknorm.nn import norm_options

FAST = {"hidden_layer_sizes": (32,), "max_epochs": 5, "random_state": 0}


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


class RecordThreads(Callback):
    """Write torch's thread count during training into the history."""

    def on_epoch_end(self, net, **kwargs):
        net.history.record("torch_threads", torch.get_num_threads())


# -- labels, shapes, data types -------------------------------------------------
def test_classifier_string_labels(iris):
    X, y = iris
    clf = NormMLPClassifier(norm="batch", max_epochs=40, random_state=0).fit(X, y)
    assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    pred = clf.predict(X)
    assert pred.dtype == y.dtype and set(pred) <= set(y)
    assert clf.score(X, y) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3) and proba.dtype == np.float64
    assert_allclose(proba.sum(1), 1, rtol=1e-6)
    assert_array_equal(clf.classes_[proba.argmax(1)], pred)


def test_classifier_integer_and_bool_labels(cancer):
    X, y = cancer
    for labels in (y + 10, y.astype(bool)):
        clf = NormMLPClassifier(**FAST).fit(X[:100], labels[:100])
        assert_array_equal(clf.classes_, np.unique(labels[:100]))
        assert set(clf.predict(X[:20])) <= set(clf.classes_)


def test_net_is_a_skorch_net_with_history(cancer):
    X, y = cancer
    clf = NormMLPClassifier(**FAST).fit(X, y)
    assert isinstance(clf.net_, NeuralNetClassifier)
    assert clf.history_ is clf.net_.history
    assert clf.n_iter_ == 5 == len(clf.history_)
    assert all(np.isfinite(clf.history_[:, "train_loss"]))
    reg = NormMLPRegressor(**FAST).fit(X, y.astype(float))
    assert isinstance(reg.net_, NeuralNetRegressor)
    # Cross-entropy on logits, not skorch's NLLLoss default.
    assert isinstance(clf.net_.criterion_, torch.nn.CrossEntropyLoss)


def test_no_hidden_validation_split_without_early_stopping(cancer):
    X, y = cancer
    clf = NormMLPClassifier(**FAST, early_stopping=False).fit(X, y)
    assert clf.net_.train_split is None
    first_epoch = clf.history_[0]
    assert sum(b["train_batch_size"] for b in first_epoch["batches"]) == len(X)
    assert "valid_loss" not in first_epoch


@pytest.mark.parametrize(
    "n_samples, early_stopping, n_train",
    [(129, False, 129), (257, False, 257), (144, True, 129)],  # 144 - ceil(14.4)
)
def test_batch_norm_never_sees_a_batch_of_one(
    cancer, n_samples, early_stopping, n_train
):
    X, y = cancer
    clf = NormMLPClassifier(
        norm="batch",
        batch_size=128,
        max_epochs=2,
        early_stopping=early_stopping,
        random_state=0,
    )
    clf.fit(X[:n_samples], y[:n_samples])
    batches = clf.history_[0]["batches"]
    sizes = [b["train_batch_size"] for b in batches if "train_batch_size" in b]
    assert min(sizes) > 1 and sum(sizes) == n_train


def test_regressor_targets_1d_and_2d():
    X, y = make_regression(200, 5, n_targets=2, random_state=0)
    reg = NormMLPRegressor(**FAST)
    assert reg.fit(X, y).predict(X).shape == (200, 2)
    assert reg.n_outputs_ == 2
    assert reg.fit(X, y[:, 0]).predict(X).shape == (200,)
    assert reg.fit(X, y[:, :1]).predict(X).shape == (200, 1)
    assert reg.predict(X).dtype == np.float64


def test_regressor_learns_targets_in_large_units():
    X, y = load_diabetes(return_X_y=True)  # targets in the hundreds
    reg = NormMLPRegressor(norm="layer", dropout=0.0, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.5
    assert reg.target_scaler_.mean_[0] == pytest.approx(y.mean())
    unscaled = NormMLPRegressor(norm="layer", scale_target=False, random_state=0)
    assert unscaled.fit(X, y).target_scaler_ is None


def test_dataframe_input_sets_feature_names(cancer):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    clf = NormMLPClassifier(**FAST).fit(X, y)
    assert_array_equal(clf.feature_names_in_, X.columns)
    assert clf.n_features_in_ == 30
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X.to_numpy()[:3])


def test_accepts_float32_float64_and_int(cancer):
    X, y = cancer
    for dtype in (np.float32, np.float64, np.int64):
        clf = NormMLPClassifier(**FAST).fit(X[:100].astype(dtype), y[:100])
        assert clf.predict(X[:5].astype(dtype)).shape == (5,)


# -- reproducibility ------------------------------------------------------------
def test_random_state_reproducible_and_leaves_global_rng_alone(cancer):
    X, y = cancer
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002
    a = NormMLPClassifier(**FAST, dropout=0.2).fit(X, y).predict_proba(X)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    b = clone(NormMLPClassifier(**FAST, dropout=0.2)).fit(X, y).predict_proba(X)
    assert_array_equal(a, b)
    c = NormMLPClassifier(**{**FAST, "random_state": 1}, dropout=0.2).fit(X, y)
    assert not np.array_equal(a, c.predict_proba(X))


def test_prediction_does_not_depend_on_batch_composition(cancer):
    X, y = cancer
    for norm in ("batch", "layer", "none"):
        clf = NormMLPClassifier(**FAST, norm=norm).fit(X, y)
        full = clf.predict_proba(X)
        alone = np.vstack([clf.predict_proba(X[i : i + 1]) for i in range(0, 40)])
        assert_allclose(alone, full[:40], rtol=1e-12, atol=1e-12)
        shuffled = np.random.RandomState(0).permutation(len(X))
        assert_allclose(clf.predict_proba(X[shuffled]), full[shuffled], atol=1e-12)


# -- skorch features ------------------------------------------------------------
def test_skorch_callbacks_plug_in_and_are_not_mutated(cancer, tmp_path):
    X, y = cancer
    scheduler = LRScheduler(policy="StepLR", step_size=2, gamma=0.5)
    stopper = EarlyStopping(monitor="train_loss", patience=2, threshold=10.0)
    checkpoint = Checkpoint(dirname=str(tmp_path), monitor="train_loss_best")
    clf = NormMLPClassifier(
        **{**FAST, "max_epochs": 20},
        callbacks=[scheduler, ("stop", stopper), checkpoint],
    ).fit(X, y)
    assert clf.n_iter_ < 20  # a 1000% improvement threshold stops it early
    lrs = [g["lr"] for g in clf.net_.optimizer_.param_groups]
    assert lrs[0] < 1e-3  # the scheduler ran
    assert (tmp_path / "params.pt").exists()
    assert stopper.dynamic_threshold_ is None  # the parameter's objects were cloned


def test_progress_bar_callback(cancer, capsys):
    from skorch.callbacks import ProgressBar

    X, y = cancer
    clf = NormMLPClassifier(**FAST, callbacks=[ProgressBar()]).fit(X[:100], y[:100])
    # skorch's bar drew one line per epoch on stderr (a training and a
    # validation batch), and training went on.
    assert capsys.readouterr().err.count("0/2 [") >= FAST["max_epochs"]
    assert clf.n_iter_ == FAST["max_epochs"]


def test_default_recipe_is_the_studied_early_stopping(cancer):
    # benchmarks/bench_defaults.py's "es" recipe (benchmarks/results/defaults.md)
    es = {
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 15,
        "max_epochs": 300,
    }
    for Estimator in (NormMLPClassifier, NormMLPRegressor):
        params = Estimator().get_params()
        assert {k: params[k] for k in es} == es
        assert (params["optimizer"], params["lr"], params["tol"]) == (
            "adam",
            1e-3,
            1e-4,
        )
    X, y = cancer
    clf = make_norm_pipeline(NormMLPClassifier(random_state=0)).fit(X, y)
    net = clf[-1].net_
    best = dict(net.callbacks_)["early_stopping"].best_epoch_
    assert clf[-1].n_iter_ == best + 15 < 300  # stopped after 15 epochs' patience
    # The best epoch's weights are restored: its validation loss is the model's.
    valid_rows = net.train_split(np.arange(len(X)), torch.as_tensor(y))[1].indices
    proba = clf.predict_proba(X[valid_rows])
    loss = -np.mean(np.log(proba[np.arange(len(valid_rows)), y[valid_rows]]))
    assert loss == pytest.approx(clf[-1].history_[best - 1, "valid_loss"], rel=1e-4)


def test_tiny_data_trains_without_a_split_and_says_so(iris):
    X, _ = iris
    reg = NormMLPRegressor(**FAST)  # FAST leaves early stopping on
    with pytest.warns(UserWarning, match=r"n_samples=2 is too few.*without early"):
        reg.fit(X[:2, :3], X[:2, 3])
    assert reg.n_iter_ == FAST["max_epochs"]
    assert "valid_loss" not in reg.history_[-1]
    assert sum(b["train_batch_size"] for b in reg.history_[0]["batches"]) == 2
    # Three rows: one held out, two to train on.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.fit(X[:3, :3], X[:3, 3])
    assert "valid_loss" in reg.history_[-1]
    # A callback that needs validation scores cannot be served: a named error.
    reg.set_params(callbacks=[EarlyStopping()])
    with pytest.raises(ValueError, match=r"n_samples=2 is too few.*EarlyStopping"):
        reg.fit(X[:2, :3], X[:2, 3])


def test_split_is_plain_where_stratifying_is_impossible(iris):
    X, y = iris
    # 20 rows, 3 classes: 2 held out, fewer than the classes; and a class of
    # one row. scikit-learn's stratified splitter refuses both.
    rows = np.r_[0:10, 50:59, 100]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = NormMLPClassifier(**FAST).fit(X[rows], y[rows])
    assert "valid_loss" in clf.history_[-1]
    assert_array_equal(clf.classes_, np.unique(y))


def test_early_stopping_holds_out_a_stratified_split(cancer):
    X, y = cancer
    clf = NormMLPClassifier(
        hidden_layer_sizes=(32,),
        max_epochs=300,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=3,
        random_state=0,
    ).fit(X, y)
    assert clf.n_iter_ < 300
    assert "valid_loss" in clf.history_[-1]
    batches = clf.history_[0]["batches"]
    n_train = sum(b["train_batch_size"] for b in batches if "train_batch_size" in b)
    assert n_train == len(X) - round(0.2 * len(X))


def test_warm_start_continues_training(cancer):
    X, y = cancer
    clf = NormMLPClassifier(**FAST, warm_start=True).fit(X, y)
    net = clf.net_
    clf.fit(X, y)
    assert clf.net_ is net and clf.n_iter_ == 10
    cold = NormMLPClassifier(**FAST).fit(X, y)
    net = cold.net_
    assert cold.fit(X, y).net_ is not net and cold.n_iter_ == 5


@pytest.mark.parametrize(
    "change",
    [
        {"optimizer": "sgd"},
        {"weight_decay": 0.5},
        {"early_stopping": False},
        {"callbacks": [RecordThreads()]},
        {"verbose": 1},
    ],
    ids=lambda change: next(iter(change)),
)
def test_warm_start_refuses_what_it_cannot_change(cancer, change):
    # it trains the same net on: its optimizer, callbacks, early stopping and
    # logging stay; a change is named, where it was dropped without a word
    X, y = cancer
    clf = NormMLPClassifier(**FAST, warm_start=True).fit(X, y)
    clf.set_params(lr=0.01, max_epochs=2).fit(X, y)  # these it applies
    assert clf.n_iter_ == 7 and clf.net_.lr == 0.01
    net = clf.net_
    with pytest.raises(ValueError, match=rf"\['{next(iter(change))}'\] changed since"):
        clf.set_params(**change).fit(X, y)
    assert clf.n_iter_ == 7 and len(clf.net_.history) == len(net.history)


def test_warm_start_takes_changes_without_effect_and_survives_a_failed_fit(cancer):
    X, y = cancer
    clf = NormMLPClassifier(**FAST, warm_start=True, callbacks=[RecordThreads()])
    clf.fit(X, y)
    # a failed warm fit puts the net back (a copy): its callbacks still count
    # as the parameter's, so the next warm fit goes on
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(np.full_like(X, np.nan), y)
    assert clf.fit(X, y).n_iter_ == 10
    # momentum under Adam, norm options of another norm, embedding options
    # without an embedding take no effect: no refusal, here or in save
    clf.set_params(momentum=0.5, norm_params={"rmax": 2.0})
    clf.set_params(embedding_params={"n_frequencies": 8})
    assert clf.fit(X, y).n_iter_ == 15
    off = NormMLPClassifier(**FAST, warm_start=True, early_stopping=False).fit(X, y)
    assert off.set_params(tol=0.5, n_iter_no_change=2).fit(X, y).n_iter_ == 10


@pytest.mark.parametrize(
    "optimizer", ["adam", "adamw", "sgd", "rmsprop", torch.optim.Adagrad]
)
def test_optimizers(cancer, optimizer):
    X, y = cancer
    params = {**FAST, "max_epochs": 10}
    clf = make_norm_pipeline(NormMLPClassifier(**params, optimizer=optimizer)).fit(X, y)
    expected = OPTIMIZERS.get(optimizer, optimizer)
    assert type(clf[-1].net_.optimizer_) is expected
    assert clf.score(X, y) > 0.7
    if optimizer == "sgd":
        assert clf[-1].net_.optimizer_.param_groups[0]["momentum"] == 0.9


def test_thread_policy(cancer, monkeypatch):
    X, y = cancer
    before = torch.get_num_threads()
    clf = NormMLPClassifier(**FAST, n_threads=1, callbacks=[RecordThreads()]).fit(X, y)
    assert set(clf.history_[:, "torch_threads"]) == {1}
    assert torch.get_num_threads() == before  # restored after the fit
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    clf = NormMLPClassifier(**FAST, callbacks=[RecordThreads()]).fit(X, y)
    assert set(clf.history_[:, "torch_threads"]) == {1}


# -- defaults and bad input ---------------------------------------------------------
def test_defaults_learn_well(cancer):
    X, y = cancer
    scores = cross_val_score(
        make_norm_pipeline(NormMLPClassifier(random_state=0)), X, y
    )
    assert scores.mean() >= 0.96


def test_one_sample_trains_with_a_per_sample_norm():
    # (Batch norm's error on one sample is a row of test_bad_input.py.)
    pred = (
        NormMLPRegressor(**FAST, norm="layer")
        .fit([[1.0, 2.0]], [3.0])
        .predict([[1, 2]])
    )
    assert np.isfinite(pred).all()


# -- the wider family of norms, Keras settings, divergence ---------------------------
@pytest.mark.parametrize("norm", ["rms", "group", "ghost", "batch_renorm"])
def test_more_norms_learn(cancer, norm):
    X, y = cancer
    pipe = make_norm_pipeline(
        NormMLPClassifier(norm=norm, max_epochs=30, random_state=0)
    )
    assert pipe.fit(X[:400], y[:400]).score(X[400:], y[400:]) > 0.9
    layer = pipe["net"].net_.module_.hidden[0].norm
    assert (
        type(layer).__name__
        == {
            "rms": "RMSNorm",
            "group": "GroupNorm",
            "ghost": "GhostBatchNorm1d",
            "batch_renorm": "BatchRenorm1d",
        }[norm]
    )


def test_norm_options_reach_the_layers(cancer):
    X, y = cancer
    clf = NormMLPClassifier(
        **FAST,
        norm="group",
        norm_params={"groups": 4},
        norm_eps=1e-4,
        norm_affine=False,
    ).fit(X, y)
    layer = clf.net_.module_.hidden[0].norm
    assert (layer.num_groups, layer.eps, layer.affine) == (4, 1e-4, False)
    params = {"virtual_batch_size": 16, "rmax": 2.0, "dmax": 1.0, "warmup_steps": 7}
    clf = NormMLPClassifier(**FAST, norm="ghost", norm_params=params).fit(X, y)
    assert clf.net_.module_.hidden[0].norm.virtual_batch_size == 16
    clf = NormMLPClassifier(**FAST, norm="batch_renorm", norm_params=params).fit(X, y)
    layer = clf.net_.module_.hidden[0].norm
    assert (layer.rmax, layer.dmax, layer.warmup_steps) == (2.0, 1.0, 7)


@pytest.mark.parametrize("norm", NORMS)
def test_norm_options_default_to_the_norms_own_defaults(cancer, norm):
    # One declaration per option: what an estimator builds with no norm_params
    # is what the norm's factory declares.
    X, y = cancer
    layer = NormMLPClassifier(**FAST, norm=norm).fit(X, y).net_.module_.hidden[0].norm
    for option, default in norm_options(norm).items():
        attribute = {"groups": "num_groups"}.get(option, option)
        assert getattr(layer, attribute) == default


def test_unknown_norm_params_are_named(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['group'\].*'groups'"):
        NormMLPClassifier(**FAST, norm="group", norm_params={"group": 4}).fit(X, y)


@pytest.mark.parametrize(
    "params, eps, momentum",
    [
        ({}, 1e-5, 0.1),
        ({"norm_defaults": "keras"}, 1e-3, 0.01),
        ({"norm_defaults": "keras", "norm_momentum": 0.2}, 1e-3, 0.2),
        ({"norm_eps": 1e-4}, 1e-4, 0.1),
    ],
)
def test_keras_norm_defaults(cancer, params, eps, momentum):
    X, y = cancer
    clf = NormMLPClassifier(**FAST, norm="batch", **params).fit(X, y)
    bn = clf.net_.module_.hidden[0].norm
    assert (bn.eps, bn.momentum) == (eps, momentum)
    # Keras' moving variance is the biased batch variance (sknorm.nn's tests
    # check the update against Keras' rule); torch's is the unbiased one.
    keras = params.get("norm_defaults") == "keras"
    assert getattr(bn, "biased_running_var", False) is keras


class RecordInitialWeights(Callback):
    """Keep a copy of the module's weights as training begins."""

    def on_train_begin(self, net, **kwargs):
        self.state_ = {k: v.clone() for k, v in net.module_.state_dict().items()}


@pytest.mark.parametrize("optimizer", ["adam", "adamw", torch.optim.Adam, "sgd"])
@pytest.mark.parametrize("norm_defaults", ["torch", "keras"])
def test_keras_mode_uses_keras_adam_epsilon(cancer, optimizer, norm_defaults):
    X, y = cancer
    clf = NormMLPClassifier(
        **{**FAST, "max_epochs": 1}, optimizer=optimizer, norm_defaults=norm_defaults
    ).fit(X[:100], y[:100])
    group = clf.net_.optimizer_.param_groups[0]
    if optimizer == "sgd":
        assert "eps" not in group
    else:  # Keras' Adam(epsilon=1e-7); torch's default 1e-8
        assert group["eps"] == {"torch": 1e-8, "keras": 1e-7}[norm_defaults]


@pytest.mark.parametrize("norm_defaults", ["torch", "keras"])
def test_keras_mode_starts_from_glorot_uniform_weights_and_zero_biases(
    cancer, norm_defaults
):
    X, y = cancer
    recorder = RecordInitialWeights()
    clf = NormMLPClassifier(
        **{**FAST, "max_epochs": 1, "hidden_layer_sizes": (64, 32)},
        norm_defaults=norm_defaults,
        callbacks=[("initial", recorder)],
    ).fit(X, y)
    state = dict(clf.net_.callbacks_)["initial"].state_
    linears = [m for m in clf.net_.module_.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3  # two hidden layers and the output layer
    for layer in linears:
        name = next(n for n, m in clf.net_.module_.named_modules() if m is layer)
        weight, bias = state[f"{name}.weight"], state[f"{name}.bias"]
        fan_out, fan_in = weight.shape
        glorot = np.sqrt(6 / (fan_in + fan_out))
        torch_bound = 1 / np.sqrt(fan_in)  # Kaiming-uniform, a=sqrt(5)
        largest = weight.abs().max().item()
        if norm_defaults == "keras":
            assert largest <= glorot and largest > 0.9 * glorot
            assert not bias.any()
        else:
            assert largest <= torch_bound and largest > 0.9 * torch_bound
            assert bias.abs().max().item() <= torch_bound and bool(bias.any())


def test_diverging_training_stops_with_a_clear_error(cancer):
    from sknorm.exceptions import TrainingDivergedError

    X, y = cancer
    reg = NormMLPRegressor(
        norm="none",
        optimizer="sgd",
        lr=1e3,
        scale_target=False,
        max_epochs=50,
        random_state=0,
    )
    with pytest.raises(TrainingDivergedError, match=r"loss is (nan|inf) at epoch 1"):
        reg.fit(X * 1e3, y * 1e3)
    assert issubclass(TrainingDivergedError, FloatingPointError)


# -- partial_fit and reproducibility -----------------------------------------------
def test_partial_fit_continues_and_takes_classes(iris):
    X, y = iris
    clf = NormMLPClassifier(
        **{**FAST, "max_epochs": 20}, batch_size=32, early_stopping=False
    )
    first = y == "setosa"
    clf.partial_fit(X[first], y[first], classes=np.unique(y))
    assert_array_equal(clf.classes_, np.unique(y))
    net = clf.net_
    for _ in range(5):
        clf.partial_fit(X, y)
    assert clf.net_ is net and clf.n_iter_ == 120
    assert clf.score(X, y) > 0.8
    # classes are given once: the same again (any order) is fine, others not
    clf.partial_fit(X, y, classes=np.unique(y)[::-1])
    with pytest.raises(ValueError, match="is not the classes of the first partial"):
        clf.partial_fit(X, y, classes=np.unique(y)[:2])
    with pytest.raises(ValueError, match="only one class is present in classes"):
        NormMLPClassifier(**FAST).partial_fit(X, y, classes=["setosa"])
    reg = NormMLPRegressor(**FAST).partial_fit(X[:, :3], X[:, 3])
    assert reg.partial_fit(X[:, :3], X[:, 3]).n_iter_ == 10
    # predictions shaped like the last fit's y: (n, 1) after a (n, 1) y
    assert reg.partial_fit(X[:, :3], X[:, 3:]).predict(X[:2, :3]).shape == (2, 1)
    assert reg.partial_fit(X[:, :3], X[:, 3]).predict(X[:2, :3]).shape == (2,)


def test_partial_fit_is_reproducible_and_draws_new_shuffles(cancer):
    X, y = cancer

    def run():
        clf = NormMLPClassifier(**FAST)
        clf.partial_fit(X, y)
        clf.partial_fit(X, y)
        return clf

    a, b = run(), run()
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.history_[:, "train_loss"] == b.history_[:, "train_loss"]


def test_same_random_state_is_bitwise_identical_after_clone(cancer):
    X, y = cancer
    est = make_norm_pipeline(NormMLPClassifier(**FAST, norm="batch", dropout=0.1))
    a = est.fit(X, y).predict_proba(X)
    b = clone(est).fit(X, y).predict_proba(X)
    assert_array_equal(a, b)


def test_prediction_follows_any_change_of_the_weights(cancer):
    """Predictions use a cached float64 copy: it must never go stale."""
    X, y = cancer
    clf = NormMLPClassifier(**FAST).fit(X, y)
    before = clf.predict_proba(X)
    keys = set(vars(clf))
    with torch.no_grad():
        clf.net_.module_.output.bias[0] += 5.0  # an in-place edit
    after = clf.predict_proba(X)
    assert not np.allclose(after, before)
    assert set(vars(clf)) == keys  # nothing cached on the estimator
    state = {k: v.clone() for k, v in clf.net_.module_.state_dict().items()}
    clf.fit(X, y)  # new weights
    clf.net_.module_.load_state_dict(state)  # and back again
    assert_allclose(clf.predict_proba(X), after)


def test_float16_input_fits_without_a_warning(diabetes):
    # float16 always fits in float32: no overflow check, no spurious warning.
    X, y = diabetes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = NormMLPRegressor(**FAST).fit(X.astype(np.float16), y)
    assert np.isfinite(reg.predict(X.astype(np.float16))).all()
