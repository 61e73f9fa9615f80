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
losses agree to 5e-3 (measured: up to 1.4e-3 after 3 epochs). The periodic
input embedding under a batch-statistics norm is chaotic the same way
(``RTOL_PERIODIC_BATCH``).
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.utils import check_random_state

from sknorm import NORMS, NormMLPClassifier, NormMLPRegressor, make_norm_pipeline
from sknorm._packed import (
    WHOLE_GROUP_SLACK,
    PackedMLP,
    _deal,
    _is_weight,
    _PackedNorm,
    seeded_member,
    train_packed,
    work_per_row,
)
from sknorm.nn import MLP

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SETTINGS = {
    "hidden_layer_sizes": (16, 16),
    "max_epochs": 3,
    "early_stopping": False,
    "batch_size": 32,
    "random_state": 0,
    "n_threads": 1,
    "norm_params": {"groups": 4, "virtual_batch_size": 8, "warmup_steps": 5},
}
#: Relative tolerance per norm (see the module docstring for why).
RTOL = {norm: 1e-5 for norm in NORMS} | {"batch_renorm": 5e-3}
#: The periodic embedding under a norm with batch statistics: as chaotic as
#: batch renorm (module docstring). The batch norm after the first linear layer
#: takes out whatever moves every row alike, so the embedding's parameters get
#: an exactly zero gradient along those directions; their float gradients are
#: rounding noise there, which Adam rescales to lr-sized steps that the ReLU
#: then turns into real changes. Gradients after one step agree to 7e-7
#: relative (measured); losses over 3 epochs to 8.6e-3 with autograd's
#: embedding, 2.6e-2 (ghost batch norm, regression) with the packed
#: embedding's own backward, which rounds in another order (its formulas are
#: checked exactly, in float64, below).
RTOL_PERIODIC_BATCH = 5e-2
BATCH_STATISTICS = ("batch", "ghost", "batch_renorm")
#: Extra settings per member: dropout, norm after the activation, lr, decay.
VARIANTS = {
    "plain": {},
    "dropout": {"dropout": 0.2},
    "after": {"norm_position": "after", "weight_decay": 1e-3, "lr": 2e-3},
    # The learned input normalizations (the sweep's "learned_scale" and "plr").
    "scale": {"input_embedding": "scale"},
    "periodic": {
        "input_embedding": "periodic",
        "embedding_params": {"d_embedding": 4, "n_frequencies": 6},
    },
    "periodic_lite": {
        "input_embedding": "periodic",
        "embedding_params": {"d_embedding": 4, "n_frequencies": 6, "lite": True},
    },
}


def _member(estimator, X, y):
    """What a search hands the engine for one fitted-scaler fold."""
    X, y_tensor = estimator._validate_targets(X, y, reset=True)
    seed = check_random_state(estimator.random_state).randint(np.iinfo(np.int32).max)
    params = estimator._module_params(X.shape[1], estimator._n_net_outputs())
    module, generator = seeded_member(params, int(seed))
    return module, generator, (torch.tensor(X, dtype=torch.float32), y_tensor)


def _packed_and_individual(estimator_class, X, y, task, device="cpu"):
    """One packed run of every norm x variant (on ``device``), and each one's
    own fit (on the CPU)."""
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
        device=device,
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
    assert_allclose(run.train_loss[i], individual[i], rtol=_rtol(norm, variant))


def _rtol(norm: str, variant: int, gpu: float | None = None) -> float:
    """The tolerance of a member's losses against its own fit (module
    docstring); ``gpu``: the plain members' tolerance on a GPU instead."""
    if "periodic" in list(VARIANTS)[variant] and norm in BATCH_STATISTICS:
        return RTOL_PERIODIC_BATCH
    return RTOL[norm] if gpu is None else max(RTOL[norm], gpu)


