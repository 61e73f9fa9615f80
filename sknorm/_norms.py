"""Hidden-layer normalization layers, chosen by name.

Torch only: nothing here imports scikit-learn. Each name in ``NORMS`` (the
string a user writes as ``norm=...``) has one factory that builds the layer and
owns the norm's options and their defaults. Where
torch ships the layer (batch, layer, RMS and group norm) it is torch's own; the
two it does not ship (ghost batch norm, batch renormalization) are written here
once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from numbers import Integral
from types import MappingProxyType

import torch
from torch import nn

__all__ = [
    "BATCH_DEPENDENT_NORMS",
    "COMMON_OPTIONS",
    "NORMS",
    "NORM_DEFAULTS",
    "BatchRenorm1d",
    "GhostBatchNorm1d",
    "KerasBatchNorm1d",
    "all_norm_options",
    "check_norm_params",
    "make_norm",
    "norm_options",
]

#: The settings of each convention. Keras' ``BatchNormalization`` has
#: ``momentum=0.99`` (weight of the *old* running value) and ``epsilon=1e-3``;
#: torch's ``momentum`` is the weight of the *new* batch, so 0.99 there is 0.01
#: here. Keras' moving variance averages the biased batch variances, torch's the
#: unbiased ones (n / (n - 1) larger).
NORM_DEFAULTS: dict[str, dict[str, float | bool]] = {
    "torch": {"eps": 1e-5, "momentum": 0.1, "biased_running_var": False},
    "keras": {"eps": 1e-3, "momentum": 0.01, "biased_running_var": True},
}


class KerasBatchNorm1d(nn.BatchNorm1d):
    """torch's batch norm whose running variance can follow Keras' rule.

    Training normalizes with the batch's mean and biased variance, as torch
    and Keras both do. The running variance is updated with the *biased* batch
    variance when ``biased_running_var`` (Keras' ``BatchNormalization``), with
    the unbiased one otherwise (torch's :class:`torch.nn.BatchNorm1d`)::

        running_var = (1 - momentum) * running_var + momentum * var_batch

    At batch size 32 the two differ by a factor 32 / 31; at batch size 2 by 2.
    In eval mode it is batch norm with the running statistics.

    Parameters
    ----------
    num_features : int
        Width of the layer being normalized.
    eps : float, default=1e-5
        Added to the variance for numerical stability.
    momentum : float or None, default=0.1
        Weight of each batch in the running statistics (torch's convention);
        None is a cumulative average.
    affine : bool, default=True
        Learn a per-unit scale (gamma) and shift (beta).
    biased_running_var : bool, default=True
        Average the biased batch variances into the running variance (Keras)
        instead of the unbiased ones (torch).

    Examples
    --------
    >>> import torch
    >>> from sknorm.nn import KerasBatchNorm1d
    >>> bn = KerasBatchNorm1d(1, momentum=1.0)
    >>> _ = bn(torch.tensor([[0.0], [2.0]]))
    >>> bn.running_var  # the biased variance of [0, 2]; torch would store 2
    tensor([1.])
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        biased_running_var: bool = True,
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine)
        self.biased_running_var = bool(biased_running_var)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.biased_running_var):
            return super().forward(x)
        if x.shape[0] < 2:
            raise ValueError("batch norm needs at least 2 samples per training batch.")
        with torch.no_grad():
            self.num_batches_tracked += 1
            factor = (
                1.0 / float(self.num_batches_tracked)
                if self.momentum is None
                else self.momentum
            )
            self.running_mean.lerp_(x.mean(0), factor)
            self.running_var.lerp_(x.var(0, unbiased=False), factor)
        return nn.functional.batch_norm(
            x, None, None, self.weight, self.bias, True, 0.0, self.eps
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, biased_running_var={self.biased_running_var}"


class GhostBatchNorm1d(KerasBatchNorm1d):
    """Batch norm over virtual batches of ``virtual_batch_size`` rows.

    In training, each mini-batch is split into ``max(n // virtual_batch_size, 1)``
    near-equal virtual batches (so none is smaller than ``virtual_batch_size``,
    or than the whole batch when it is smaller), each normalized with its own
    statistics, as in Hoffer et al. (2017) and TabNet; the running statistics
    are updated once per virtual batch. In eval mode it is plain batch norm with
    the running statistics.

    Parameters
    ----------
    num_features : int
        Width of the layer being normalized.
    virtual_batch_size : int, default=32
        Rows per virtual batch, at least 2.
    eps : float, default=1e-5
        Added to the variance for numerical stability.
    momentum : float or None, default=0.1
        Weight of each virtual batch in the running statistics (torch's
        convention); None is a cumulative average.
    affine : bool, default=True
        Learn a per-unit scale and shift.
    biased_running_var : bool, default=False
        Keras' running variance (see :class:`KerasBatchNorm1d`).

    Examples
    --------
    >>> import torch
    >>> from sknorm.nn import GhostBatchNorm1d
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
        biased_running_var: bool = False,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, biased_running_var)
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
    ``warmup_steps`` training steps (100 by default), so training starts as
    plain batch norm (the paper keeps r = 1, d = 0 at first, then relaxes the
    clipping). With r = 1 and
    d = 0 it is exactly batch norm; in eval mode it is batch norm with the
    running statistics.

    Parameters
    ----------
    num_features : int
        Width of the layer being normalized.
    eps : float, default=1e-5
        Added to the variance for numerical stability.
    momentum : float or None, default=0.1
        Weight of each batch in the running statistics (torch's convention);
        None is a cumulative average.
    affine : bool, default=True
        Learn a per-unit scale (gamma) and shift (beta).
    rmax : float, default=3.0
        Final clipping limit of r, in ``[1 / rmax, rmax]``; at least 1.
    dmax : float, default=5.0
        Final clipping limit of d, in ``[-dmax, dmax]``; at least 0.
    warmup_steps : int, default=100
        Training steps over which the limits grow from r = 1, d = 0; 0 applies
        ``rmax`` and ``dmax`` from the first step.
    biased_running_var : bool, default=False
        Keras' running variance (see :class:`KerasBatchNorm1d`).

    Examples
    --------
    >>> import torch
    >>> from sknorm.nn import BatchRenorm1d
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
        warmup_steps: int = 100,
        biased_running_var: bool = False,
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
        self.biased_running_var = bool(biased_running_var)

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
            unbiased = 1.0 if self.biased_running_var else n / (n - 1)
            self.running_var.lerp_(var * unbiased, factor)
        y = (x - mean) / std * r + d
        if self.affine:
            y = y * self.weight + self.bias
        return y

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, rmax={self.rmax}, dmax={self.dmax}, "
            f"warmup_steps={self.warmup_steps}"
        )


#: The options every norm shares, passed by the caller (the estimators'
#: ``norm_eps``, ``norm_momentum`` and ``norm_affine``, and the convention's
#: running-variance rule); a factory takes the ones it uses. Every other option
#: belongs to one norm and is declared once, as a keyword argument with its
#: default, in that norm's factory (or layer class).
COMMON_OPTIONS = ("eps", "momentum", "affine", "biased_running_var")


def _none(width: int) -> nn.Module:
    return nn.Identity()


def _batch(
    width: int,
    *,
    eps: float,
    momentum: float | None,
    affine: bool,
    biased_running_var: bool,
) -> nn.Module:
    # Per-feature statistics over the mini-batch; running mean/var in eval mode.
    if biased_running_var:
        return KerasBatchNorm1d(width, eps, momentum, affine, biased_running_var)
    return nn.BatchNorm1d(width, eps=eps, momentum=momentum, affine=affine)


def _layer(width: int, *, eps: float, affine: bool) -> nn.Module:
    # Per-sample statistics over the features; the same in train and eval mode.
    return nn.LayerNorm(width, eps=eps, elementwise_affine=affine)


def _rms(width: int, *, eps: float, affine: bool) -> nn.Module:
    # Per-sample root mean square over the features, no centering.
    return nn.RMSNorm(width, eps=eps, elementwise_affine=affine)


def _group(width: int, *, eps: float, affine: bool, groups: int = 8) -> nn.Module:
    # Per-sample statistics over groups of hidden units.
    if isinstance(groups, bool) or not isinstance(groups, Integral) or groups < 1:
        raise ValueError(f"norm option groups must be a positive int, got {groups!r}.")
    groups = int(groups)  # numpy ints too, as a grid over np.arange gives them
    if width % groups or width // groups < 2:
        raise ValueError(
            f"norm='group' splits each hidden layer into groups={groups} groups "
            "of at least 2 units, so groups must divide the layer width and be "
            f"at most half of it; got a width of {width}."
        )
    return nn.GroupNorm(groups, width, eps=eps, affine=affine)


#: Norm name -> factory ``(width, **options) -> nn.Module``. The factory's
#: keyword arguments are the norm's options: those in ``COMMON_OPTIONS`` and its
#: own, whose defaults are the ones written in its signature.
_FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "none": _none,
    "batch": _batch,
    "layer": _layer,
    "rms": _rms,
    "group": _group,
    "ghost": GhostBatchNorm1d,
    "batch_renorm": BatchRenorm1d,
}

#: The names ``norm=...`` accepts, in the order they are documented and shown.
NORMS: tuple[str, ...] = tuple(_FACTORIES)

#: Norms whose training-mode output depends on the other samples of the batch.
BATCH_DEPENDENT_NORMS = frozenset({"batch", "ghost", "batch_renorm"})


@functools.cache
def _keywords(name: str) -> Mapping[str, inspect.Parameter]:
    # read once per norm: a packed sweep builds every member's norms, and
    # inspect.signature was ~3% of its run
    params = list(inspect.signature(_FACTORIES[name]).parameters.values())[1:]
    return MappingProxyType({p.name: p for p in params})


def norm_options(name: str) -> dict[str, object]:
    """The options of norm ``name`` beyond ``COMMON_OPTIONS``, with defaults.

    Parameters
    ----------
    name : str
        One of ``NORMS``.

    Returns
    -------
    options : dict
        Option name -> default, as the norm's factory declares them.

    Examples
    --------
    >>> from sknorm.nn import norm_options
    >>> norm_options("batch_renorm")
    {'rmax': 3.0, 'dmax': 5.0, 'warmup_steps': 100}
    >>> norm_options("batch")
    {}
    """
    _check_name(name)
    return {k: p.default for k, p in _keywords(name).items() if k not in COMMON_OPTIONS}


def all_norm_options() -> dict[str, tuple[str, ...]]:
    """Every norm-specific option and the norms that take it."""
    owners: dict[str, tuple[str, ...]] = {}
    for name in NORMS:
        for option in norm_options(name):
            owners[option] = (*owners.get(option, ()), name)
    return owners


def check_norm_params(params) -> dict:
    """``params`` as a dict whose every key is an option of some norm.

    A key of another norm than the one in use is allowed (and ignored by that
    norm), so one ``norm_params`` serves a grid over several norms.
    """
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ValueError(
            f"norm_params must be a dict or None, got {type(params).__name__}."
        )
    owners = all_norm_options()
    unknown = sorted(set(params) - set(owners))
    if unknown:
        known = ", ".join(f"{k!r} ({'/'.join(v)})" for k, v in sorted(owners.items()))
        raise ValueError(
            f"norm_params has unknown option(s) {unknown}; the norm options are "
            f"{known}. eps, momentum and affine are the norm_eps, norm_momentum "
            "and norm_affine parameters."
        )
    return dict(params)


def _check_name(name: str) -> None:
    if name not in _FACTORIES:
        raise ValueError(f"Unknown norm {name!r}; expected one of {list(NORMS)}.")


def make_norm(
    name: str,
    num_features: int,
    *,
    eps: float | None = None,
    momentum: float | None = None,
    affine: bool = True,
    convention: str = "torch",
    **options,
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
    eps : float or None, default=None
        Added to the variance (or mean square) for numerical stability; None
        takes it from ``convention``.
    momentum : float or None, default=None
        Weight of the current batch in the running statistics of the batch
        norms (torch's convention; Keras' ``momentum=0.99`` is ``0.01`` here);
        None takes it from ``convention``.
    affine : bool, default=True
        Learn a per-unit scale (gamma) and shift (beta).
    convention : {"torch", "keras"}, default="torch"
        Where ``eps`` and ``momentum`` come from when None, and whether the
        batch norms' running variance averages biased batch variances
        (``"keras"``) or unbiased ones (``"torch"``): ``NORM_DEFAULTS``.
    **options
        The norm's own options (``norm_options(name)`` lists them with their
        defaults): ``groups`` of ``"group"``, ``virtual_batch_size`` of
        ``"ghost"``, ``rmax``, ``dmax`` and ``warmup_steps`` of
        ``"batch_renorm"``. Options of other norms are ignored; unknown ones
        raise.

    Returns
    -------
    layer : torch.nn.Module

    Examples
    --------
    >>> from sknorm.nn import make_norm
    >>> make_norm("layer", 4)
    LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
    >>> make_norm("group", 8, groups=2)
    GroupNorm(2, 8, eps=1e-05, affine=True, bias=True)
    """
    _check_name(name)
    options = check_norm_params(options)
    if convention not in NORM_DEFAULTS:
        raise ValueError(
            f"Unknown norm defaults {convention!r}; expected one of "
            f"{sorted(NORM_DEFAULTS)}."
        )
    defaults = NORM_DEFAULTS[convention]
    common = {
        "eps": defaults["eps"] if eps is None else eps,
        "momentum": defaults["momentum"] if momentum is None else momentum,
        "affine": affine,
        "biased_running_var": defaults["biased_running_var"],
    }
    accepted = _keywords(name)
    kwargs = {k: v for k, v in {**common, **options}.items() if k in accepted}
    return _FACTORIES[name](int(num_features), **kwargs)
