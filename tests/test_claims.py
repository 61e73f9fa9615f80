"""The normalization lessons, pinned on small data and fixed seeds.

Each test states a claim the examples illustrate at full size. The settings
were checked on seeds 0-3 before being pinned to seed 0; the margins asserted
are well inside what every seed showed (the numbers are in the comments).
Where a claim only holds under some conditions, the test pins the condition:
the batch-norm speed-up is asserted for SGD, where it shows, not for Adam,
where it does not (see examples/plot_covariate_shift.py). The networks have
no dropout (``dropout=0.0``, the default when the claims were measured): the
claims are about the norms.
"""

import copy

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import train_test_split

from sknorm import NormMLPClassifier, make_norm_pipeline
from sknorm.callbacks import ActivationStats
from sknorm.diagnostics import activation_stats_frame

SEED = 0


def _first_epoch_below(loss, threshold):
    hits = np.flatnonzero(np.asarray(loss) <= threshold)
    return int(hits[0]) + 1 if hits.size else np.inf


# -- 1. input scaling ---------------------------------------------------------------
def _heterogeneous(n_samples, random_state=0):
    """Age in years, tuition in dollars, GPA; a label that needs all three."""
    rng = np.random.RandomState(random_state)
    X = np.column_stack(
        [
            rng.uniform(18, 80, n_samples),
            rng.uniform(1e3, 5e4, n_samples),
            rng.uniform(0, 4, n_samples),
        ]
    )
    Z = (X - [49, 25_500, 2]) / [18, 14_000, 1.15]
    y = (Z[:, 2] + np.sin(2 * Z[:, 0]) - Z[:, 1] > 0).astype(int)
    return X, y


def test_unscaled_heterogeneous_inputs_train_slower_than_standard_scaled():
    X, y = _heterogeneous(512)
    losses = {}
    for scaling in ("none", "standard"):
        net = NormMLPClassifier(
            (32, 32),
            norm="none",
            dropout=0.0,
            max_epochs=10,
            batch_size=64,
            early_stopping=False,
            random_state=SEED,
        )
        pipe = make_norm_pipeline(net, scaling).fit(X, y)
        losses[scaling] = pipe[-1].history_[:, "train_loss"]
    # Seeds 0-3: standard reaches 0.5 at epoch 6-7, final 0.31-0.36; unscaled
    # never does, final loss 6.6-23.7.
    assert _first_epoch_below(losses["standard"], 0.6) <= 8
    assert _first_epoch_below(losses["none"], 0.6) == np.inf
    assert losses["none"][-1] > 5 * losses["standard"][-1]


# -- 2. covariate shift -------------------------------------------------------------
def test_batch_norm_keeps_hidden_statistics_fixed_while_no_norm_drifts(digits):
    X, y = digits
    fits = {}
    for norm in ("none", "batch"):
        net = NormMLPClassifier(
            (32, 32, 32),
            norm=norm,
            dropout=0.0,
            optimizer="sgd",
            lr=0.01,
            max_epochs=10,
            batch_size=64,
            early_stopping=False,
            random_state=SEED,
            callbacks=[ActivationStats()],
        )
        fits[norm] = make_norm_pipeline(net).fit(X[:512], y[:512])
    bn = activation_stats_frame(fits["batch"])
    # On the training probe (training mode), what batch norm hands the
    # activation stays at ~0 mean and ~1 std in every layer and epoch: exactly
    # beta and |gamma|, which start at 0 and 1 and move slowly.
    # Seeds 0-3: |post_mean| <= 0.09, post_std in [0.998, 1.12].
    assert bn["post_mean"].abs().max() < 0.15
    assert bn["post_std"].between(0.95, 1.2).all()

    def relative_change(frame, column, layer=2):
        values = frame.loc[frame["layer"] == layer, column].to_numpy()
        return abs(values[-1] - values[0]) / values[0]

    # Without a norm the last hidden layer's output spreads out as training goes
    # on (seeds 0-3: std +50% to +130% in 10 epochs); with batch norm what the
    # activation receives moves ~10%.
    plain = activation_stats_frame(fits["none"])
    assert relative_change(plain, "post_std") > 0.4
    assert relative_change(bn, "post_std") < 0.2
    # And batch norm trains faster with SGD (seeds 0-3: loss 0.5 at epoch 7-8;
    # without a norm not within 10 epochs, final loss ~2.2).
    loss = {norm: pipe[-1].history_[:, "train_loss"] for norm, pipe in fits.items()}
    assert _first_epoch_below(loss["batch"], 0.5) < _first_epoch_below(
        loss["none"], 0.5
    )


# -- 3. batch size ------------------------------------------------------------------
def test_batch_norm_degrades_with_batches_of_two_layer_norm_does_not(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=256, random_state=0, stratify=y
    )
    scores = {}
    for norm in ("batch", "layer"):
        net = NormMLPClassifier(
            (32, 32),
            norm=norm,
            dropout=0.0,
            max_epochs=3,
            batch_size=2,
            early_stopping=False,
            random_state=SEED,
        )
        pipe = make_norm_pipeline(net).fit(X_train, y_train)
        scores[norm] = pipe.score(X_test, y_test)
    # Seeds 0-3: batch 0.27-0.45, layer 0.86-0.88 (no norm: 0.82-0.84).
    assert scores["layer"] > 0.8
    assert scores["layer"] - scores["batch"] > 0.3


