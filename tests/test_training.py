import numpy as np
import pytest
import scipy.sparse as sp
import torch
from skorch.dataset import Dataset
from torch.utils.data import Subset, TensorDataset

from sknorm._training import (
    ArrayDataset,
    SliceLoader,
    default_num_threads,
    fit_context,
)


def _dataset(n=10):
    X = torch.arange(n * 2, dtype=torch.float32).reshape(n, 2)
    return Dataset(X, torch.arange(n))


def test_slices_in_order_without_shuffle():
    loader = SliceLoader(_dataset(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 == len(batches)
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert torch.equal(batches[0][0], _dataset(10).X[:4])


def test_shuffle_covers_every_row_once_and_changes_per_epoch():
    loader = SliceLoader(_dataset(50), batch_size=8, shuffle=True)
    torch.manual_seed(0)
    first = torch.cat([y for _, y in loader])
    second = torch.cat([y for _, y in loader])
    assert sorted(first.tolist()) == list(range(50)) == sorted(second.tolist())
    assert not torch.equal(first, second)
    for X, y in loader:  # rows stay paired with their targets
        assert torch.equal(X[:, 0], 2 * y.float())


@pytest.mark.parametrize(
    "n, batch_size, sizes",
    [
        (9, 4, [4, 5]),
        (10, 4, [4, 4, 2]),
        (1, 4, [1]),
        (67, 64, [67]),
        (96, 64, [64, 32]),
    ],
)
def test_merge_small_last(n, batch_size, sizes):
    loader = SliceLoader(_dataset(n), batch_size=batch_size, merge_small_last=True)
    assert [len(y) for _, y in loader] == sizes
    assert len(loader) == len(sizes)


def test_subset_and_prediction_without_y():
    subset = Subset(_dataset(10), [1, 3, 5])
    assert [y.tolist() for _, y in SliceLoader(subset, batch_size=2)] == [[1, 3], [5]]
    X_only = Dataset(torch.zeros(5, 2), None)
    assert [yb for _, yb in SliceLoader(X_only, batch_size=2)] == [None, None, None]


def test_falls_back_to_dataloader_for_other_datasets():
    ds = TensorDataset(torch.zeros(6, 2), torch.arange(6))
    batches = list(SliceLoader(ds, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 2]


def test_default_num_threads_reads_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_num_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_num_threads() >= 1


def test_fit_context_restores_threads_and_rng():
    before_threads = torch.get_num_threads()
    before_rng = torch.get_rng_state()
    with fit_context(seed=123, n_threads=1):
        assert torch.get_num_threads() == 1
        a = torch.rand(3)
    with fit_context(seed=123, n_threads=1):
        b = torch.rand(3)
    assert torch.equal(a, b)
    assert torch.get_num_threads() == before_threads
    assert torch.equal(torch.get_rng_state(), before_rng)
    with fit_context(seed=None, n_threads=None):
        assert np.isfinite(torch.rand(1).item())


def test_default_num_threads_by_work(monkeypatch):
    import os

    from sknorm._training import PARALLEL_WORK

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert default_num_threads(work=128 * 128) == 1
    assert default_num_threads(work=PARALLEL_WORK) == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert default_num_threads(work=10) == 2  # the environment wins


def test_nets_switch_modes_only_when_needed():
    from sknorm._training import NetClassifier
    from sknorm.nn import MLP

    net = NetClassifier(
        MLP, module__n_features=3, module__n_outputs=2, module__dropout=0.5
    ).initialize()
    net._set_training(False)
    assert not any(m.training for m in net.module_.modules())
    net._set_training(True)
    assert all(m.training for m in net.module_.modules())
    calls = []
    net.module_.train = lambda mode=True: calls.append(mode)
    net._set_training(True)  # already training: no recursive call
    assert calls == []


def test_weighted_batches_pair_targets_with_their_weights():
    X = torch.arange(12, dtype=torch.float32).reshape(6, 2)
    data = ArrayDataset(X, torch.arange(6), torch.arange(6, dtype=torch.float32))
    torch.manual_seed(0)
    for Xb, (yb, wb) in SliceLoader(data, batch_size=4, shuffle=True):
        assert torch.equal(Xb[:, 0], 2 * yb.float())
        assert torch.equal(wb, yb.float())
    subset = Subset(data, [1, 4])
    [(Xb, (yb, wb))] = list(SliceLoader(subset, batch_size=4))
    assert yb.tolist() == [1, 4] == wb.tolist()


@pytest.mark.parametrize("indices", [None, [0, 2, 3, 5]])
def test_sparse_rows_are_densified_per_batch(indices):
    dense = np.eye(6, 3, dtype=np.float32)
    data = ArrayDataset(sp.csr_matrix(dense), torch.arange(6))
    rows = list(range(6)) if indices is None else indices
    dataset = data if indices is None else Subset(data, indices)
    batches = list(SliceLoader(dataset, batch_size=2))
    for Xb, _ in batches:
        assert Xb.layout == torch.strided and Xb.shape[0] <= 2
    stacked = torch.cat([Xb for Xb, _ in batches])
    assert torch.equal(stacked, torch.from_numpy(dense[rows]))


def test_loss_is_the_plain_or_the_weighted_mean_of_per_sample_losses():
    from sknorm._training import NetRegressor
    from sknorm.nn import MLP

    net = NetRegressor(MLP, module__n_features=1, module__n_outputs=1).initialize()
    y_pred, y_true = torch.zeros(3, 1), torch.tensor([[1.0], [2.0], [3.0]])
    assert net.get_loss(y_pred, y_true).item() == pytest.approx(14 / 3)
    weight = torch.tensor([2.0, 1.0, 0.0])
    loss = net.get_loss(y_pred, (y_true, weight))
    assert loss.item() == pytest.approx((2 * 1 + 4) / 3)
    assert net.criterion_.reduction == "mean"  # for the next unweighted batch
