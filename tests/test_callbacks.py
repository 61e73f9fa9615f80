"""ActivationStats: what it records, that it matches a hand computation, and
that measuring changes nothing. Its speed is measured by
benchmarks/bench_activation_stats.py, never timed here."""

import numpy as np
import pytest
import torch
from _presets import FAST, fast
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch import NeuralNetClassifier
from skorch.dataset import Dataset
from torch import nn

from sknorm import NORMS, NormMLPClassifier, NormMLPRegressor, make_norm_pipeline
from sknorm.callbacks import STAT_NAMES, ActivationStats, activation_stats
from sknorm.nn import MLP


@pytest.fixture(scope="module")
def iris(iris):
    """Iris, standard scaled."""
    X, y = iris
    return (X - X.mean(0)) / X.std(0), y


def _fitted_callback(est) -> ActivationStats:
    [cb] = [cb for _, cb in est.net_.callbacks_ if isinstance(cb, ActivationStats)]
    return cb


def _moments(Z):
    """Mean over units of the unit means and of the unit (population) stds."""
    return Z.mean(axis=0).mean(), Z.std(axis=0).mean()


# -- what is recorded ------------------------------------------------------------
@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
@pytest.mark.parametrize("position", ["before", "after"])
def test_records_one_entry_per_layer_and_epoch(iris, norm, position):
    X, y = iris
    clf = NormMLPClassifier(
        **fast(
            hidden_layer_sizes=(8, 6, 4),
            norm=norm,
            norm_position=position,
            callbacks=[ActivationStats(probe_size=50)],
        )
    ).fit(X, y)
    records = clf.history_[:, "act_stats"]
    assert len(records) == FAST["max_epochs"]
    for epoch in records:
        assert [r["layer"] for r in epoch] == [0, 1, 2]
        for r in epoch:
            assert set(r) == {"layer", *STAT_NAMES}
            assert all(
                np.isfinite(r[s]) and isinstance(r[s], float) for s in STAT_NAMES
            )
            if norm == "none" and position == "before":  # identity norm: post = pre
                assert (r["post_mean"], r["post_std"]) == (r["pre_mean"], r["pre_std"])
    assert len(_fitted_callback(clf).probe_indices_) == 50


def test_layers_and_key_parameters(iris):
    X, y = iris
    clf = NormMLPClassifier(
        **fast(hidden_layer_sizes=(8, 6, 4)),
        callbacks=[
            ActivationStats(layers=(2, 0)),
            ActivationStats(mode="eval", layers=1, key="eval_stats"),
        ],
    ).fit(X, y)
    assert [r["layer"] for r in clf.history_[-1, "act_stats"]] == [0, 2]
    assert [r["layer"] for r in clf.history_[-1, "eval_stats"]] == [1]


def test_regressor_and_warm_start(iris):
    X, _ = iris
    reg = NormMLPRegressor(**FAST, callbacks=[ActivationStats()], warm_start=True).fit(
        X, X[:, 0]
    )
    reg.fit(X, X[:, 0])
    assert len(reg.history_[:, "act_stats"]) == 2 * FAST["max_epochs"]


# -- the numbers -----------------------------------------------------------------
@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
def test_last_record_matches_a_hand_computation(iris, norm):
    X, y = iris
    clf = NormMLPClassifier(
        **fast(norm=norm, callbacks=[ActivationStats(probe_size=40)])
    ).fit(X, y)
    block = clf.net_.module_.hidden[0]
    probe = X[_fitted_callback(clf).probe_indices_].astype(np.float32)
    W = block.linear.weight.detach().numpy().astype(np.float64)
    b = block.linear.bias.detach().numpy().astype(np.float64)
    pre = probe @ W.T + b
    if norm == "batch":  # training mode: the probe's own statistics, biased var
        eps = block.norm.eps
        gamma, beta = block.norm.weight.detach().numpy(), block.norm.bias.detach()
        post = (pre - pre.mean(0)) / np.sqrt(pre.var(0) + eps) * gamma + beta.numpy()
    elif norm == "layer":
        eps = block.norm.eps
        gamma, beta = block.norm.weight.detach().numpy(), block.norm.bias.detach()
        mean, var = pre.mean(1, keepdims=True), pre.var(1, keepdims=True)
        post = (pre - mean) / np.sqrt(var + eps) * gamma + beta.numpy()
    else:
        post = pre
    [record] = clf.history_[-1, "act_stats"]
    expected = [*_moments(pre), *_moments(post)]
    assert_allclose([record[s] for s in STAT_NAMES], expected, rtol=1e-4, atol=1e-5)


def test_eval_mode_uses_running_statistics():
    torch.manual_seed(0)
    module = MLP(3, 2, (4,), norm="batch")
    X = torch.randn(64, 3)
    norm = module.hidden[0].norm
    with torch.no_grad():
        norm.running_mean.copy_(torch.tensor([0.5, -0.5, 1.0, 0.0]))
        norm.running_var.copy_(torch.tensor([4.0, 1.0, 0.25, 2.0]))
    pre = module.hidden[0].linear(X).detach().numpy().astype(np.float64)
    post = (pre - norm.running_mean.numpy()) / np.sqrt(norm.running_var.numpy() + 1e-5)
    [train] = activation_stats(module, X, mode="train")
    [evaluation] = activation_stats(module, X, mode="eval")
    assert_allclose(
        [evaluation[s] for s in STAT_NAMES],
        [*_moments(pre), *_moments(post)],
        rtol=1e-5,
    )
    assert_allclose([train["post_mean"], train["post_std"]], [0, 1], atol=1e-4)


