"""Hidden-layer normalization layers, chosen by name.

Torch only: nothing here imports scikit-learn. Each entry of ``NORMS`` maps the
string a user writes as ``norm=...`` to a factory that builds the layer. Where
torch ships the layer (batch, layer, RMS and group norm) it is torch's own; the
two it does not ship (ghost batch norm, batch renormalization) are written here
once.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "BATCH_DEPENDENT_NORMS",
    "NORMS",
    "NORM_DEFAULTS",
    "BatchRenorm1d",
    "GhostBatchNorm1d",
    "make_norm",
]

#: ``eps`` and ``momentum`` per convention. Keras' ``BatchNormalization`` has
#: ``momentum=0.99`` (weight of the *old* running value) and ``epsilon=1e-3``;
#: torch's ``momentum`` is the weight of the *new* batch, so 0.99 there is 0.01 here.
NORM_DEFAULTS: dict[str, dict[str, float]] = {
    "torch": {"eps": 1e-5, "momentum": 0.1},
    "keras": {"eps": 1e-3, "momentum": 0.01},
}


class GhostBatchNorm1d(nn.BatchNorm1d):
    """Batch norm over virtual batches of ``virtual_batch_size`` rows.

    In training, each mini-batch is split into ``max(n // virtual_batch_size, 1)``
    near-equal virtual batches (so none is smaller than ``virtual_batch_size``,
    or than the whole batch when it is smaller), each normalized with its own
    statistics, as in Hoffer et al. (2017) and TabNet; the running statistics
    are updated once per virtual batch. In eval mode it is plain batch norm with
    the running statistics.

    Examples
    --------
    >>> import torch
    >>> from sknorm._norms import GhostBatchNorm1d
    >>> gbn = GhostBatchNorm1d(3, virtual_batch_size=4)
    >>> gbn(torch.randn(8, 3)).shape
    torch.Size([8, 3])
    """

    def __init__(
        self,
        num_features: int,
        virtual_batch_size: int = 32,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine)
        if int(virtual_batch_size) < 2:
            raise ValueError(
                f"virtual_batch_size must be at least 2, got {virtual_batch_size}."
            )
        self.virtual_batch_size = int(virtual_batch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        n_chunks = max(x.shape[0] // self.virtual_batch_size, 1)
        batch_norm = super().forward
        return torch.cat([batch_norm(chunk) for chunk in x.tensor_split(n_chunks)])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, virtual_batch_size={self.virtual_batch_size}"


class BatchRenorm1d(nn.BatchNorm1d):
    """Batch renormalization (Ioffe, 2017) for ``(N, C)`` inputs.

    In training, with batch mean ``mu_B``, batch std ``sigma_B = sqrt(var_B +
    eps)`` and running ``mu``, ``sigma = sqrt(running_var + eps)``::

        r = clip(sigma_B / sigma, 1 / rmax, rmax)      # no gradient through r
        d = clip((mu_B - mu) / sigma, -dmax, dmax)      # no gradient through d
        y = gamma * ((x - mu_B) / sigma_B * r + d) + beta

    and the running statistics are updated as batch norm does. ``rmax`` and
    ``dmax`` grow linearly from 1 and 0 to their final values over the first
    ``warmup_steps`` training steps, so training starts as plain batch norm (the
    paper keeps r = 1, d = 0 at first, then relaxes the clipping). With r = 1 and
    d = 0 it is exactly batch norm; in eval mode it is batch norm with the
    running statistics.

    Examples
    --------
    >>> import torch
    >>> from sknorm._norms import BatchRenorm1d
    >>> brn = BatchRenorm1d(3, rmax=3.0, dmax=5.0, warmup_steps=0)
    >>> brn(torch.randn(8, 3)).shape
    torch.Size([8, 3])
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        rmax: float = 3.0,
        dmax: float = 5.0,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine)
        if rmax < 1 or dmax < 0 or warmup_steps < 0:
            raise ValueError(
                "batch renorm needs rmax >= 1, dmax >= 0 and warmup_steps >= 0; got "
                f"rmax={rmax}, dmax={dmax}, warmup_steps={warmup_steps}."
            )
        self.rmax = float(rmax)
        self.dmax = float(dmax)
        self.warmup_steps = int(warmup_steps)

    def _limits(self) -> tuple[float, float]:
        if self.warmup_steps == 0:
            return self.rmax, self.dmax
        done = min(float(self.num_batches_tracked) / self.warmup_steps, 1.0)
        return 1.0 + (self.rmax - 1.0) * done, self.dmax * done

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        if x.dim() != 2:
            raise ValueError(
                f"BatchRenorm1d expects (N, C) input, got shape {tuple(x.shape)}."
            )
        if x.shape[0] < 2:
            raise ValueError(
                "batch renorm needs at least 2 samples per training batch."
            )
        rmax, dmax = self._limits()
        mean = x.mean(0)
        var = x.var(0, unbiased=False)
        std = torch.sqrt(var + self.eps)
        with torch.no_grad():
            running_std = torch.sqrt(self.running_var + self.eps)
            r = (std / running_std).clamp(1.0 / rmax, rmax)
            d = ((mean - self.running_mean) / running_std).clamp(-dmax, dmax)
            self.num_batches_tracked += 1
            factor = (
                1.0 / float(self.num_batches_tracked)
                if self.momentum is None
                else self.momentum
            )
            n = x.shape[0]
            self.running_mean.lerp_(mean, factor)
            self.running_var.lerp_(var * n / (n - 1), factor)
        y = (x - mean) / std * r + d
        if self.affine:
            y = y * self.weight + self.bias
        return y

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, rmax={self.rmax}, dmax={self.dmax}, "
            f"warmup_steps={self.warmup_steps}"
        )


