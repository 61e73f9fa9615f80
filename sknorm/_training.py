"""Training-loop plumbing shared by the estimators: batching, weights, threads,
seeds, divergence.

Torch, skorch (and the scikit-learn splitters skorch's own validation split
uses) and scipy's sparse matrices only. skorch drives the loop; this
module gives it the data as one in-memory dataset (``ArrayDataset``: dense
tensors, or a sparse matrix densified a batch at a time, and optional
per-sample weights), an iterator that slices it (no per-sample
``Dataset.__getitem__``, no ``DataLoader`` collation), nets whose loss weighs
each sample, a callback that stops on a non-finite loss, early stopping's
validation split (one that tiny data cannot break), and the context in which a
fit runs (torch threads, private RNG).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from collections.abc import Iterator

import scipy.sparse as sp
import torch
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import Callback, EarlyStopping, EpochScoring
from skorch.utils import to_numpy
from torch.utils.data import DataLoader, Dataset, Subset

from .exceptions import TrainingDivergedError

__all__ = [
    "PARALLEL_WORK",
    "ArrayDataset",
    "NetClassifier",
    "NetRegressor",
    "SliceLoader",
    "StopOnNonFiniteLoss",
    "ValidationEarlyStopping",
    "ValidationSplit",
    "available_cores",
    "batch_targets",
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


#: Fewest rows a validation split leaves for training (a batch norm's batch).
MIN_TRAINING_ROWS = 2


class ValidationSplit:
    """skorch ``train_split``: hold out ``fraction`` of the rows for validation.

    On data that allows it, the split of skorch's
    ``ValidSplit(fraction, stratified, random_state)`` (the same rows): a
    ``StratifiedShuffleSplit`` for the classifier, a ``ShuffleSplit``
    otherwise. Where a stratified split is impossible (a class with one row,
    fewer held-out or training rows than classes) the split is a plain
    ``ShuffleSplit``; where even that would leave fewer than
    ``MIN_TRAINING_ROWS`` rows to train on, there is no split: the call
    returns ``(dataset, None)`` and the epoch has no validation loss
    (``ValidationEarlyStopping`` then does nothing).
    """

    def __init__(self, fraction: float, *, stratified: bool, random_state: int):
        self.fraction = fraction
        self.stratified = stratified
        self.random_state = random_state

    def splitter(self, y, n_rows: int):
        """The scikit-learn splitter for these targets, or None: too few rows."""
        n_valid = math.ceil(self.fraction * n_rows)
        n_train = n_rows - n_valid
        if n_train < MIN_TRAINING_ROWS or n_valid < 1:
            return None
        if self.stratified and y is not None:
            counts = torch.unique(torch.as_tensor(y), return_counts=True)[1]
            if counts.min() >= 2 and min(n_valid, n_train) >= len(counts):
                return StratifiedShuffleSplit(
                    test_size=self.fraction, random_state=self.random_state
                )
        return ShuffleSplit(test_size=self.fraction, random_state=self.random_state)

    def __call__(self, dataset, y=None, groups=None):
        n_rows = len(dataset)
        splitter = self.splitter(y, n_rows)
        if splitter is None:
            return dataset, None
        args = [torch.arange(n_rows).numpy()]
        if isinstance(splitter, StratifiedShuffleSplit):
            args.append(to_numpy(torch.as_tensor(y)))
        train, valid = next(iter(splitter.split(*args)))
        return Subset(dataset, train), Subset(dataset, valid)


class ValidationEarlyStopping(EarlyStopping):
    """skorch's :class:`~skorch.callbacks.EarlyStopping`, idle in the epochs
    that have no validation score (``ValidationSplit`` found too few rows)."""

    def on_epoch_end(self, net, **kwargs):
        if self.monitor in net.history[-1]:
            super().on_epoch_end(net, **kwargs)


class ArrayDataset(Dataset):
    """Training data held in memory: features, targets and per-sample weights.

    What the estimators hand skorch (``net.fit(ArrayDataset(...), y)``, the
    ``y`` only for a stratified validation split). :class:`SliceLoader` reads
    its arrays directly and batches them by slicing.

    Parameters
    ----------
    X : torch.Tensor or scipy.sparse.csr_matrix of shape (n_samples, n_features)
        A dense tensor (on the training device), or a CSR matrix of float32
        kept on the CPU whose rows are densified one batch at a time, so that
        memory stays proportional to the stored values.
    y : torch.Tensor of shape (n_samples, ...) or None, default=None
        Targets, on the training device.
    sample_weight : torch.Tensor of shape (n_samples,) or None, default=None
        Per-sample weights, on the training device. With weights, a batch's
        target is the pair ``(y, sample_weight)``, which the nets'
        ``get_loss`` unpacks.
    device : str or torch.device, default="cpu"
        Where the densified rows of a sparse ``X`` go.
    """

    def __init__(self, X, y=None, sample_weight=None, device="cpu") -> None:
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.device = device

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, i):
        return _batch(self.X, self.y, self.sample_weight, [i], self.device)


def _take(data, rows, device="cpu"):
    """Rows of a tensor or a sparse matrix (``rows`` a slice or an index tensor),
    dense, as a tensor; ``None`` stays ``None``."""
    if data is None:
        return None
    if isinstance(data, torch.Tensor):
        if isinstance(rows, slice):
            return data[rows]
        return data.index_select(0, rows.to(data.device))
    if not isinstance(rows, slice):
        rows = rows.cpu().numpy()
    dense = data[rows].toarray()
    return torch.from_numpy(dense).to(device)


def _batch(X, y, sample_weight, rows, device="cpu"):
    """One batch ``(X, y)``, or ``(X, (y, sample_weight))`` with weights."""
    if not isinstance(rows, slice):
        rows = torch.as_tensor(rows, dtype=torch.long)
    Xb, yb = _take(X, rows, device), _take(y, rows)
    if sample_weight is None or yb is None:
        return Xb, yb
    return Xb, (yb, _take(sample_weight, rows))


def _arrays_of(dataset) -> tuple | None:
    """``(X, y, sample_weight, device)`` behind an :class:`ArrayDataset`, a skorch
    ``Dataset`` of tensors, or a ``Subset`` of either.

    ``None`` when the dataset is not backed by in-memory arrays.
    """
    indices = None
    if isinstance(dataset, Subset):
        indices = torch.as_tensor(dataset.indices, dtype=torch.long)
        dataset = dataset.dataset
    X = getattr(dataset, "X", None)
    y = getattr(dataset, "y", None)
    weight = getattr(dataset, "sample_weight", None)
    device = getattr(dataset, "device", "cpu")
    dense = isinstance(X, torch.Tensor)
    if not (dense or (isinstance(dataset, ArrayDataset) and sp.issparse(X))):
        return None
    if not all(a is None or isinstance(a, torch.Tensor) for a in (y, weight)):
        return None
    if indices is not None:
        if dense:
            X = X.index_select(0, indices.to(X.device))
        else:  # the subset's rows, still sparse
            X = X[indices.numpy()]
        y = None if y is None else y.index_select(0, indices.to(y.device))
        if weight is not None:
            weight = weight.index_select(0, indices.to(weight.device))
    return X, y, weight, device


class SliceLoader:
    """Mini-batches of an in-memory dataset by slicing, for skorch's loop.

    skorch calls ``SliceLoader(dataset, batch_size=..., **iterator_kwargs)`` once
    per fit (and once per prediction); each iteration over it is one epoch. The
    arrays are taken from the dataset once, so no data is converted or copied
    per epoch or per batch beyond the batch itself; the rows of a sparse ``X``
    are densified a batch at a time.

    Parameters
    ----------
    dataset : ArrayDataset, skorch.dataset.Dataset or torch.utils.data.Subset
        Holds ``X`` and ``y`` (and weights) as tensors, or ``X`` as a sparse
        matrix (what the sknorm estimators pass). Any other dataset falls back
        to a plain :class:`torch.utils.data.DataLoader`.
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
        self._arrays = _arrays_of(dataset)

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
        if self._arrays is None:
            yield from DataLoader(
                self.dataset, batch_size=self.batch_size, shuffle=self.shuffle
            )
            return
        X, y, weight, device = self._arrays
        n = X.shape[0]
        if self.shuffle:
            perm_device = X.device if isinstance(X, torch.Tensor) else "cpu"
            perm = torch.randperm(n, device=perm_device)
            for start, stop in self._bounds(n):
                yield _batch(X, y, weight, perm[start:stop], device)
        else:
            for start, stop in self._bounds(n):
                yield _batch(X, y, weight, slice(start, stop), device)


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
    return available_cores()


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


