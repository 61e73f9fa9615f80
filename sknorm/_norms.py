"""Hidden-layer normalization layers, chosen by name.

Torch only: nothing here imports scikit-learn. Each entry of ``NORMS`` maps the
string a user writes as ``norm=...`` to a factory that builds torch's own layer.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["NORMS", "make_norm"]


def _none(num_features: int, eps: float, momentum: float, affine: bool) -> nn.Module:
    return nn.Identity()


def _batch(num_features: int, eps: float, momentum: float, affine: bool) -> nn.Module:
    # Per-feature statistics over the mini-batch; running mean/var used in eval mode.
    return nn.BatchNorm1d(num_features, eps=eps, momentum=momentum, affine=affine)


def _layer(num_features: int, eps: float, momentum: float, affine: bool) -> nn.Module:
    # Per-sample statistics over the features; identical in train and eval mode.
    # ``momentum`` has no meaning for layer norm and is ignored.
    return nn.LayerNorm(num_features, eps=eps, elementwise_affine=affine)


NORMS: dict[str, Callable[[int, float, float, bool], nn.Module]] = {
    "none": _none,
    "batch": _batch,
    "layer": _layer,
}

#: Norms whose training-mode output depends on the other samples of the batch.
BATCH_DEPENDENT_NORMS = frozenset({"batch"})


def make_norm(
    name: str,
    num_features: int,
    *,
    eps: float = 1e-5,
    momentum: float = 0.1,
    affine: bool = True,
) -> nn.Module:
    """Build the normalization layer called ``name`` for ``num_features`` units.

    Parameters
    ----------
    name : {"none", "batch", "layer"}
        ``"batch"`` is :class:`torch.nn.BatchNorm1d`, ``"layer"`` is
        :class:`torch.nn.LayerNorm`, ``"none"`` is :class:`torch.nn.Identity`.
    num_features : int
        Width of the layer being normalized.
    eps : float, default=1e-5
        Added to the variance for numerical stability.
    momentum : float, default=0.1
        Weight of the current batch in batch norm's running statistics
        (torch's convention; Keras' ``momentum=0.99`` is ``0.01`` here).
    affine : bool, default=True
        Learn a per-unit scale (gamma) and shift (beta).

    Returns
    -------
    layer : torch.nn.Module

    Examples
    --------
    >>> from sknorm._norms import make_norm
    >>> make_norm("layer", 4)
    LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
    """
    try:
        factory = NORMS[name]
    except KeyError:
        raise ValueError(
            f"Unknown norm {name!r}; expected one of {sorted(NORMS)}."
        ) from None
    return factory(num_features, eps, momentum, affine)
