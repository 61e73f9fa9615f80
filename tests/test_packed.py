"""The packed engine trains each member as its individual estimator fit would.

Tolerance: each member's per-epoch training loss matches skorch's
``history_[:, "train_loss"]`` of the same candidate's own ``fit`` (same fold,
same ``random_state``) to ``rtol=1e-5``. The two runs do the same float32
arithmetic in a different order (batched ``bmm`` against ``mm``, a masked sum
against torch's batch-norm kernel), which moves a loss by about 1e-7
relative; measured over 3 epochs the largest gap is 8e-8 for every norm but
batch renorm. Batch renorm (norm before the activation) is chaotic under that
rounding: the bias of the linear layer before it has an exactly zero gradient
in exact arithmetic, so its float gradient is rounding noise, which Adam
rescales to full ``lr``-sized steps in a random direction; that bias then
enters the loss through the running mean in renorm's ``d`` correction. Its
losses agree to 5e-3 (measured: up to 1.4e-3 after 3 epochs).
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.utils import check_random_state

from sknorm import NORMS, NormMLPClassifier, NormMLPRegressor, make_norm_pipeline
from sknorm._packed import PackedMLP, seeded_member, train_packed
from sknorm.nn import MLP

SETTINGS = {
    "hidden_layer_sizes": (16, 16),
    "max_epochs": 3,
    "batch_size": 32,
    "random_state": 0,
    "n_threads": 1,
    "norm_params": {"groups": 4, "virtual_batch_size": 8, "warmup_steps": 5},
}
#: Relative tolerance per norm (see the module docstring for why).
RTOL = {norm: 1e-5 for norm in NORMS} | {"batch_renorm": 5e-3}
#: Extra settings per member: dropout, norm after the activation, lr, decay.
VARIANTS = {
    "plain": {},
    "dropout": {"dropout": 0.2},
    "after": {"norm_position": "after", "weight_decay": 1e-3, "lr": 2e-3},
}


def _member(estimator, X, y):
    """What a search hands the engine for one fitted-scaler fold."""
    X, y_tensor = estimator._validate_targets(X, y, reset=True)
    seed = check_random_state(estimator.random_state).randint(np.iinfo(np.int32).max)
    params = estimator._module_params(X.shape[1], estimator._n_net_outputs())
    module, generator = seeded_member(params, int(seed))
    return module, generator, (torch.tensor(X, dtype=torch.float32), y_tensor)


def _packed_and_individual(estimator_class, X, y, task):
    """One packed run of every norm x variant, and each one's own fit."""
    candidates = [
        clone(estimator_class(**SETTINGS)).set_params(norm=norm, **extra)
        for norm in NORMS
        for extra in VARIANTS.values()
    ]
    individual, members = [], []
    for estimator in candidates:
        pipe = make_norm_pipeline(clone(estimator), "standard").fit(X, y)
        individual.append(pipe[-1].history_[:, "train_loss"])
        members.append(_member(clone(estimator), pipe[0].transform(X), y))
    modules, generators, sets = zip(*members, strict=True)
    run = train_packed(
        modules,
        generators,
        sets,
        task=task,
        max_epochs=SETTINGS["max_epochs"],
        batch_size=SETTINGS["batch_size"],
        lr=[e.lr for e in candidates],
        weight_decay=[e.weight_decay for e in candidates],
        n_threads=1,
    )
    return run, individual


@pytest.fixture(scope="module")
def classification_runs(cancer):
    X, y = cancer
    return _packed_and_individual(NormMLPClassifier, X[:150], y[:150], "classification")


@pytest.fixture(scope="module")
def regression_runs(diabetes):
    X, y = diabetes
    return _packed_and_individual(NormMLPRegressor, X[:150], y[:150], "regression")


@pytest.mark.parametrize("variant", range(len(VARIANTS)), ids=list(VARIANTS))
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_packed_member_matches_its_individual_fit(
    task, norm, variant, classification_runs, regression_runs
):
    run, individual = (
        classification_runs if task == "classification" else regression_runs
    )
    i = NORMS.index(norm) * len(VARIANTS) + variant
    assert run.errors[i] is None
    assert_allclose(run.train_loss[i], individual[i], rtol=RTOL[norm])


def test_packed_forward_matches_each_member_for_every_norm():
    members = [MLP(5, 3, (8, 8), norm=n, norm_params={"groups": 2}) for n in NORMS]
    packed = PackedMLP(members)
    X = torch.randn(len(members), 11, 5)
    for train in (True, False):
        packed.train(train)
        out = packed(X)
        for j, i in enumerate(packed.order):
            expected = members[i].train(train)(X[j])
            assert_allclose(out[j].detach(), expected.detach(), atol=1e-6)


def test_packed_member_state_round_trips_to_an_mlp():
    members = [MLP(4, 2, (8,), norm=n, norm_params={"groups": 2}) for n in NORMS]
    packed = PackedMLP(members)
    for j, i in enumerate(packed.order):
        state = packed.member_state_dict(j)
        assert state.keys() == members[i].state_dict().keys()
        MLP(4, 2, (8,), norm=NORMS[i], norm_params={"groups": 2}).load_state_dict(state)


def test_a_diverging_member_fails_alone():
    X, y = torch.randn(64, 3), torch.randn(64, 1)
    spec = {"n_features": 3, "n_outputs": 1, "hidden_layer_sizes": (8,), "norm": "none"}
    members = [seeded_member(spec, seed) for seed in range(3)]
    modules, generators = zip(*members, strict=True)
    run = train_packed(
        modules,
        generators,
        [(X * 1e30, y), (X, y), (X, y)],
        task="regression",
        max_epochs=3,
        batch_size=16,
        lr=[1e-3] * 3,
        weight_decay=[0.0] * 3,
    )
    assert "diverged" in run.errors[0]
    assert run.errors[1:] == [None, None]
    assert [len(losses) for losses in run.train_loss[1:]] == [3, 3]


def test_early_stopping_member_matches_its_individual_fit(iris):
    # Layer norm: with a batch norm, the bias before it has rounding-noise
    # gradients (see the module docstring) that batch norm hides in training
    # mode but not in its running mean, so the evaluation-mode losses that
    # early stopping reads would differ by about 1e-3.
    X, y = iris
    estimator = NormMLPClassifier(
        **{**SETTINGS, "max_epochs": 40},
        norm="layer",
        early_stopping=True,
        n_iter_no_change=2,
        lr=0.05,
    )
    fitted = clone(estimator).fit(X, y)
    from sknorm._search import _Member, _prepare_fold, _seed, _split_for_early_stopping

    fold = _prepare_fold(None, estimator, X, y, np.arange(len(y)), np.arange(5))
    member = _Member(0, {}, 0, clone(estimator), fold, _seed(estimator))
    _split_for_early_stopping(member, {})
    module, generator = seeded_member(estimator._module_params(4, 3), member.seed)
    run = train_packed(
        [module],
        [generator],
        [member.train],
        task="classification",
        max_epochs=40,
        batch_size=32,
        lr=[0.05],
        weight_decay=[0.0],
        valid_sets=[member.valid],
        patience=2,
        tol=estimator.tol,
    )
    assert len(run.train_loss[0]) == fitted.n_iter_ < 40
    # lr=0.05 (to stop early within a few epochs) amplifies the rounding gap
    assert_allclose(run.valid_loss[0], fitted.history_[:, "valid_loss"], rtol=1e-4)
