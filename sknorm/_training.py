"""Training-loop plumbing shared by the estimators: batching, threads, seeds,
divergence.

Torch and skorch only. skorch drives the loop; this module gives it an iterator
that slices in-memory tensors (no per-sample ``Dataset.__getitem__``, no
``DataLoader`` collation), a callback that stops on a non-finite loss, and the
context in which a fit runs (torch threads, private RNG).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator

import torch
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import Callback
from torch.utils.data import DataLoader, Subset

from .exceptions import TrainingDivergedError

__all__ = [
    "PARALLEL_WORK",
    "NetClassifier",
    "NetRegressor",
    "SliceLoader",
    "StopOnNonFiniteLoss",
    "default_num_threads",
    "fit_context",
]


class StopOnNonFiniteLoss(Callback):
    """Stop a fit at the first NaN or infinite batch loss, naming epoch and loss.

    Without it a diverged network trains on with NaN weights and predicts one
    class (or NaN) silently.
    """

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        value = float(loss.item()) if loss is not None else 0.0
        if not math.isfinite(value):
            epoch = len(net.history)
            batch_no = len(net.history[-1]["batches"]) if len(net.history) else 0
            phase = "training" if training else "validation"
            raise TrainingDivergedError(
                f"Training diverged: the {phase} loss is {value} at epoch {epoch}, "
                f"batch {batch_no}. Scale the inputs (e.g. InputScaler('standard')) "
                "or lower the learning rate `lr`."
            )


def _tensors_of(dataset) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """Return ``(X, y)`` tensors behind a skorch ``Dataset`` or a ``Subset`` of one.

    ``None`` when the dataset is not backed by in-memory tensors.
    """
    indices = None
    if isinstance(dataset, Subset):
        indices = torch.as_tensor(dataset.indices, dtype=torch.long)
        dataset = dataset.dataset
    X = getattr(dataset, "X", None)
    y = getattr(dataset, "y", None)
    if not isinstance(X, torch.Tensor) or not (
        y is None or isinstance(y, torch.Tensor)
    ):
        return None
    if indices is not None:
        indices = indices.to(X.device)
        X = X.index_select(0, indices)
        y = None if y is None else y.index_select(0, indices)
    return X, y


class SliceLoader:
    """Mini-batches of a tensor-backed dataset by slicing, for skorch's loop.

    skorch calls ``SliceLoader(dataset, batch_size=..., **iterator_kwargs)`` once
    per fit (and once per prediction); each iteration over it is one epoch. The
    tensors are taken from the dataset once, so no data is converted or copied
    per epoch or per batch beyond the batch itself.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset or torch.utils.data.Subset
        Holds ``X`` and ``y`` as tensors (what the sknorm estimators pass). Any
        other dataset falls back to a plain :class:`torch.utils.data.DataLoader`.
    batch_size : int, default=128
        Rows per mini-batch.
    shuffle : bool, default=False
        Draw a new permutation (from torch's RNG) every epoch.
    merge_small_last : bool, default=False
        Fold a last batch of fewer than ``batch_size // 2`` rows (or of one row)
        into the batch before it. Batch norm never sees a training batch of one
        (skorch issue #477), and no ragged handful of rows sets the batch
        statistics and the running averages (a last batch of 3 rows in batches
        of 64 cost a 4-layer batch-norm net 2 points of accuracy on digits).
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 128,
        shuffle: bool = False,
        merge_small_last: bool = False,
    ) -> None:
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.merge_small_last = merge_small_last
        self._tensors = _tensors_of(dataset)

    def _bounds(self, n: int) -> list[tuple[int, int]]:
        starts = list(range(0, n, self.batch_size))
        bounds = [(s, min(s + self.batch_size, n)) for s in starts]
        last = bounds[-1][1] - bounds[-1][0] if bounds else 0
        if (
            self.merge_small_last
            and len(bounds) > 1
            and (last == 1 or last < self.batch_size // 2)
        ):
            bounds[-2:] = [(bounds[-2][0], n)]
        return bounds

    def __len__(self) -> int:
        return len(self._bounds(len(self.dataset)))

    def __iter__(self) -> Iterator:
        if self._tensors is None:
            yield from DataLoader(
                self.dataset, batch_size=self.batch_size, shuffle=self.shuffle
            )
            return
        X, y = self._tensors
        n = X.shape[0]
        if self.shuffle:
            perm = torch.randperm(n, device=X.device)
            for start, stop in self._bounds(n):
                idx = perm[start:stop]
                yield (
                    X.index_select(0, idx),
                    None if y is None else y.index_select(0, idx),
                )
        else:
            for start, stop in self._bounds(n):
                yield X[start:stop], None if y is None else y[start:stop]


#: Rows per batch x widest layer below which a fit uses one torch thread: on such
#: small matrix products waking more threads costs what they save (on 2 cores:
#: 128 x 128 ran 0.19 s/epoch on 1 thread and 0.20 s on 2; 256 x 256 ran 0.28 s
#: and 0.24 s), and on a busy machine extra threads wait on each other.
PARALLEL_WORK = 256 * 256


def default_num_threads(work: int | None = None) -> int:
    """Torch threads a fit uses when the user does not say (``n_threads=None``).

    1. ``OMP_NUM_THREADS`` when it is set: joblib's process workers (what
       ``GridSearchCV(n_jobs=k)`` uses) set it to ``cores // k`` and Dask
       workers to 1, so parallel fits never oversubscribe the cores.
    2. Otherwise one thread when ``work`` (rows per batch x widest layer) is
       below ``PARALLEL_WORK``, where more threads do not pay.
    3. Otherwise every core this process may run on.
    """
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    if work is not None and work < PARALLEL_WORK:
        return 1
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


class _KeepModeMixin:
    """skorch puts the module in train (or eval) mode before every batch; a
    recursive ``module.train()`` costs about 66 us a batch on a 2-hidden-layer
    MLP. Skip it when every module is already in the requested mode."""

    def _set_training(self, training=True):
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and module.training != training:
                module.train(training)


class NetClassifier(_KeepModeMixin, NeuralNetClassifier):
    """skorch's ``NeuralNetClassifier`` without the per-batch mode switch."""


class NetRegressor(_KeepModeMixin, NeuralNetRegressor):
    """skorch's ``NeuralNetRegressor`` without the per-batch mode switch."""


@contextlib.contextmanager
def fit_context(
    seed: int | None,
    n_threads: int | None,
    device: str = "cpu",
    work: int | None = None,
):
    """Run a fit with ``n_threads`` torch threads and, if ``seed`` is given, a
    private copy of torch's RNG seeded with it.

    The global thread count and RNG state are restored on exit, so a seeded fit
    neither depends on nor changes the caller's random state.
    """
    previous_threads = torch.get_num_threads()
    threads = n_threads if n_threads is not None else default_num_threads(work)
    if threads != previous_threads:
        torch.set_num_threads(threads)
    try:
        if seed is None:
            yield
            return
        devices = [] if str(device).startswith("cpu") else None
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield
    finally:
        if torch.get_num_threads() != previous_threads:
            torch.set_num_threads(previous_threads)