def _none(width: int, o: dict) -> nn.Module:
    return nn.Identity()


def _batch(width: int, o: dict) -> nn.Module:
    # Per-feature statistics over the mini-batch; running mean/var in eval mode.
    return nn.BatchNorm1d(
        width, eps=o["eps"], momentum=o["momentum"], affine=o["affine"]
    )


def _layer(width: int, o: dict) -> nn.Module:
    # Per-sample statistics over the features; the same in train and eval mode.
    return nn.LayerNorm(width, eps=o["eps"], elementwise_affine=o["affine"])


def _rms(width: int, o: dict) -> nn.Module:
    # Per-sample root mean square over the features, no centering.
    return nn.RMSNorm(width, eps=o["eps"], elementwise_affine=o["affine"])


def _group(width: int, o: dict) -> nn.Module:
    # Per-sample statistics over groups of hidden units.
    groups = o["groups"]
    if width % groups or width // groups < 2:
        raise ValueError(
            f"norm='group' splits each hidden layer into norm_groups={groups} "
            "groups of at least 2 units, so norm_groups must divide the layer "
            f"width and be at most half of it; got a width of {width}."
        )
    return nn.GroupNorm(groups, width, eps=o["eps"], affine=o["affine"])


def _ghost(width: int, o: dict) -> nn.Module:
    return GhostBatchNorm1d(
        width,
        virtual_batch_size=o["virtual_batch_size"],
        eps=o["eps"],
        momentum=o["momentum"],
        affine=o["affine"],
    )


def _batch_renorm(width: int, o: dict) -> nn.Module:
    return BatchRenorm1d(
        width,
        eps=o["eps"],
        momentum=o["momentum"],
        affine=o["affine"],
        rmax=o["rmax"],
        dmax=o["dmax"],
        warmup_steps=o["warmup_steps"],
    )


NORMS: dict[str, Callable[[int, dict], nn.Module]] = {
    "none": _none,
    "batch": _batch,
    "layer": _layer,
    "rms": _rms,
    "group": _group,
    "ghost": _ghost,
    "batch_renorm": _batch_renorm,
}

#: Norms whose training-mode output depends on the other samples of the batch.
BATCH_DEPENDENT_NORMS = frozenset({"batch", "ghost", "batch_renorm"})


def make_norm(
    name: str,
    num_features: int,
    *,
    eps: float = 1e-5,
    momentum: float | None = 0.1,
    affine: bool = True,
    groups: int = 8,
    virtual_batch_size: int = 32,
    rmax: float = 3.0,
    dmax: float = 5.0,
    warmup_steps: int = 0,
) -> nn.Module:
    """Build the normalization layer called ``name`` for ``num_features`` units.

    Parameters
    ----------
    name : {"none", "batch", "layer", "rms", "group", "ghost", "batch_renorm"}
        ``"batch"`` is :class:`torch.nn.BatchNorm1d`, ``"layer"``
        :class:`torch.nn.LayerNorm`, ``"rms"`` :class:`torch.nn.RMSNorm`,
        ``"group"`` :class:`torch.nn.GroupNorm`, ``"ghost"``
        :class:`GhostBatchNorm1d`, ``"batch_renorm"`` :class:`BatchRenorm1d`,
        ``"none"`` :class:`torch.nn.Identity`.
    num_features : int
        Width of the layer being normalized.
    eps : float, default=1e-5
        Added to the variance (or mean square) for numerical stability.
    momentum : float or None, default=0.1
        Weight of the current batch in the running statistics of the batch
        norms (torch's convention; Keras' ``momentum=0.99`` is ``0.01`` here).
    affine : bool, default=True
        Learn a per-unit scale (gamma) and shift (beta).
    groups : int, default=8
        Number of groups of ``"group"``; must divide ``num_features``.
    virtual_batch_size : int, default=32
        Rows per virtual batch of ``"ghost"``.
    rmax, dmax : float, default=3.0, 5.0
        Clipping limits of ``"batch_renorm"``'s corrections r and d.
    warmup_steps : int, default=0
        Steps over which ``"batch_renorm"`` relaxes rmax and dmax from 1 and 0.

    Returns
    -------
    layer : torch.nn.Module

    Examples
    --------
    >>> from sknorm._norms import make_norm
    >>> make_norm("layer", 4)
    LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
    >>> make_norm("group", 8, groups=2)
    GroupNorm(2, 8, eps=1e-05, affine=True, bias=True)
    """
    try:
        factory = NORMS[name]
    except KeyError:
        raise ValueError(
            f"Unknown norm {name!r}; expected one of {sorted(NORMS)}."
        ) from None
    options = {
        "eps": eps,
        "momentum": momentum,
        "affine": affine,
        "groups": int(groups),
        "virtual_batch_size": virtual_batch_size,
        "rmax": rmax,
        "dmax": dmax,
        "warmup_steps": warmup_steps,
    }
    return factory(int(num_features), options)