# -- measuring changes nothing ---------------------------------------------------
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_module_state_flags_and_rng_are_restored(mode):
    torch.manual_seed(0)
    module = MLP(3, 2, (4, 4), norm="batch", dropout=0.5)
    module.train()
    module.hidden[1].norm.eval()  # a frozen norm must stay frozen
    flags = [m.training for m in module.modules()]
    state = {k: v.clone() for k, v in module.state_dict().items()}
    X = torch.randn(16, 3)
    rng = torch.get_rng_state()
    activation_stats(module, X, mode=mode)
    assert [m.training for m in module.modules()] == flags
    for key, value in module.state_dict().items():  # running stats included
        assert torch.equal(value, state[key]), key
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(not m._forward_hooks for m in module.modules())


@pytest.mark.parametrize("norm", sorted(NORMS))
def test_fit_with_the_callback_learns_the_same_weights(iris, norm):
    X, y = iris
    params = fast(hidden_layer_sizes=(16, 16), norm=norm, dropout=0.3)
    plain = NormMLPClassifier(**params).fit(X, y)
    watched = NormMLPClassifier(
        callbacks=[ActivationStats(), ActivationStats(mode="eval", key="e")],
        **params,
    ).fit(X, y)
    for (key, a), b in zip(
        plain.net_.module_.state_dict().items(),
        watched.net_.module_.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b), key
    assert_array_equal(plain.predict_proba(X), watched.predict_proba(X))


def test_parameter_object_is_cloned_not_fitted(iris):
    X, y = iris
    cb = ActivationStats(probe_size=10, random_state=3)
    NormMLPClassifier(**FAST, callbacks=[cb]).fit(X, y)
    assert not hasattr(cb, "probe_")
    assert clone(cb, safe=False).get_params() == cb.get_params()


# -- plumbing --------------------------------------------------------------------
def test_works_through_a_pipeline_and_a_search(iris):
    X, y = iris
    pipe = make_norm_pipeline(NormMLPClassifier(**FAST, callbacks=[ActivationStats()]))
    search = GridSearchCV(pipe, {"net__norm": ["batch", "layer"]}, cv=2).fit(X, y)
    history = search.best_estimator_[-1].history_
    assert len(history[:, "act_stats"]) == FAST["max_epochs"]


def test_plain_skorch_net_with_numpy_data(iris):
    X, y = iris
    net = NeuralNetClassifier(
        MLP,
        module__n_features=4,
        module__n_outputs=3,
        module__hidden_layer_sizes=(5,),
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        train_split=None,
        verbose=0,
        callbacks=[ActivationStats(probe_size=20)],
    )
    net.fit(X.astype(np.float32), y)
    assert len(net.history[-1, "act_stats"]) == 1


def test_probe_from_a_dataset_and_small_data():
    cb = ActivationStats(probe_size=256, random_state=0)
    X = np.arange(20, dtype=np.float64).reshape(10, 2)
    indices, probe = cb._draw_probe(Dataset(X, np.zeros(10)))
    assert_array_equal(indices, np.arange(10))  # all rows when fewer than asked
    assert probe.dtype == torch.float32
    assert_array_equal(probe.numpy(), X)


def test_verbose_log_does_not_print_the_records(iris, capsys):
    X, y = iris
    NormMLPClassifier(**FAST, callbacks=[ActivationStats()], verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out
    assert "pre_mean" not in out and "act_stats" not in out


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"probe_size": 1}, ValueError, "probe_size"),
        ({"mode": "test"}, ValueError, "mode"),
        ({"layers": (0, 5)}, ValueError, "layers"),
        ({"layers": 1.0}, ValueError, r"layers must be None or indices .* got 1\.0"),
        ({"layers": ()}, ValueError, "layers must be None or indices"),
        ({"key": ""}, ValueError, "key"),
    ],
)
def test_bad_parameters_fail_at_train_begin(iris, params, error, match):
    X, y = iris
    clf = NormMLPClassifier(**FAST, callbacks=[ActivationStats(**params)])
    with pytest.raises(error, match=match):
        clf.fit(X, y)


def test_activation_stats_takes_a_tensor_of_two_rows_or_more():
    module = MLP(4, 2, (8,))
    # a numpy array raised "'str' object has no attribute 'type'"
    with pytest.raises(TypeError, match=r"X must be a torch.Tensor .* got ndarray"):
        activation_stats(module, np.zeros((5, 4), dtype=np.float32))
    # no rows gave NaN statistics without a word
    with pytest.raises(ValueError, match=r"at least 2 rows .* shape \(0, 4\)"):
        activation_stats(module, torch.zeros(0, 4))


def test_module_without_hidden_blocks_is_rejected():
    with pytest.raises(TypeError, match="hidden"):
        activation_stats(nn.Linear(3, 2), torch.zeros(4, 3))


@pytest.mark.parametrize("key", ["train_loss", "valid_loss", "dur", "epoch"])
def test_activation_stats_key_cannot_overwrite_the_history(iris, key):
    X, y = iris
    with pytest.raises(ValueError, match="overwrite skorch's own history"):
        NormMLPClassifier(**FAST, callbacks=[ActivationStats(key=key)]).fit(X, y)


def test_activation_stats_on_sparse_input(iris):
    import scipy.sparse as sp

    X, y = iris
    clf = NormMLPClassifier(**FAST, callbacks=[ActivationStats(probe_size=16)])
    clf.fit(sp.csr_matrix(X), y)
    assert clf.history_[-1]["act_stats"]
