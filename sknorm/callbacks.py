"""skorch callbacks that look inside the training of an sknorm MLP.

Sits beside the estimators: torch, skorch and scikit-learn's utilities only.
Pass a callback to an estimator with ``callbacks=[ActivationStats()]``; the
estimator clones it at every fit, and what it measures lands in the skorch
history (``est.history_``), one entry per epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import check_random_state
from skorch.callbacks import Callback, PrintLog
from torch import nn

__all__ = ["STAT_NAMES", "ActivationStats", "activation_stats"]

#: The statistics recorded for each hidden layer, besides ``"layer"``.
STAT_NAMES = ("pre_mean", "pre_std", "post_mean", "post_std")

_MODES = ("train", "eval")
#: Entries skorch writes into each epoch of the history.
_HISTORY_KEYS = frozenset({"epoch", "dur", "batches", "event_lr"})


def _hidden_blocks(module: nn.Module, layers) -> list[tuple[int, nn.Module]]:
    """``(index, block)`` of the hidden blocks to watch, checked."""
    hidden = getattr(module, "hidden", None)
    blocks = list(hidden.children()) if isinstance(hidden, nn.Module) else []
    if not blocks or not all(
        isinstance(getattr(b, "linear", None), nn.Module) for b in blocks
    ):
        raise TypeError(
            "activation statistics need a module with a `hidden` sequence of blocks "
            "that each have a `linear` (and a `norm`) child, like sknorm.nn.MLP; "
            f"got {type(module).__name__} without one."
        )
    if layers is None:
        return list(enumerate(blocks))
    indices = [layers] if isinstance(layers, Integral) else list(layers)
    bad = [i for i in indices if not (isinstance(i, Integral) and 0 <= i < len(blocks))]
    if bad or not indices:
        raise ValueError(
            f"layers must be None or indices of hidden layers in [0, {len(blocks)}), "
            f"got {layers!r}."
        )
    return [(int(i), blocks[i]) for i in sorted(set(indices))]


def activation_stats(
    module: nn.Module,
    X: torch.Tensor,
    *,
    mode: str = "train",
    layers: int | Sequence[int] | None = None,
) -> list[dict]:
    """Statistics of each hidden block's pre-norm and post-norm outputs on ``X``.

    Runs ``module(X)`` once under :func:`torch.no_grad` with forward hooks on
    every watched block's ``linear`` child (its output ``Wx + b`` is the
    *pre-activation*, before the norm) and ``norm`` child (its output is the
    *post-norm* value: with ``norm_position="before"`` it is what the
    activation receives, with ``"after"`` the normalized activation; with
    ``norm="none"`` the norm is an identity, so before the activation post
    equals pre). For an ``(n_rows, n_units)`` output ``Z`` the statistics are::

        pre_mean = mean_j( mean_i Z[i, j] )   # mean over units of the unit means
        pre_std  = mean_j( std_i  Z[i, j] )   # mean over units of the unit stds

    with the population std (divide by ``n_rows``, as batch norm normalizes),
    and the same for ``post_mean`` / ``post_std`` on the norm's output.

    The module is left exactly as it was: the training flag of every
    submodule is restored, and in ``mode="train"`` batch norm's running
    statistics (which a training-mode forward pass updates) are put back and
    torch's random state (which dropout draws from) is restored, so measuring
    during a fit does not change what the fit learns.

    Parameters
    ----------
    module : torch.nn.Module
        A :class:`sknorm.nn.MLP`, or any module with a ``hidden`` sequence of
        blocks that have ``linear`` and ``norm`` children.
    X : torch.Tensor of shape (n_rows, n_features)
        The rows to measure on, on the module's device and dtype; at least 2
        rows in ``mode="train"`` when the module has batch norm.
    mode : {"train", "eval"}, default="train"
        ``"train"``: the layers compute as during training (batch norm
        normalizes with the statistics of ``X`` itself, dropout is active), so
        the numbers describe the distribution the next layer sees while it
        learns. ``"eval"``: as at prediction (batch norm uses its running
        statistics, no dropout).
    layers : int, sequence of int or None, default=None
        Indices of the hidden blocks to watch; None watches all.

    Returns
    -------
    stats : list of dict
        One dict per watched block, ``{"layer": i, "pre_mean": ...,
        "pre_std": ..., "post_mean": ..., "post_std": ...}`` with float values.

    Examples
    --------
    >>> import torch
    >>> from sknorm.callbacks import activation_stats
    >>> from sknorm.nn import MLP
    >>> _ = torch.manual_seed(0)
    >>> net = MLP(3, 2, hidden_layer_sizes=(4,), norm="batch")
    >>> [stats] = activation_stats(net, torch.randn(64, 3))
    >>> sorted(stats)
    ['layer', 'post_mean', 'post_std', 'pre_mean', 'pre_std']
    >>> abs(stats["post_mean"]) < 1e-6, round(stats["post_std"], 3)
    (True, 1.0)
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}.")
    if not isinstance(X, torch.Tensor):
        raise TypeError(
            f"X must be a torch.Tensor on the module's device and dtype, got "
            f"{type(X).__name__}; e.g. torch.as_tensor(X, dtype=torch.float32)."
        )
    if X.ndim != 2 or X.shape[0] < 2:  # one row: a std of 0, none: NaN
        raise ValueError(
            f"X must hold at least 2 rows of features; got shape {tuple(X.shape)}."
        )
    blocks = _hidden_blocks(module, layers)
    found: dict[tuple[int, int], torch.Tensor] = {}

    def hook(i: int, where: int):
        def record(_module, _inputs, output):
            output = output.detach()
            mean = output.mean(dim=0)
            # Centred by hand: many times faster than Tensor.std(dim=0) on CPU.
            std = (output - mean).square_().mean(dim=0).sqrt_()
            found[i, where] = torch.stack([mean.mean(), std.mean()])

        return record

    handles = []
    training = mode == "train"
    flags = [(m, m.training) for m in module.modules() if m.training != training]
    buffers = list(module.buffers()) if training else []
    saved = [b.detach().clone() for b in buffers]
    devices = [] if X.device.type == "cpu" else [X.device]
    try:
        for i, block in blocks:
            handles.append(block.linear.register_forward_hook(hook(i, 0)))
            norm = getattr(block, "norm", None)
            if norm is not None:
                handles.append(norm.register_forward_hook(hook(i, 1)))
        for m, _ in flags:
            m.training = training
        with torch.no_grad(), torch.random.fork_rng(devices=devices, enabled=training):
            module(X)
    finally:
        for handle in handles:
            handle.remove()
        for m, flag in flags:
            m.training = flag
        if training:
            with torch.no_grad():
                for buffer, value in zip(buffers, saved, strict=True):
                    buffer.copy_(value)
    records = []
    for i, _ in blocks:
        pre = found[i, 0]
        post = found.get((i, 1), pre)
        values = torch.cat([pre, post]).tolist()
        records.append({"layer": i, **dict(zip(STAT_NAMES, values, strict=True))})
    return records