class _SigintNoted:
    """Notes a Ctrl-C (SIGINT) that arrives while it is active, then lets the
    previous handler act as usual (Python's raises ``KeyboardInterrupt``).
    Signals reach only the main thread, so elsewhere it notes nothing."""

    def __init__(self) -> None:
        self.fired = False
        self._previous = None

    def _handle(self, signum, frame):
        self.fired = True
        if callable(self._previous):
            return self._previous(signum, frame)
        raise KeyboardInterrupt

    def __enter__(self):
        # A process that ignores SIGINT (a shell's background job, nohup)
        # keeps ignoring it during a fit.
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _InterruptibleMixin:
    """Ctrl-C stops the fit and reaches the caller, as in every scikit-learn
    estimator. skorch's ``partial_fit`` catches ``KeyboardInterrupt`` and
    returns as if the fit had finished, because its ``EarlyStopping`` raises
    one to end training; a user's Ctrl-C was swallowed with it, so a search
    could not be stopped and scored a truncated model. A real SIGINT is told
    apart from EarlyStopping's by its signal, and raised again once skorch's
    own ``on_train_end`` has run."""

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        with _SigintNoted() as sigint:
            super().partial_fit(X, y, classes, **fit_params)
        if sigint.fired:
            raise KeyboardInterrupt
        return self