# -- 4. training vs inference -------------------------------------------------------
@pytest.fixture(scope="module")
def cancer_fits(cancer):
    X, y = cancer
    fits = {}
    for norm in ("batch", "layer"):
        net = NormMLPClassifier(
            (16, 16),
            norm=norm,
            dropout=0.0,
            max_epochs=10,
            batch_size=32,
            early_stopping=False,
            random_state=SEED,
        )
        fits[norm] = make_norm_pipeline(net).fit(X, y)
    return X, fits


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_eval_prediction_does_not_depend_on_the_batch(cancer_fits, norm):
    X, fits = cancer_fits
    pipe = fits[norm]
    rows = X[:30]
    alone = np.vstack([pipe.predict_proba(row[None]) for row in rows])
    rng = np.random.RandomState(0)
    for size in (2, 7, 64, 512):
        others = rng.choice(np.arange(30, len(X)), size=size - 1, replace=False)
        for i in range(0, 30, 10):
            batch = np.vstack([rows[i : i + 1], X[others]])
            batch_proba = pipe.predict_proba(batch)[0]
            # float64 forward pass: equal up to the last bit or two
            assert_allclose(batch_proba, alone[i], rtol=0, atol=1e-12)
    assert_array_equal(
        pipe.predict(rows), np.concatenate([pipe.predict(r[None]) for r in rows])
    )


def test_batch_norm_computes_differently_in_training_mode(cancer_fits):
    X, fits = cancer_fits
    Z = {
        norm: torch.as_tensor(p[0].transform(X), dtype=torch.float32)
        for norm, p in fits.items()
    }
    out = {}
    for norm, pipe in fits.items():
        # A copy: training-mode passes update batch norm's running statistics.
        module = copy.deepcopy(pipe[-1].net_.module_)
        with torch.no_grad():
            module.eval()
            evaluated = module(Z[norm][:16])
            module.train()
            # The same 8 rows with two different sets of batch companions.
            first = module(torch.cat([Z[norm][:8], Z[norm][16:24]]))[:8]
            second = module(torch.cat([Z[norm][:8], Z[norm][100:108]]))[:8]
            trained = module(Z[norm][:16])
        out[norm] = (evaluated, first, second, trained)
    evaluated, first, second, trained = out["layer"]
    assert torch.equal(first, second)  # layer norm: the batch does not matter
    assert torch.equal(trained, evaluated)  # and both modes compute the same
    evaluated, first, second, trained = out["batch"]
    assert (first - second).abs().max() > 1e-2
    assert (trained - evaluated).abs().max() > 1e-2


# -- 5. the Keras tutorial's norms over a size-1 axis ---------------------------------
def test_keras_tutorial_norms_over_a_size_one_axis():
    """``input_shape=(1, d)`` makes tensors ``(n, 1, units)``; ``axis=1`` is the
    size-1 axis. Keras' arithmetic in torch (``epsilon=1e-3``), as in
    examples/plot_keras.py: ``LayerNormalization(axis=1)`` normalizes a single
    value, so every output is beta and no gradient passes;
    ``BatchNormalization(axis=1)`` keeps one mean and variance for all units."""
    torch.manual_seed(SEED)
    units = 16
    # Units with their own offsets and spreads, as a Dense layer's outputs have.
    h = torch.randn(64, units) * torch.linspace(0.5, 3, units) + torch.randn(units)
    h3 = h[:, None, :].clone().requires_grad_(True)
    gamma, beta = torch.tensor([1.7]), torch.tensor([0.25])
    out = torch.nn.functional.layer_norm(h3.transpose(1, 2), (1,), gamma, beta, 1e-3)
    out.sum().backward()
    assert torch.all(out == beta)
    assert torch.all(h3.grad == 0)

    tutorial = torch.nn.BatchNorm1d(1, eps=1e-3).train()  # axis=1 of (n, 1, units)
    per_unit = torch.nn.BatchNorm1d(units, eps=1e-3).train()  # sknorm's
    with torch.no_grad():
        by_tutorial = tutorial(h[:, None, :])[:, 0, :]
        by_sknorm = per_unit(h)
    assert tutorial.running_mean.shape == (1,) and per_unit.running_mean.shape == (
        units,
    )
    # One statistic for all the units: their means stay apart, their spreads
    # unequal; per-unit statistics centre and scale each unit.
    assert by_tutorial.mean(0).std() > 0.3
    assert (
        by_tutorial.std(0, unbiased=False).max()
        > 2 * by_tutorial.std(0, unbiased=False).min()
    )
    assert_allclose(by_sknorm.mean(0), 0, atol=1e-5)
    assert_allclose(by_sknorm.std(0, unbiased=False), 1, atol=5e-3)  # eps=1e-3