class ActivationStats(Callback):
    """Record hidden-layer activation statistics on a fixed probe batch per epoch.

    At the start of training the callback draws ``probe_size`` rows of the
    training data (the ``X`` handed to ``fit``) once; at the end of every epoch
    it runs the network on those same rows and records, for each hidden layer,
    the mean and spread of the pre-activations ``Wx + b`` and of the norm's
    output (see :func:`activation_stats` for the exact definitions). Because
    the probe is fixed, a change of the numbers from epoch to epoch is a change
    of the distribution the layer produces, i.e. the covariate shift the next
    layer sees.

    The numbers go into the skorch history under ``key``::

        est.history_[:, "act_stats"]  # one list of per-layer dicts per epoch

    and :func:`sknorm.diagnostics.activation_stats_frame` turns them into a
    table. The key is hidden from skorch's printed log (``verbose=1``).

    The measurement is one forward pass over ``probe_size`` rows per epoch,
    with no gradient, and hooks that exist only during that pass; it leaves the
    network, batch norm's running statistics and torch's random state as they
    were, so a fit with the callback learns exactly the same weights as one
    without it. ``benchmarks/bench_activation_stats.py`` measures its cost.

    Parameters
    ----------
    probe_size : int, default=256
        Rows in the probe batch (all the rows when the data has fewer); at
        least 2. In ``mode="train"`` batch norm normalizes the probe with its
        own statistics, so a probe about the size of a training batch measures
        what training batches see.
    mode : {"train", "eval"}, default="train"
        ``"train"`` measures the layers as they compute during training (batch
        norm with the probe's own statistics, dropout active): the distribution
        the next layer learns from, which is what covariate shift is about.
        ``"eval"`` measures them as at prediction (batch norm's running
        statistics, no dropout).
    layers : int, tuple of int or None, default=None
        Indices of the hidden layers to watch; None watches all of them.
    key : str, default="act_stats"
        History key the statistics are recorded under (use two keys to record
        both modes with two callbacks).
    random_state : int, RandomState instance or None, default=0
        Seeds the draw of the probe rows (numpy's RNG; torch's is not used).

    Attributes
    ----------
    probe_ : torch.Tensor of shape (n_probe, n_features)
        The probe batch, on the net's device, fixed at the start of training.
    probe_indices_ : ndarray of shape (n_probe,)
        Rows of the training ``X`` in the probe, sorted.

    See Also
    --------
    activation_stats : The measurement, on any module and data.
    sknorm.diagnostics.activation_stats_frame : The records as a DataFrame.
    sknorm.diagnostics.plot_activation_stats : The records over epochs.

    Notes
    -----
    Reading the numbers: in ``mode="train"`` batch norm standardizes every unit
    over the probe itself, so its ``post_mean`` and ``post_std`` are the means
    of its learned shift (beta) and of the absolute scale (``|gamma|``), close to
    0 and 1 unless those have moved; the *drift* of a statistic over the epochs
    is what tells how much the distribution a layer hands on keeps changing.
    Layer norm standardizes each row over its units, so its per-unit means and
    stds over rows need not be 0 and 1.

    With early stopping the estimator hands skorch all of ``X`` and skorch
    holds out the validation rows itself, so the probe may include rows of the
    validation split. ``warm_start`` fits draw a new probe from the new data.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sknorm import NormMLPClassifier
    >>> from sknorm.callbacks import ActivationStats
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NormMLPClassifier(
    ...     (8, 8), callbacks=[ActivationStats()], max_epochs=3, random_state=0
    ... ).fit(X, y)
    >>> stats = clf.history_[-1, "act_stats"]
    >>> len(stats), sorted(stats[0])
    (2, ['layer', 'post_mean', 'post_std', 'pre_mean', 'pre_std'])
    """

    def __init__(
        self,
        probe_size: int = 256,
        *,
        mode: str = "train",
        layers: int | tuple[int, ...] | None = None,
        key: str = "act_stats",
        random_state: int | np.random.RandomState | None = 0,
    ) -> None:
        self.probe_size = probe_size
        self.mode = mode
        self.layers = layers
        self.key = key
        self.random_state = random_state

    def _check_params(self) -> None:
        if not isinstance(self.probe_size, Integral) or self.probe_size < 2:
            raise ValueError(
                f"probe_size must be an integer >= 2, got {self.probe_size!r}."
            )
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {self.mode!r}.")
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"key must be a non-empty string, got {self.key!r}.")
        if self.key in _HISTORY_KEYS or self.key.startswith(("train_", "valid_")):
            raise ValueError(
                f"key={self.key!r} would overwrite skorch's own history entry; "
                "choose another name, e.g. the default 'act_stats'."
            )
        layers = self.layers
        if layers is not None and not isinstance(layers, Integral):
            try:
                layers = list(layers)
            except TypeError:
                layers = [layers]
            if not layers or not all(isinstance(i, Integral) for i in layers):
                # their range is checked against the network when it is built
                raise ValueError(
                    "layers must be None or indices of hidden layers, got "
                    f"{self.layers!r}."
                )

    def _draw_probe(self, X) -> tuple[np.ndarray, torch.Tensor]:
        data = getattr(X, "X", X)  # a skorch Dataset holds its data as .X
        if sp.issparse(data):
            data = sp.csr_matrix(data)
        elif not isinstance(data, torch.Tensor):
            data = np.asarray(data, dtype=np.float32)
        n = data.shape[0]
        rng = check_random_state(self.random_state)
        indices = np.sort(
            rng.choice(n, size=min(int(self.probe_size), n), replace=False)
        )
        if isinstance(data, torch.Tensor):
            probe = data.index_select(0, torch.as_tensor(indices, device=data.device))
        elif sp.issparse(data):  # densify only the probe rows
            probe = torch.from_numpy(data[indices].toarray().astype(np.float32))
        else:
            probe = torch.from_numpy(np.ascontiguousarray(data[indices]))
        return indices, probe

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        """Check the parameters and fix the probe batch."""
        self._check_params()
        if X is None:
            raise ValueError("ActivationStats needs the training X to draw its probe.")
        _hidden_blocks(net.module_, self.layers)  # fail now, not after an epoch
        param = next(net.module_.parameters())
        self.probe_indices_, probe = self._draw_probe(X)
        self.probe_ = probe.to(device=param.device, dtype=param.dtype)
        for _, callback in getattr(net, "callbacks_", []):
            if isinstance(callback, PrintLog) and hasattr(callback, "keys_ignored_"):
                callback.keys_ignored_.add(self.key)  # a list of dicts: not a column

    def on_epoch_end(self, net, **kwargs) -> None:
        """Measure the probe and record the statistics in the history."""
        stats = activation_stats(
            net.module_, self.probe_, mode=self.mode, layers=self.layers
        )
        net.history.record(self.key, stats)