class _KeepModeMixin:
    """skorch puts the module in train (or eval) mode before every batch; a
    recursive ``module.train()`` costs about 66 us a batch on a 2-hidden-layer
    MLP. Skip it when every module is already in the requested mode."""

    def _set_training(self, training=True):
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and module.training != training:
                module.train(training)


class _WeightedLossMixin:
    """Weigh each sample's loss when a batch's target is ``(y, sample_weight)``.

    Unweighted batches take skorch's path unchanged (the criterion's own mean),
    so weights cost nothing when there are none. For a weighted batch the
    criterion returns per-sample losses (its ``reduction`` is "none" for that
    call) and the loss is the mean of weight x loss. The estimators scale the
    weights to a mean of 1 over the data, so a batch's loss estimates the
    weighted mean loss of the data, ``sum(w * l) / sum(w)``, without bias, and
    weights of 2 take the same step sizes as duplicated rows would (exactly so
    when one batch holds all the data).
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not isinstance(y_true, (tuple, list)):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        y_true, weight = y_true
        criterion = self.criterion_
        reduction, criterion.reduction = criterion.reduction, "none"
        try:
            loss = super().get_loss(y_pred, y_true, X=X, training=training)
        finally:
            criterion.reduction = reduction
        return (loss * weight.reshape(-1, *([1] * (loss.ndim - 1)))).mean()


def batch_targets(y):
    """A batch's targets without its weights, as numpy: the ``target_extractor``
    of an :class:`~skorch.callbacks.EpochScoring` on weighted data."""
    if isinstance(y, (tuple, list)):
        y = y[0]
    return to_numpy(y)


class NetClassifier(
    _InterruptibleMixin, _KeepModeMixin, _WeightedLossMixin, NeuralNetClassifier
):
    """skorch's ``NeuralNetClassifier`` without the per-batch mode switch, with
    per-sample weights."""

    @property
    def _default_callbacks(self):
        # skorch's valid_acc reads the cached batch targets: drop the weights
        callbacks = super()._default_callbacks
        for _, callback in callbacks:
            if isinstance(callback, EpochScoring):
                callback.target_extractor = batch_targets
        return callbacks


class NetRegressor(
    _InterruptibleMixin, _KeepModeMixin, _WeightedLossMixin, NeuralNetRegressor
):
    """skorch's ``NeuralNetRegressor`` without the per-batch mode switch, with
    per-sample weights."""


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