#: A GPU's kernels sum in other orders than the CPU's: a member trained on the
#: GPU matches its fit on the CPU to 3.4e-6 relative over 3 epochs (measured
#: on an H200, every norm x variant but the chaotic ones above, which stay
#: within their own tolerances: 1.7e-3 at most); over a longer run with early
#: stopping (``RTOL_GPU_RUN``; measured: validation losses to 2.5e-7 after up
#: to 26 epochs) the gap can grow with the epochs.
RTOL_GPU = 1e-4
RTOL_GPU_RUN = 1e-3


@CUDA
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_member_trained_on_a_gpu_matches_its_fit_on_the_cpu(task, cancer, diabetes):
    # the shuffles and dropout masks come from each member's CPU generator,
    # so the GPU run is its CPU fit's, up to rounding; every norm x variant
    X, y = cancer if task == "classification" else diabetes
    cls = NormMLPClassifier if task == "classification" else NormMLPRegressor
    run, individual = _packed_and_individual(cls, X[:150], y[:150], task, "cuda")
    for norm in NORMS:
        for variant in range(len(VARIANTS)):
            i = NORMS.index(norm) * len(VARIANTS) + variant
            assert run.errors[i] is None
            rtol = _rtol(norm, variant, gpu=RTOL_GPU)
            assert_allclose(run.train_loss[i], individual[i], rtol=rtol)
    assert all(t.device.type == "cpu" for s in run.states for t in s.values())


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


@pytest.mark.parametrize("norm", ["ghost", "batch_renorm"])
@pytest.mark.parametrize("rows", [32, 30, 31])
def test_full_batches_of_ghost_and_renorm_match_each_member(norm, rows, monkeypatch):
    """With every member's batch full, ghost batch norm and batch renorm take
    torch's batch-norm kernel (ghost's 32 and 30 rows: 4 and 3 equal virtual
    batches of 8 and 10); ghost's 31 rows (3 unequal ones) the one-hot path.
    Outputs, input gradients and running statistics match each member's own
    layer over three steps (renorm's limits move: warm-up of 2 steps)."""
    options = {"virtual_batch_size": 8, "warmup_steps": 2, "rmax": 1.5, "dmax": 0.5}
    members = [MLP(5, 3, (8, 8), norm=norm, norm_params=options) for _ in range(3)]
    packed = PackedMLP(members).train()
    calls = []
    full = _PackedNorm._full_batch_forward
    monkeypatch.setattr(
        _PackedNorm,
        "_full_batch_forward",
        lambda self, h, chunks: calls.append(chunks) or full(self, h, chunks),
    )
    for _ in range(3):
        X = torch.randn(len(members), rows, 5, requires_grad=True)
        out = packed(X)
        out.pow(2).sum().backward()
        for j, i in enumerate(packed.order):
            x = X[j].detach().requires_grad_()
            expected = members[i].train()(x)
            expected.pow(2).sum().backward()
            assert_allclose(out[j].detach(), expected.detach(), atol=1e-5)
            assert_allclose(X.grad[j], x.grad, atol=1e-4)
    states = packed.member_state_dicts()
    for j, i in enumerate(packed.order):
        for name, value in members[i].state_dict().items():
            if "running" in name or "tracked" in name:
                assert_allclose(states[j][name], value, rtol=1e-5, atol=1e-7)
    unequal = norm == "ghost" and rows == 31  # renorm: always one batch
    assert len(calls) == (0 if unequal else 6)  # 2 norms x 3 steps


@pytest.mark.parametrize("lite", [False, True])
def test_packed_periodic_embedding_matches_each_member_with_its_gradients(lite):
    # rtdl_num_embeddings' PeriodicEmbeddings (autograd) in each member against
    # the packed embedding (its own backward when not lite), in float64
    params = {"d_embedding": 3, "n_frequencies": 5, "lite": lite}
    members = [
        MLP(
            4,
            2,
            (6,),
            norm="layer",
            input_embedding="periodic",
            embedding_params=params,
        ).double()
        for _ in range(3)
    ]
    packed = PackedMLP(members).double()
    X = torch.randn(3, 7, 4, dtype=torch.float64)
    out = packed(X)
    grad = torch.randn_like(out)
    out.backward(grad)
    stacked = {name: t for name, t, _, _ in packed.stacked()}
    for j, i in enumerate(packed.order):
        expected = members[i](X[j])
        expected.backward(grad[j])
        assert_allclose(out[j].detach(), expected.detach(), rtol=1e-12, atol=1e-12)
        for name, p in members[i].named_parameters():
            got = stacked[name].grad[j]
            if _is_weight(name):
                got = got.t()  # stacked as (in, out)
            got = got.reshape(p.shape)  # biases and norm weights as (1, out)
            assert_allclose(got, p.grad, rtol=1e-10, atol=1e-12, err_msg=name)


def test_workers_get_equal_work_not_equal_members():
    # a PLR member does about 20 times a plain member's multiply-adds
    plain = [MLP(30, 2, (64, 64), norm="none") for _ in range(30)]
    plr = [MLP(30, 2, (64, 64), input_embedding="periodic") for _ in range(5)]
    modules = plain + plr
    shares = _deal(modules, 2)
    assert sorted(i for share in shares for i in share) == list(range(35))
    work = [sum(work_per_row(modules[i]) for i in share) for share in shares]
    assert max(work) < 1.1 * min(work)
    assert sorted(len(share) for share in shares) == [3, 32]
    # never an empty worker, however lopsided the work
    assert [len(s) for s in _deal(plr[:1] + plain[:2], 3)] == [1, 1, 1]


def test_norm_groups_go_to_one_worker_whole_when_the_work_allows():
    # none, batch and layer groups of 15: whole groups (none + layer against
    # batch) are 6% apart by work_per_row, so no group is split; a single group is
    # cut in two
    def group(norm, n):
        return [MLP(30, 2, (64, 64), norm=norm) for _ in range(n)]

    modules = group("none", 15) + group("batch", 15) + group("layer", 15)
    shares = _deal(modules, 2)
    norms = [{modules[i].hidden[0].norm.__class__.__name__ for i in s} for s in shares]
    assert sorted(len(n) for n in norms) == [1, 2]  # no group in both
    assert sorted(i for share in shares for i in share) == list(range(45))
    work = [sum(work_per_row(modules[i]) for i in share) for share in shares]
    assert max(work) <= (1 + WHOLE_GROUP_SLACK) * sum(work) / 2
    single = _deal(group("layer", 10), 2)
    assert [len(s) for s in single] == [5, 5]


def test_packed_member_state_round_trips_to_an_mlp():
    members = [MLP(4, 2, (8,), norm=n, norm_params={"groups": 2}) for n in NORMS]
    packed = PackedMLP(members)
    for j, i in enumerate(packed.order):
        state = packed.member_state_dict(j)
        assert state.keys() == members[i].state_dict().keys()
        MLP(4, 2, (8,), norm=NORMS[i], norm_params={"groups": 2}).load_state_dict(state)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_a_diverging_member_fails_alone(device):
    X, y = torch.randn(64, 3), torch.randn(64, 1)
    spec = {"n_features": 3, "n_outputs": 1, "hidden_layer_sizes": (8,), "norm": "none"}
    members = [seeded_member({**spec, "dropout": 0.1}, seed) for seed in range(3)]
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
        device=device,
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
        **{**SETTINGS, "max_epochs": 40, "early_stopping": True},
        norm="layer",
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


def _norm_members(norms, seed=0, features=4):
    spec = {"n_features": features, "n_outputs": 2, "hidden_layer_sizes": (8, 8)}
    return zip(*(seeded_member({**spec, "norm": n}, seed) for n in norms), strict=True)


def _run(norms, n_threads, **settings):
    """A run of members with ``norms`` on 60-85 rows: early stopping, held-out
    losses and outputs on 30 more; ``dropout=True``: 0.1 on every other
    member."""
    gen = torch.Generator().manual_seed(1)
    X, y = torch.randn(90, 4, generator=gen), torch.randint(0, 2, (90,), generator=gen)
    modules, generators = _norm_members(norms)
    if settings.pop("dropout", False):
        for module in modules[::2]:
            for block in module.hidden:
                block.dropout.p = 0.1
    sets = [(X[: 60 + 5 * i], y[: 60 + 5 * i]) for i in range(len(norms))]
    valid = [(X[60:], y[60:])] * len(norms)
    return train_packed(
        modules,
        generators,
        sets,
        task="classification",
        batch_size=16,
        lr=[1e-2] * len(norms),
        weight_decay=[0.0] * len(norms),
        valid_sets=valid,
        heldout_sets=valid,
        predict_sets=[(s[0].double(), s[1]) for s in valid],
        n_threads=n_threads,
        **{"max_epochs": 6, "patience": 2, **settings},
    )


def test_worker_threads_give_each_member_the_same_run():
    # Members are split among the workers by norm group; every op is per member, so
    # only rounding depends on the stack a member is in (torch's kernels
    # block a (k, ...) stack differently for different k): measured 2e-8
    # relative on the training losses. A batch norm before the activation
    # turns that rounding into its running mean (see the module docstring),
    # so its evaluation-mode losses get batch renorm's tolerance.
    norms = ["none", "batch", "layer", "batch", "rms", "none", "layer"]
    one, three = _run(norms, 1, patience=None), _run(norms, 3, patience=None)
    assert one.errors == three.errors == [None] * len(norms)
    for i, norm in enumerate(norms):
        rtol = RTOL["batch_renorm"] if norm == "batch" else 1e-6
        assert_allclose(one.train_loss[i], three.train_loss[i], rtol=1e-6)
        assert_allclose(one.valid_loss[i], three.valid_loss[i], rtol=rtol)
        assert_allclose(one.heldout_loss[i], three.heldout_loss[i], rtol=rtol)
        if norm != "batch":  # logits in eval mode: the running mean's noise
            assert_allclose(one.outputs[i], three.outputs[i], rtol=1e-5, atol=1e-6)
        assert one.states[i].keys() == three.states[i].keys()
    again = _run(norms, 3, patience=None)  # and the same workers, the same run
    assert again.train_loss == three.train_loss
    assert again.valid_loss == three.valid_loss


def test_progress_adds_up_to_one_fit_per_member():
    # early stopping (patience 1) ends some members before max_epochs: each
    # reports the rest of its share when it stops
    calls = []
    run = _run(["none", "batch", "layer"], 2, patience=1, progress=calls.append)
    assert min(len(losses) for losses in run.train_loss) < 6
    assert sum(calls) == pytest.approx(3)
    assert all(c > 0 for c in calls)


def test_predicted_outputs_are_each_members_own_predictions():
    run = _run(["none", "batch", "layer"], 1)
    gen = torch.Generator().manual_seed(1)
    Xv = torch.randn(90, 4, generator=gen)[60:].double()
    for i, norm in enumerate(["none", "batch", "layer"]):
        mlp = MLP(4, 2, (8, 8), norm=norm)
        mlp.load_state_dict(run.states[i])
        expected = mlp.double().eval()(Xv).detach().numpy()
        assert_allclose(run.outputs[i], expected, rtol=1e-12, atol=1e-12)


def test_an_error_in_one_worker_stops_the_others(monkeypatch):
    from sknorm import _packed

    calls = {"n": 0}
    original = _packed._Trainer._end_epoch

    def failing(self, epoch, *args):
        calls["n"] += 1
        if 0 in self.model.order and epoch == 2:  # the first worker's stack
            raise RuntimeError("boom")
        return original(self, epoch, *args)

    monkeypatch.setattr(_packed._Trainer, "_end_epoch", failing)
    with pytest.raises(RuntimeError, match="boom"):
        _run(["none", "batch", "layer", "none"], 2, max_epochs=200, patience=None)
    assert calls["n"] < 200  # the other worker stopped long before its end


def test_stopped_members_leave_the_stack_and_the_rest_go_on_unchanged(monkeypatch):
    # Once a quarter of a stack has stopped (early stopping here), it is
    # rebuilt with the live members only, each carrying its weights, Adam
    # state, step count, early-stopping state and curves. The same run with
    # the rebuild switched off: the same epochs and, to rounding, the same
    # losses, states and outputs (a layer norm and none: no running means).
    from sknorm import _packed

    norms = ["none", "layer", "none", "layer", "rms", "none"]
    settings = {"max_epochs": 30, "patience": 2}
    rebuilds = []
    compacted = _packed._Trainer.compacted

    def counting(self):
        rebuilds.append(self.alive.count(True))
        return compacted(self)

    monkeypatch.setattr(_packed._Trainer, "compacted", counting)
    packed = _run(norms, 1, **settings)
    monkeypatch.setattr(_packed._Trainer, "worth_compacting", lambda self: False)
    whole = _run(norms, 1, **settings)
    assert rebuilds, "no member stopped early: the test needs another setting"
    assert {len(losses) for losses in whole.train_loss} != {30}
    for i in range(len(norms)):
        assert len(packed.train_loss[i]) == len(whole.train_loss[i])
        assert_allclose(packed.train_loss[i], whole.train_loss[i], rtol=1e-6)
        assert_allclose(packed.valid_loss[i], whole.valid_loss[i], rtol=1e-6)
        for key, value in whole.states[i].items():
            assert_allclose(packed.states[i][key], value, rtol=1e-5, atol=1e-6)
        assert_allclose(packed.outputs[i], whole.outputs[i], rtol=1e-5, atol=1e-6)


@CUDA
def test_a_run_on_a_gpu_is_the_cpu_run_to_rounding():
    # every part of a run on the device: validation and early stopping, the
    # stack rebuilt without its stopped members, held-out losses, dropout,
    # the outputs; states and outputs come back on the CPU
    norms = ["none", "layer", "none", "layer", "rms", "none", "batch", "ghost"]
    settings = {"max_epochs": 30, "patience": 2}
    cpu = _run(norms, 1, dropout=True, **settings)
    gpu = _run(norms, 1, dropout=True, device="cuda", **settings)
    assert gpu.errors == [None] * len(norms)
    assert {len(losses) for losses in cpu.train_loss} != {30}  # some stopped
    for i, norm in enumerate(norms):
        assert isinstance(gpu.outputs[i], np.ndarray)
        assert all(t.device.type == "cpu" for t in gpu.states[i].values())
        if norm in BATCH_STATISTICS:
            # the bias before a batch norm takes rounding-noise steps (module
            # docstring) that its running mean then shows in evaluation mode,
            # where early stopping looks: the first epochs' training losses
            n = min(3, len(cpu.train_loss[i]))
            assert_allclose(gpu.train_loss[i][:n], cpu.train_loss[i][:n], rtol=5e-3)
            continue
        assert len(gpu.train_loss[i]) == len(cpu.train_loss[i])
        assert_allclose(gpu.train_loss[i], cpu.train_loss[i], rtol=RTOL_GPU_RUN)
        assert_allclose(gpu.valid_loss[i], cpu.valid_loss[i], rtol=RTOL_GPU_RUN)
        assert_allclose(gpu.heldout_loss[i], cpu.heldout_loss[i], rtol=RTOL_GPU_RUN)
        assert_allclose(gpu.outputs[i], cpu.outputs[i], rtol=RTOL_GPU_RUN, atol=1e-4)
        for key, value in cpu.states[i].items():
            assert_allclose(gpu.states[i][key], value, rtol=RTOL_GPU_RUN, atol=1e-4)
