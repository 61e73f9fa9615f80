"""The packed engine: many independent MLPs of the same widths trained at once.

Torch only (no scikit-learn): :class:`PackedMLP` stacks K members'
:class:`sknorm.nn.MLP` weights as ``(K, in, out)`` tensors and runs them with
batched matrix products on ``(K, B, d)`` batches; :func:`train_packed` trains
them with one hand-written Adam step for all members. Members share nothing:
each keeps its own initialization, data, shuffles, dropout masks, norm (and
batch-norm statistics), learning rate, weight decay, early-stopping state and
divergence state. The scikit-learn search that drives it is
:class:`sknorm._search.PackedSearchCV`; the estimators never import this module.

Why it pays: a small tabular fit spends its time on per-step overhead (Python,
dispatch, optimizer bookkeeping), not arithmetic; K members in one stacked
product pay that overhead once per step instead of K times, and the bigger
products keep several cores busy.
"""

from __future__ import annotations

import copy
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._norms import BatchRenorm1d, GhostBatchNorm1d
from ._training import SliceLoader, default_num_threads, fit_context
from .nn import MLP, FeatureScale

__all__ = [
    "PackedMLP",
    "PackedRun",
    "seeded_member",
    "train_group_alone",
    "train_packed",
]

#: Adam's defaults, as the estimators' ``optimizer="adam"`` uses them.
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
#: Rows per chunk of an evaluation-mode pass (held-out and early-stopping losses).
EVAL_CHUNK = 1024


def seeded_member(module_params: dict, seed: int) -> tuple[MLP, torch.Generator]:
    """The MLP an estimator's fit with ``seed`` starts from, and its RNG after.

    As ``fit_context(seed, ...)`` does for a fit, the module is built right
    after ``torch.manual_seed(seed)`` on a private copy of torch's RNG; the
    returned generator holds that RNG's state after the initialization, so the
    member's shuffles and dropout masks are drawn from the stream its
    individual fit would draw them from.

    Parameters
    ----------
    module_params : dict
        Keyword arguments of :class:`sknorm.nn.MLP`.
    seed : int
        The fit's seed.

    Returns
    -------
    module : MLP
        The initialized network.
    generator : torch.Generator
        The member's private RNG.

    Examples
    --------
    >>> from sknorm._packed import seeded_member
    >>> a, _ = seeded_member({"n_features": 3, "n_outputs": 2}, seed=0)
    >>> b, _ = seeded_member({"n_features": 3, "n_outputs": 2}, seed=0)
    >>> bool((a.output.weight == b.output.weight).all())
    True
    """
    generator = torch.Generator()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        module = MLP(**module_params)
        generator.set_state(torch.get_rng_state())
    return module, generator


# -- which rows of a batch each member has -------------------------------------------
@dataclass
class _Rows:
    """Members' rows in a padded ``(K, B, ...)`` batch: member k's first
    ``sizes[k]`` rows are real, the rest padding (masked out everywhere).
    Everything is computed once: the trainer keeps one per step."""

    sizes: torch.Tensor  # (K,) long
    mask: torch.Tensor = field(init=False)  # (K, B, 1) float
    count: torch.Tensor = field(init=False)  # (K, 1, 1) float, at least 1
    width: int = 0
    active: torch.Tensor = field(init=False)  # (K,) bool: any real row
    full: bool = field(init=False)  # every member has all ``width`` rows real
    counts: list = field(init=False)  # ``sizes`` as Python ints
    on: list = field(init=False)  # ``active`` as Python bools
    _parts: dict = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        rows = torch.arange(self.width, device=self.sizes.device)
        self.mask = (rows[None, :] < self.sizes[:, None]).float().unsqueeze(2)
        self.count = self.sizes.clamp(min=1).float().view(-1, 1, 1)
        self.active = self.sizes > 0
        self.full = bool((self.sizes == self.width).all())
        self.counts = self.sizes.tolist()
        self.on = [c > 0 for c in self.counts]

    def narrow(self, start: int, length: int) -> _Rows:
        if (start, length) not in self._parts:
            part = _Rows(self.sizes.narrow(0, start, length), width=self.width)
            self._parts[start, length] = part
        return self._parts[start, length]

    def segments(self, virtual_batch_size: int | None) -> torch.Tensor:
        """One-hot ``(K, B, G)`` of each real row's (virtual) batch: what
        :class:`GhostBatchNorm1d`'s ``tensor_split`` makes; one batch when
        ``virtual_batch_size`` is None."""
        if virtual_batch_size is None:
            return self.mask
        key = ("segments", virtual_batch_size)
        if key not in self._parts:
            self._parts[key] = self._segments(virtual_batch_size)
        return self._parts[key]

    def _segments(self, virtual_batch_size: int) -> torch.Tensor:
        n = self.sizes.clamp(min=1)
        chunks = (n // virtual_batch_size).clamp(min=1)
        small, extra = n // chunks, n % chunks
        edge = extra * (small + 1)
        r = torch.arange(self.width, device=n.device)[None, :]
        seg = torch.where(
            r < edge[:, None],
            r // (small + 1)[:, None],
            extra[:, None] + (r - edge[:, None]) // small[:, None],
        )
        # chunks.max(), from the Python counts (no wait for a GPU)
        n_seg = max(max(max(c, 1) // virtual_batch_size, 1) for c in self.counts)
        one_hot = F.one_hot(seg.clamp(max=n_seg - 1), n_seg).float()
        return one_hot * self.mask


# -- packed norms --------------------------------------------------------------------
def _norm_kind(layer: nn.Module) -> str:
    for kind, cls in _KINDS:
        if isinstance(layer, cls):
            return kind
    raise ValueError(f"The packed engine has no packed form of {layer!r}.")


_KINDS = (
    ("ghost", GhostBatchNorm1d),
    ("batch_renorm", BatchRenorm1d),
    ("batch", nn.BatchNorm1d),
    ("layer", nn.LayerNorm),
    ("rms", nn.RMSNorm),
    ("group", nn.GroupNorm),
    ("none", nn.Identity),
)
#: Attributes (beyond the kind) that must agree within one packed norm group.
_SETTINGS = (
    "eps",
    "momentum",
    "affine",
    "elementwise_affine",
    "num_groups",
    "virtual_batch_size",
    "rmax",
    "dmax",
    "warmup_steps",
)


def _norm_key(block: nn.Sequential) -> tuple:
    """What members must share to be normalized by one packed op: the norm's
    kind and settings, and its position relative to the activation."""
    layer = block.norm
    names = list(block._modules)
    position = "before" if names.index("norm") < names.index("activation") else "after"
    settings = tuple((a, getattr(layer, a)) for a in _SETTINGS if hasattr(layer, a))
    return (_norm_kind(layer), position, settings)


def _embedding_key(module: MLP) -> tuple:
    """What members must share to be embedded by one packed op: the kind of
    input embedding and its shapes."""
    layer = module.embedding
    if layer is None:
        return ("none",)
    if isinstance(layer, FeatureScale):
        return ("scale",)
    periodic = layer[0]
    lite = isinstance(periodic.linear, nn.Linear)
    return ("periodic", tuple(periodic.periodic.weight.shape), lite)


def _input_width(module: MLP) -> int:
    """How many input columns ``module`` reads."""
    layer = module.embedding
    if isinstance(layer, FeatureScale):
        return layer.weight.numel()
    if layer is not None:
        return layer[0].periodic.weight.shape[0]
    first = module.hidden[0].linear if len(module.hidden) else module.output
    return first.in_features


def _group_key(module: MLP) -> tuple:
    """A member's packed group: its input width and embedding, then each
    block's norm."""
    blocks = (_norm_key(b) for b in module.hidden)
    return (_input_width(module), _embedding_key(module), *blocks)


class _PackedEmbedding(nn.Module):
    """The input embeddings of a group of members, stacked on a first axis:
    :class:`sknorm.nn.FeatureScale` (``x * w``) or the PLR embeddings of
    ``rtdl_num_embeddings.PeriodicEmbeddings`` (per feature ``ReLU(Linear(
    [cos(2 pi c x), sin(2 pi c x)]))``), the same formulas with one more axis.
    ``names`` are the tensors' names in an :class:`MLP`'s ``state_dict``."""

    def __init__(self, modules: Sequence[MLP]) -> None:
        super().__init__()
        self.kind = _embedding_key(modules[0])[0]
        layers = [m.embedding for m in modules]
        if self.kind == "scale":
            self.names = ["embedding.weight"]
            tensors = [[layer.weight for layer in layers]]
        else:
            self.lite = _embedding_key(modules[0])[2]
            self.names = [
                "embedding.0.periodic.weight",
                "embedding.0.linear.weight",
                "embedding.0.linear.bias",
            ]
            tensors = [
                [layer[0].periodic.weight for layer in layers],  # (F, k)
                # (F, 2k, d) per feature; lite: torch's (d, 2k), kept so
                [layer[0].linear.weight for layer in layers],
                [layer[0].linear.bias for layer in layers],  # (F, d); lite (d,)
            ]
        self.tensors = nn.ParameterList(
            nn.Parameter(torch.stack([t.detach() for t in ts]).contiguous())
            for ts in tensors
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if self.kind == "scale":
            return X * self.tensors[0].unsqueeze(1)
        frequencies, weight, bias = self.tensors
        if not self.lite:  # feature f's own linear layer
            return _Periodic.apply(X, frequencies, weight, bias)
        angle = 2 * math.pi * frequencies.unsqueeze(1) * X.unsqueeze(-1)  # (K,B,F,k)
        v = torch.cat([torch.cos(angle), torch.sin(angle)], -1)  # (K, B, F, 2k)
        # one linear layer for every feature
        h = v @ weight.transpose(1, 2).unsqueeze(1) + bias[:, None, None]
        return torch.relu(h).flatten(2)  # (K, B, F * d)


class _Periodic(torch.autograd.Function):
    """The PLR embedding of K members, forward and backward written out:
    ``ReLU([cos(2 pi c x), sin(2 pi c x)] @ W_f + b_f)`` per feature ``f``,
    for inputs ``X`` ``(K, B, F)`` (no gradient: data), frequencies ``c``
    ``(K, F, k)``, weights ``(K, F, 2k, d)`` and biases ``(K, F, d)``; out
    ``(K, B, F * d)``.

    Written by hand because autograd's version of the same ops is 1.5x
    slower here, and this embedding is most of a packed plr member's step:
    the backward of ``cos`` and ``sin`` evaluates ``sin`` and ``cos`` again
    (here they come from the saved forward values), and the products run
    in the ``(K, F, B, .)`` layout with the features next to the members, so
    each is one batched product with no transposed copies.
    """

    @staticmethod
    def forward(ctx, X, frequencies, weight, bias):
        K, B, F = X.shape
        k, d = frequencies.shape[-1], weight.shape[-1]
        scaled = (X.transpose(1, 2) * (2 * math.pi)).contiguous().unsqueeze(-1)
        angle = (scaled * frequencies.unsqueeze(2)).contiguous()  # (K, F, B, k)
        v = torch.cat([torch.cos(angle), torch.sin(angle)], -1)  # (K, F, B, 2k)
        weight = weight.reshape(K * F, 2 * k, d)
        h = torch.baddbmm(bias.reshape(K * F, 1, d), v.view(K * F, B, 2 * k), weight)
        h = h.relu_().view(K, F, B, d)
        ctx.save_for_backward(scaled, v, weight, h)
        return h.transpose(1, 2).reshape(K, B, F * d)

    @staticmethod
    def backward(ctx, grad):
        scaled, v, weight, h = ctx.saved_tensors
        K, F, B, d = h.shape
        k = v.shape[-1] // 2
        grad_h = grad.view(K, B, F, d).transpose(1, 2)  # (K, F, B, d)
        # ReLU's own backward op: the gradient where the output is positive
        grad_h = torch.ops.aten.threshold_backward(grad_h, h, 0).reshape(K * F, B, d)
        grad_bias = grad_h.sum(1).view(K, F, d)
        flat_v = v.view(K * F, B, 2 * k)
        grad_weight = torch.bmm(flat_v.transpose(1, 2), grad_h).view(K, F, 2 * k, d)
        grad_v = torch.bmm(grad_h, weight.transpose(1, 2)).view(K, F, B, 2 * k)
        cos, sin = v[..., :k], v[..., k:]
        grad_cos, grad_sin = grad_v[..., :k], grad_v[..., k:]
        # d/da [cos a, sin a] = [-sin a, cos a]
        grad_angle = torch.addcmul(grad_sin * cos, grad_cos, sin, value=-1)
        grad_frequencies = (grad_angle * scaled).sum(2)  # (K, F, k)
        return None, grad_frequencies, grad_weight, grad_bias


class _PackedNorm(nn.Module):
    """One norm (one kind, one setting) for a contiguous group of members.

    Parameters and running buffers are stacked as ``(k, 1, width)`` (and
    ``num_batches_tracked`` as ``(k,)``), named as in the torch layer.
    """

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        first = layers[0]
        self.kind = _norm_kind(first)
        self.eps = getattr(first, "eps", None)
        self.momentum = getattr(first, "momentum", None)
        self.virtual_batch_size = getattr(first, "virtual_batch_size", None)
        self.groups = getattr(first, "num_groups", None)
        self.rmax = getattr(first, "rmax", None)
        self.dmax = getattr(first, "dmax", None)
        self.warmup_steps = getattr(first, "warmup_steps", None)
        for name in first.state_dict():
            stacked = torch.stack([layer.state_dict()[name] for layer in layers])
            if stacked.dim() == 2:
                stacked = stacked.unsqueeze(1)
            if name in ("weight", "bias"):
                self.register_parameter(name, nn.Parameter(stacked.clone()))
            else:
                self.register_buffer(name, stacked.clone())

    def _affine(self, y: torch.Tensor) -> torch.Tensor:
        weight = getattr(self, "weight", None)
        if weight is not None:
            y = y * weight
        bias = getattr(self, "bias", None)
        return y if bias is None else y + bias

    def forward(self, h: torch.Tensor, rows: _Rows) -> torch.Tensor:
        if self.kind == "none":
            return h
        if self.kind == "layer":
            return self._affine(F.layer_norm(h, h.shape[-1:], eps=self.eps))
        if self.kind == "rms":
            return self._affine(F.rms_norm(h, h.shape[-1:], eps=self.eps))
        if self.kind == "group":
            k, b, width = h.shape
            grouped = h.reshape(k, b, self.groups, width // self.groups)
            y = F.layer_norm(grouped, grouped.shape[-1:], eps=self.eps)
            return self._affine(y.reshape(k, b, width))
        if not self.training:
            std = torch.sqrt(self.running_var + self.eps)
            return self._affine((h - self.running_mean) / std)
        if self.momentum is not None and rows.full:
            if self.kind == "batch":
                return self._fused_batch_norm(h)
            chunks = self._equal_chunks(h.shape[1])
            if chunks:  # ghost and renorm
                return self._full_batch_forward(h, chunks)
        return self._batch_forward(h, rows)

    def _fused_batch_norm(self, h: torch.Tensor) -> torch.Tensor:
        """Plain batch norm when every member has a full batch: torch's own
        kernel on ``(1, k * width, B)``, one channel per member and unit."""
        k, b, width = h.shape
        weight, bias = getattr(self, "weight", None), getattr(self, "bias", None)
        y = F.batch_norm(
            h.transpose(1, 2).reshape(1, k * width, b),
            self.running_mean.view(-1),
            self.running_var.view(-1),
            None if weight is None else weight.reshape(-1),
            None if bias is None else bias.reshape(-1),
            training=True,
            momentum=self.momentum,
            eps=self.eps,
        )
        self.num_batches_tracked += 1
        # contiguous: the next ops (and their backward) are slow on strides
        return y.view(k, width, b).transpose(1, 2).contiguous()

    def _equal_chunks(self, b: int) -> int:
        """How many (virtual) batches a full batch of ``b`` rows makes, as
        :class:`GhostBatchNorm1d`'s ``tensor_split`` cuts it, when they are
        all the same size; else 0."""
        if self.virtual_batch_size is None:
            return 1
        chunks = max(b // self.virtual_batch_size, 1)
        return chunks if b % chunks == 0 else 0

    def _full_batch_forward(self, h: torch.Tensor, chunks: int) -> torch.Tensor:
        """Ghost batch norm and batch renorm when every member has a full
        batch of ``chunks`` equal (virtual) batches: the normalization by
        torch's batch-norm kernel, one channel per member, chunk and unit
        (the statistics by one-hot products, :meth:`_batch_forward`, cost
        one small matrix product per member), the statistics for the running
        update and renorm's r and d by one reduction outside autograd."""
        k, b, width = h.shape
        n = b // chunks
        blocks = h.view(k, chunks, n, width).transpose(2, 3)
        y, mean, invstd = torch.native_batch_norm(
            blocks.reshape(1, k * chunks * width, n),
            None,
            None,
            None,
            None,
            True,
            0.0,
            self.eps,
        )
        # the kernel's own statistics, as (k, G, w)
        mean = mean.view(k, chunks, width)
        var = (invstd.view(k, chunks, width) ** -2 - self.eps).clamp(min=0)
        # contiguous: the next ops (and their backward) are slow on strides
        y = y.view(k, chunks, width, n).transpose(2, 3).reshape(k, b, width)
        if self.kind == "batch_renorm":  # one chunk: r and d before the update
            r, d = self._renorm_factors(torch.sqrt(var + self.eps), mean)
            y = y * r + d
        for g in range(chunks):  # torch's running update, once per batch
            self.running_mean.lerp_(mean[:, g : g + 1], self.momentum)
            unbiased = var[:, g : g + 1] * (n / max(n - 1, 1))
            self.running_var.lerp_(unbiased, self.momentum)
        self.num_batches_tracked += chunks
        return self._affine(y)

    def _batch_forward(self, h: torch.Tensor, rows: _Rows) -> torch.Tensor:
        """Batch statistics per member (per virtual batch for ghost), over the
        member's real rows only; running statistics updated as torch does."""
        seg = rows.segments(self.virtual_batch_size)  # (k, B, G)
        seg_t = seg.transpose(1, 2)
        count = seg_t.sum(2, keepdim=True)  # (k, G, 1)
        mean = torch.bmm(seg_t, h) / count.clamp(min=1)
        centered = h - torch.bmm(seg, mean)
        var = torch.bmm(seg_t, centered * centered) / count.clamp(min=1)
        std = torch.sqrt(var + self.eps)
        if self.kind == "batch_renorm":  # r and d from the statistics before
            r, d = self._renorm_factors(std.detach(), mean.detach())
            y = centered / std * r + d
        else:
            # padding rows (in no batch) are divided by 1, not by 0
            y = centered / (torch.bmm(seg, std) + (1.0 - rows.mask))
        self._update_running(mean.detach(), var.detach(), count)
        return self._affine(y)

    @torch.no_grad()
    def _renorm_factors(self, std, mean) -> tuple[torch.Tensor, torch.Tensor]:
        """:class:`BatchRenorm1d`'s r and d (no gradient), with each member's
        limits from its own step count."""
        if self.warmup_steps == 0:
            done = torch.ones_like(self.num_batches_tracked, dtype=torch.float32)
        else:
            done = (self.num_batches_tracked.float() / self.warmup_steps).clamp(max=1)
        done = done.view(-1, 1, 1)
        rmax, dmax = 1.0 + (self.rmax - 1.0) * done, self.dmax * done
        running_std = torch.sqrt(self.running_var + self.eps)
        r = torch.clamp(std / running_std, 1.0 / rmax, rmax)
        d = torch.clamp((mean - self.running_mean) / running_std, -dmax, dmax)
        return r, d

    def _update_running(self, mean, var, count) -> None:
        """One torch-style running update per (virtual) batch, in order."""
        for g in range(mean.shape[1]):
            n = count[:, g : g + 1]  # (k, 1, 1)
            real = (n > 0).view(-1)
            self.num_batches_tracked += real.long()
            if self.momentum is None:
                factor = 1.0 / self.num_batches_tracked.clamp(min=1).float()
            else:
                factor = torch.full_like(n.view(-1), float(self.momentum))
            factor = (factor * real).view(-1, 1, 1)
            unbiased = var[:, g : g + 1] * n / (n - 1).clamp(min=1)
            self.running_mean.lerp_(mean[:, g : g + 1], factor)
            self.running_var.lerp_(unbiased, factor)


# -- the packed network --------------------------------------------------------------
def _widths(module: MLP) -> list[int]:
    """Hidden and output widths (the first layer's input width follows from
    the input embedding, which members may choose apart)."""
    return [b.linear.out_features for b in module.hidden] + [module.output.out_features]


def _check_same(modules: Sequence[MLP]) -> None:
    """Members must share widths and activation; the rest may differ."""
    first = modules[0]
    widths = _widths(first)
    act = repr(first.hidden[0].activation) if len(first.hidden) else None
    for module in modules[1:]:
        if _widths(module) != widths:
            raise ValueError("Packed members must have the same layer widths.")
        if len(module.hidden) and repr(module.hidden[0].activation) != act:
            raise ValueError("Packed members must share their activation.")


def _is_weight(name: str) -> bool:
    """A linear layer's weight: stacked as ``(k, in, out)``, torch's ``(out, in)``."""
    if name.startswith("embedding."):  # stacked in the member's own layout
        return False
    return name.endswith("linear.weight") or name == "output.weight"


class _Group(nn.Module):
    """The members of one norm group (same norm kind, settings and position):
    their linear layers stacked as ``(k, in, out)`` weights and ``(k, 1, out)``
    biases, and one :class:`_PackedNorm` per hidden layer."""

    def __init__(self, members: Sequence[MLP], position: Sequence[str]) -> None:
        super().__init__()
        self.position = list(position)
        self.n_features = _input_width(members[0])
        plain = members[0].embedding is None
        self.embedding = None if plain else _PackedEmbedding(members)
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        self.norms = nn.ModuleList()
        for layer in range(len(members[0].hidden)):
            blocks = [m.hidden[layer] for m in members]
            self._stack_linear([b.linear for b in blocks])
            self.norms.append(_PackedNorm([b.norm for b in blocks]))
        self._stack_linear([m.output for m in members])

    def _stack_linear(self, linears: Sequence[nn.Linear]) -> None:
        weight = torch.stack([lin.weight.detach().t() for lin in linears])
        bias = torch.stack([lin.bias.detach().unsqueeze(0) for lin in linears])
        self.weights.append(nn.Parameter(weight.contiguous()))
        self.biases.append(nn.Parameter(bias.contiguous()))

    def forward(self, h, rows: _Rows, noise, activation) -> torch.Tensor:
        if h.shape[-1] != self.n_features:  # a store padded for wider members
            h = h[..., : self.n_features]
        if self.embedding is not None:
            h = self.embedding(h)
        for layer, norm in enumerate(self.norms):
            h = torch.baddbmm(self.biases[layer], h, self.weights[layer])
            if self.position[layer] == "before":
                h = activation(norm(h, rows))
            else:
                h = norm(activation(h), rows)
            if noise[layer] is not None:
                h = h * noise[layer]
        return torch.baddbmm(self.biases[-1], h, self.weights[-1])


class PackedMLP(nn.Module):
    """K independent :class:`sknorm.nn.MLP` members, stacked and run at once.

    Members are grouped by norm (kind, settings and position); each group is
    a contiguous slice of the stack with its own stacked tensors: linear
    layers are ``(k, in, out)`` weights applied with :func:`torch.baddbmm` to
    ``(k, B, in)`` batches, and each hidden layer's norm is one batched op.
    A group runs through all its layers on its own, so the groups' outputs
    meet only at the end (one small concatenation, not one of every hidden
    layer's activations in each direction). Batch norms (plain, ghost, renorm)
    compute each member's statistics over its own real rows and keep running
    statistics per member. Members must share the layer widths and the
    activation; norm, norm position and dropout may differ.

    Parameters
    ----------
    modules : sequence of MLP
        The members, initialized; their tensors are copied.

    Attributes
    ----------
    order : list of int
        ``order[j]`` is the member (index in ``modules``) at stack position
        ``j``; members are stacked by norm group.
    groups : list of (int, int, tuple)
        Per norm group: first stack position, members, norm key.
    dropout : list of float
        Dropout probability per stack position.

    Examples
    --------
    >>> import torch
    >>> from sknorm.nn import MLP
    >>> from sknorm._packed import PackedMLP
    >>> members = [MLP(3, 2, (8,), norm=n) for n in ("batch", "layer")]
    >>> packed = PackedMLP(members).eval()
    >>> out = packed(torch.zeros(2, 5, 3))
    >>> out.shape
    torch.Size([2, 5, 2])
    >>> torch.allclose(out[packed.order.index(1)], members[1].eval()(torch.zeros(5, 3)))
    True
    """

    def __init__(self, modules: Sequence[MLP]) -> None:
        super().__init__()
        modules = list(modules)
        _check_same(modules)
        keys = [_group_key(m) for m in modules]
        ranked = sorted(set(keys), key=keys.index)
        self.order = sorted(range(len(modules)), key=lambda i: ranked.index(keys[i]))
        members = [modules[i] for i in self.order]
        self.groups = []  # (start, length, key) per group
        for key in ranked:
            start = [keys[i] for i in self.order].index(key)
            self.groups.append((start, keys.count(key), key))
        self.stacks = nn.ModuleList(
            _Group(members[s : s + n], [k[1] for k in key[2:]])
            for s, n, key in self.groups
        )
        hidden = len(members[0].hidden) > 0
        self.activation = members[0].hidden[0].activation if hidden else None
        self.widths = [b.linear.out_features for b in members[0].hidden]
        self.dropout = [
            float(m.hidden[0].dropout.p) if hidden else 0.0 for m in members
        ]

    @property
    def n_members(self) -> int:
        return len(self.order)

    def forward(
        self,
        X: torch.Tensor,
        rows: _Rows | None = None,
        noise: Sequence[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """Outputs ``(K, B, n_outputs)`` of ``X`` ``(K, B, n_features)``, in stack
        order. ``rows`` says which rows are real (all by default); ``noise``
        is one dropout multiplier ``(K, B, width)`` (or None) per hidden layer."""
        if rows is None:
            sizes = torch.full((X.shape[0],), X.shape[1], device=X.device)
            rows = _Rows(sizes, width=X.shape[1])
        if noise is None:
            noise = [None] * len(self.widths)
        outs = []
        for stack, (start, n, _) in zip(self.stacks, self.groups, strict=True):
            part = [None if t is None else t.narrow(0, start, n) for t in noise]
            outs.append(
                stack(
                    X.narrow(0, start, n), rows.narrow(start, n), part, self.activation
                )
            )
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def stacked(self) -> list[tuple[str, torch.Tensor, int, int]]:
        """Every stacked tensor (parameters and buffers) as ``(name in an
        MLP's state_dict, tensor, first stack position, members)``."""
        out = []
        for stack, (start, n, _) in zip(self.stacks, self.groups, strict=True):
            if stack.embedding is not None:
                for name, t in zip(
                    stack.embedding.names, stack.embedding.tensors, strict=True
                ):
                    out.append((name, t, start, n))
            for layer, norm in enumerate(stack.norms):
                prefix = f"hidden.{layer}."
                out.append((prefix + "linear.weight", stack.weights[layer], start, n))
                out.append((prefix + "linear.bias", stack.biases[layer], start, n))
                for name, t in norm.state_dict(keep_vars=True).items():
                    out.append((prefix + "norm." + name, t, start, n))
            out.append(("output.weight", stack.weights[-1], start, n))
            out.append(("output.bias", stack.biases[-1], start, n))
        return out

    def member_state_dicts(self, tensors=None) -> list[dict[str, torch.Tensor]]:
        """The ``state_dict`` of an :class:`MLP` per stack position, from the
        stack's tensors or from ``tensors`` (a snapshot of :meth:`stacked`)."""
        entries = self.stacked()
        if tensors is None:
            tensors = [t for _, t, _, _ in entries]
        states: list[dict] = [{} for _ in range(self.n_members)]
        for (name, _, start, _), t in zip(entries, tensors, strict=True):
            t = t.detach()
            if _is_weight(name):
                t = t.transpose(1, 2)  # stored (in, out), torch's Linear (out, in)
            elif t.dim() == 3 and not name.startswith("embedding."):
                t = t.flatten(1)  # (k, 1, width) stacks of vectors
            for i, member in enumerate(t.clone().unbind(0)):
                states[start + i][name] = member
        return states

    @torch.no_grad()
    def load_member_states(self, states: list, tensors=None) -> None:
        """The inverse of :meth:`member_state_dicts`: write each member's
        ``state_dict`` (None: leave it) into the stack or into ``tensors``."""
        entries = self.stacked()
        if tensors is None:
            tensors = [t for _, t, _, _ in entries]
        for (name, _, start, n), t in zip(entries, tensors, strict=True):
            for i in range(n):
                if states[start + i] is not None:
                    value = states[start + i][name]
                    if _is_weight(name):
                        value = value.t()
                    t.detach()[i].copy_(value.reshape(t[i].shape))

    def member_state_dict(self, j: int) -> dict[str, torch.Tensor]:
        """The ``state_dict`` of an :class:`MLP` holding stack position ``j``."""
        return self.member_state_dicts()[j]


# -- the members' data ---------------------------------------------------------------
@dataclass
class _Store:
    """Distinct data sets stacked as ``(D, N, ...)`` (zero-padded), and each
    member's data set (``index``) and row count (``sizes``), in stack order.
    Members that share a data set (one fold under one scaling) share its rows.
    The tensors are on the run's device (the data goes there once)."""

    X: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    sizes: list[int]

    @classmethod
    def of(cls, sets: Sequence[tuple], order: Sequence[int], device="cpu") -> _Store:
        distinct: dict[int, int] = {}
        for X, _ in sets:
            distinct.setdefault(id(X), len(distinct))
        firsts = {}
        for X, y in sets:
            firsts.setdefault(id(X), (X, y))
        width = max(len(X) for X, _ in sets)
        Xs, ys = zip(*firsts.values(), strict=True)
        return cls(
            X=_pad(Xs, width).to(device),
            y=_pad(ys, width).to(device),
            index=torch.tensor(
                [distinct[id(sets[i][0])] for i in order], device=device
            ),
            sizes=[len(sets[i][0]) for i in order],
        )

    def flat(self, member_rows: torch.Tensor) -> torch.Tensor:
        """Each member's rows ``(K, B)`` as positions in the flattened sets."""
        return self.index[:, None] * self.X.shape[1] + member_rows

    def take(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, y)`` batches ``(K, B, ...)`` at positions ``flat`` ``(K, B)``."""
        index = flat.view(-1)
        X = self.X.flatten(0, 1).index_select(0, index)
        y = self.y.flatten(0, 1).index_select(0, index)
        return X.view(*flat.shape, *X.shape[1:]), y.view(*flat.shape, *y.shape[1:])

    def rows(self, member_rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, y)`` batches ``(K, B, ...)`` of each member's rows ``(K, B)``."""
        return self.take(self.flat(member_rows))


def _pad(tensors: Sequence[torch.Tensor], width: int) -> torch.Tensor:
    """``(D, width, ...)``: each tensor's rows, then zeros; columns too, zero-
    padded to the widest (members whose folds one-hot encode to fewer columns
    read only their own, :class:`_Group`)."""
    trailing = [max(t.shape[d] for t in tensors) for d in range(1, tensors[0].dim())]
    out = tensors[0].new_zeros((len(tensors), width, *trailing))
    for i, t in enumerate(tensors):
        out[i][tuple(slice(0, n) for n in t.shape)] = t
    return out


def _schedule(sizes: Sequence[int], batch_size: int) -> list[tuple[list, list]]:
    """Per training step: each member's ``(start, stop)`` in its shuffled rows
    (``(0, 0)`` when its epoch has fewer steps), by SliceLoader's own rule
    for merging a small last batch."""
    loader = SliceLoader(None, batch_size, merge_small_last=True)
    bounds = [loader._bounds(n) for n in sizes]
    n_steps = max(len(b) for b in bounds)
    return [[b[s] if s < len(b) else (0, 0) for b in bounds] for s in range(n_steps)]


@dataclass
class _Step:
    """One training step's precomputed row positions and sizes."""

    positions: torch.Tensor  # (K, B) positions in each member's permutation
    sizes: list[int]

    @classmethod
    def of(cls, bounds: list[tuple[int, int]], device="cpu") -> _Step:
        sizes = [stop - start for start, stop in bounds]
        width = max(sizes)
        starts = torch.tensor([start for start, _ in bounds])
        positions = starts[:, None] + torch.arange(width)[None, :]
        limit = torch.tensor([max(stop - 1, 0) for _, stop in bounds])
        return cls(torch.minimum(positions, limit[:, None]).to(device), sizes)


def _permutations(generators, sizes: Sequence[int], alive: Sequence[bool], device):
    """``(K, N)`` on ``device``: each live member's shuffle of its rows, drawn
    from its own generator as SliceLoader draws it (``randperm``, on the CPU:
    the CPU fit's stream on any device), once per epoch."""
    perms = torch.zeros((len(sizes), max(sizes)), dtype=torch.long)
    for k, (gen, n) in enumerate(zip(generators, sizes, strict=True)):
        if alive[k]:
            perms[k, :n] = torch.randperm(n, generator=gen)
    return perms.to(device)


def _noise(
    model: PackedMLP, generators, sizes: Sequence[int], width: int, device
) -> list:
    """Dropout multipliers per hidden layer, each member's drawn from its own
    generator in the order and shape of its individual forward pass on the
    CPU (torch's dropout: ``empty_like(x).bernoulli_(1 - p).div_(1 - p)``),
    then moved to ``device`` in one copy per layer. (Copies from pinned
    memory would not wait for a GPU's queue; not done: never measured on a
    GPU.)"""
    widths = model.widths
    if not any(model.dropout):
        return [None] * len(widths)
    noise = [torch.ones(model.n_members, width, w) for w in widths]
    for k, p in enumerate(model.dropout):
        if p <= 0 or sizes[k] == 0:
            continue
        for layer, w in enumerate(widths):
            mask = torch.empty(sizes[k], w).bernoulli_(1 - p, generator=generators[k])
            noise[layer][k, : sizes[k]] = mask.div_(1 - p)
    return [n.to(device) for n in noise]


# -- losses and the optimizer --------------------------------------------------------
def _losses(out: torch.Tensor, y: torch.Tensor, rows: _Rows, task: str):
    """Each member's mean loss over its real rows ``(K,)``: cross-entropy on
    the logits, or the squared error averaged over rows and outputs."""
    mask = rows.mask.squeeze(2)
    if task == "classification":
        per_row = F.cross_entropy(
            out.flatten(0, 1), y.flatten(), reduction="none"
        ).view(mask.shape)
    else:
        per_row = (out - y).square().mean(2)
    return (per_row * mask).sum(1) / rows.count.view(-1)


class _Adam:
    """Adam (torch's update, ``amsgrad=False``, L2 ``weight_decay`` added to
    the gradient) on stacked parameters, with each member's own learning rate,
    weight decay and step count.

    Adam is elementwise, so one update of a ``(K, ...)`` stack is K separate
    Adams; what torch's optimizer cannot do is a learning rate (and a bias
    correction) per member, nor leave a member out of a step. Here a member
    outside the step (no batch at this step, stopped, diverged) keeps its
    parameters and moments exactly.

    The parameters live in one flat buffer, member by member (each
    parameter's ``data`` is a strided view of it), so each member's tensors
    are one contiguous segment. A step is torch's fused Adam kernel
    (``Adam(fused=True)``'s, one pass): on the whole buffer when every member
    steps alike, else on the segments of the members that step, with one
    step count each, one call per distinct learning rate and decay. The
    kernel rounds like the estimators' own Adam to within an ulp (1.5e-8 on
    a parameter after 3 steps, measured).
    """

    def __init__(self, model: PackedMLP, lr, weight_decay) -> None:
        self.params = []
        layout = []  # per group: (start, n, width)
        for stack, (start, n, _) in zip(model.stacks, model.groups, strict=True):
            params = list(stack.parameters())
            self.params += [(p, n) for p in params]
            layout.append((start, n, sum(p.numel() // n for p in params), params))
        total = sum(n * width for _, n, width, _ in layout)
        device = layout[0][3][0].device
        self.flat, self.grad, self.m, self.v = (
            torch.zeros(total, device=device) for _ in range(4)
        )
        buffers = (self.flat, self.grad, self.m, self.v)
        self.segments: list[tuple] = []  # per member: its (param, grad, m, v)
        self.grad_views, base = [], 0
        for _, n, width, params in layout:
            blocks = [t[base : base + n * width].view(n, width) for t in buffers]
            self.segments += [tuple(b[i] for b in blocks) for i in range(n)]
            col = 0
            for p in params:
                e = p.numel() // n
                blocks[0][:, col : col + e].copy_(p.detach().reshape(n, e))
                p.data = blocks[0][:, col : col + e].view(p.shape)
                self.grad_views.append(blocks[1][:, col : col + e])
                col += e
            base += n * width
        self.settings: dict[tuple, list[int]] = {}
        for j, (rate, decay) in enumerate(zip(lr, weight_decay, strict=True)):
            self.settings.setdefault((float(rate), float(decay)), []).append(j)
        # fused Adam takes its step counts on the parameters' device
        step = {"dtype": torch.float32, "device": device}
        self.counts = [torch.zeros((), **step) for _ in lr]
        self.count = torch.zeros((), **step)  # while all step alike
        self.alike = True  # every member has taken every step so far

    def take_over(self, old: _Adam, members: list[int]) -> None:
        """Go on from ``old``'s state of its stack positions ``members`` (in
        that order; the same norm groups, so the same segment layouts)."""
        counts = []
        for i, j in enumerate(members):
            moments = zip(self.segments[i][2:], old.segments[j][2:], strict=True)
            for new_t, old_t in moments:
                new_t.copy_(old_t)
            counts.append(float(old.count if old.alike else old.counts[j]))
        self.alike = len(set(counts)) == 1
        self.count.fill_(counts[0])
        for count, value in zip(self.counts, counts, strict=True):
            count.fill_(value)

    def _gather_grads(self) -> None:
        for (p, n), view in zip(self.params, self.grad_views, strict=True):
            view.copy_(p.grad.view(n, -1))
            p.grad = None

    @torch.no_grad()
    def step(
        self,
        active: torch.Tensor,
        everyone: bool | None = None,
        on: list[bool] | None = None,
    ) -> None:
        """One Adam step of the members where ``active``; the rest keep still.
        ``everyone``: whether all are active, and ``on``: ``active`` as Python
        bools, when the caller knows (no wait for a GPU)."""
        if everyone is None:
            everyone = bool(active.all())
        self._gather_grads()
        if self.alike and everyone and len(self.settings) == 1:
            (lr, decay), _ = next(iter(self.settings.items()))
            self.count += 1
            tensors = [self.flat], [self.grad], [self.m], [self.v]
            self._fused(*tensors, [self.count], lr, decay)
            return
        if self.alike:  # from now on each member counts its own steps
            self.alike = False
            for c in self.counts:
                c.copy_(self.count)
        on = active.tolist() if on is None else on
        for (lr, decay), members in self.settings.items():
            members = [j for j in members if on[j]]
            if members:
                counts = [self.counts[j] for j in members]
                torch._foreach_add_(counts, 1)
                tensors = zip(*(self.segments[j] for j in members), strict=True)
                self._fused(*map(list, tensors), counts, lr, decay)

    @staticmethod
    def _fused(params, grads, m, v, counts, lr: float, decay: float) -> None:
        beta1, beta2 = BETAS
        torch._fused_adam_(
            params,
            grads,
            m,
            v,
            [],
            counts,
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            weight_decay=decay,
            eps=ADAM_EPS,
            amsgrad=False,
            maximize=False,
        )


def _chunks(store: _Store):
    """Every member's rows of ``store`` in order, a chunk at a time:
    ``(X, y, _Rows)`` batches ``(K, chunk, ...)``."""
    device = store.X.device
    sizes, longest = torch.tensor(store.sizes, device=device), max(store.sizes)
    for start in range(0, longest, EVAL_CHUNK):
        width = min(EVAL_CHUNK, longest - start)
        positions = start + torch.arange(width, device=device)
        positions = positions.expand(len(store.sizes), width)
        X, y = store.rows(positions)
        yield X, y, _Rows((sizes - start).clamp(0, width), width=width)


@torch.no_grad()
def _eval_losses(model: PackedMLP, store: _Store, task: str) -> torch.Tensor:
    """Each member's mean loss ``(K,)`` on its data set, in evaluation mode
    (batch norms on their running statistics), a chunk of rows at a time."""
    model.eval()
    device = store.X.device
    total = torch.zeros(model.n_members, dtype=torch.float64, device=device)
    for X, y, rows in _chunks(store):
        total += _losses(model(X, rows), y, rows, task).double() * rows.sizes
    model.train()
    return total / torch.tensor(store.sizes, device=device).clamp(min=1)


@torch.no_grad()
def _predict(model: PackedMLP, store: _Store) -> list:
    """Each member's float64 outputs on its rows, in evaluation mode: the
    stack converted to float64 (training is over), a chunk of rows at a time."""
    model.double().eval()
    out = torch.cat([model(X.double(), rows) for X, _, rows in _chunks(store)], dim=1)
    out = out.cpu()
    return [out[j, :n].numpy() for j, n in enumerate(store.sizes)]


@dataclass
class PackedRun:
    """What :func:`train_packed` returns, one entry per member (in the order
    the members were given).

    Attributes
    ----------
    states : list of dict
        The trained ``state_dict`` of each member's :class:`MLP` (the best
        epoch's with early stopping, as skorch's ``load_best``).
    train_loss : list of list of float
        Per epoch: the mean of the batch losses weighted by batch size
        (skorch's ``train_loss``).
    valid_loss : list of list of float
        Per epoch, with early stopping: the loss on the member's own
        validation split, in evaluation mode (skorch's ``valid_loss``).
    heldout_loss : list of list of float
        Per epoch, with ``heldout_sets``: the loss on the member's held-out
        rows, in evaluation mode.
    errors : list of str or None
        Why a member failed (a non-finite loss), or None.
    outputs : list of ndarray or None
        With ``predict_sets``: each member's raw outputs on its rows, float64
        ``(n_k, n_outputs)``, from its final state run in float64 in
        evaluation mode (what its estimator's ``predict`` computes).
    fit_time : float
        Seconds the whole packed run took.
    """

    states: list
    train_loss: list
    valid_loss: list
    heldout_loss: list
    errors: list
    outputs: list | None = None
    fit_time: float = 0.0


class _Control:
    """What the workers share: the stop flag (an error or Ctrl-C elsewhere)
    and the progress callback, called under a lock."""

    def __init__(self, progress: Callable[[float], Any] | None, max_epochs: int):
        self.stop = threading.Event()
        self.progress, self.max_epochs = progress, max(int(max_epochs), 1)
        self._lock = threading.Lock()

    def advance(self, member_epochs: int) -> None:
        if self.progress is not None and member_epochs:
            with self._lock:
                self.progress(member_epochs / self.max_epochs)


class _Stopped(Exception):
    """A worker stopped because another failed or the run was interrupted."""


class _Stopper:
    """skorch's :class:`~skorch.callbacks.EarlyStopping` (``valid_loss``,
    relative ``tol``, ``load_best=True``), one state per member. The best
    epoch's tensors are kept as one snapshot of the stack, whose rows are
    overwritten for the members that improved."""

    def __init__(self, model: PackedMLP, patience: int, tol: float) -> None:
        self.patience, self.tol = int(patience), float(tol)
        k = model.n_members
        self.threshold = [math.inf] * k
        self.misses = [0] * k
        self.best_epoch: list[int | None] = [None] * k
        self.model, self.entries = model, model.stacked()
        self.snapshot = [t.detach().clone() for _, t, _, _ in self.entries]

    def update(self, losses: Sequence[float], live: Sequence[int], epoch: int):
        """Record the live members' validation losses; the ones that stop."""
        improved, stopped = [], []
        for j in live:
            if losses[j] < self.threshold[j]:
                self.misses[j] = 0
                self.threshold[j] = losses[j] - self.tol * losses[j]
                self.best_epoch[j] = epoch
                improved.append(j)
            else:
                self.misses[j] += 1
                if self.misses[j] == self.patience:
                    stopped.append(j)
        self._keep(improved)
        return stopped

    def take_over(self, old: _Stopper, members: list[int], best: list) -> None:
        """Go on from ``old``'s state of its stack positions ``members``;
        ``best``: their best epoch's state dicts."""
        for name in ("threshold", "misses", "best_epoch"):
            setattr(self, name, [getattr(old, name)[j] for j in members])
        kept = [
            b if old.best_epoch[j] is not None else None
            for j, b in zip(members, best, strict=True)
        ]
        self.model.load_member_states(kept, self.snapshot)

    def restore_best(self) -> None:
        """Put each member's best epoch's tensors back in the stack."""
        best = [j for j, epoch in enumerate(self.best_epoch) if epoch is not None]
        self._copy_rows(best, to_snapshot=False)

    def _keep(self, members: list[int]) -> None:
        self._copy_rows(members, to_snapshot=True)

    @torch.no_grad()
    def _copy_rows(self, members: list[int], *, to_snapshot: bool) -> None:
        """Copy the stack positions ``members`` between stack and snapshot."""
        for (_, t, start, n), snap in zip(self.entries, self.snapshot, strict=True):
            rows = [j - start for j in members if start <= j < start + n]
            if rows:
                index = torch.tensor(rows, device=t.device)
                if to_snapshot:
                    snap[index] = t.detach()[index]
                else:
                    t.detach()[index] = snap[index]


class _Trainer:
    """The packed training loop; state per member, in stack order."""

    def __init__(self, modules, generators, settings, control, ids=None, group=None):
        self.device = torch.device(settings.get("device") or "cpu")
        self.model = PackedMLP(modules).to(self.device).train()
        order = self.model.order
        self.task, self.control = settings["task"], control
        self.max_epochs = int(settings["max_epochs"])
        # each stack position's member, as an index into the worker's members;
        # the worker's members (their initial networks and settings) and the
        # results of those that left the stack early
        self.ids = [(ids or list(range(len(modules))))[i] for i in order]
        self.group = group or {
            "modules": list(modules),
            "settings": settings,
            "finished": {},
        }
        self.generators = [generators[i] for i in order]
        self.train = _Store.of(settings["train_sets"], order, self.device)
        self.valid, self.heldout = (
            _Store.of(sets, order, self.device) if sets else None
            for sets in (settings.get("valid_sets"), settings.get("heldout_sets"))
        )
        self.steps = [
            _Step.of(b, self.device)
            for b in _schedule(self.train.sizes, settings["batch_size"])
        ]
        lr, decay = (
            [float(v[i]) for i in order]
            for v in (settings["lr"], settings["weight_decay"])
        )
        self.adam = _Adam(self.model, lr, decay)
        k = self.model.n_members
        self.alive, self.errors = [True] * k, [None] * k
        self.curves = {
            name: [[] for _ in range(k)] for name in ("train", "valid", "heldout")
        }
        patience = settings.get("patience")
        self.stopper = (
            _Stopper(self.model, patience, settings["tol"]) if patience else None
        )
        self.epochs = [0] * k
        self._rows: dict[tuple, _Rows] = {}  # per step and set of live members

    def _epoch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass over every live member's rows: ``(mean loss, first bad
        step, its loss)`` per member (bad step -1: none)."""
        k, device = self.model.n_members, self.device
        perms = _permutations(self.generators, self.train.sizes, self.alive, device)
        flat = self.train.flat(perms)
        alive = tuple(self.alive)
        ok = torch.tensor(self.alive, device=device)
        clean = True  # no member failed yet
        loss_sum = torch.zeros(k, dtype=torch.float64, device=device)
        row_sum = torch.zeros(k, dtype=torch.float64, device=device)
        bad_step = torch.full((k,), -1, device=device)
        bad_loss = torch.zeros(k, device=device)
        for s, step in enumerate(self.steps):
            if self.control.stop.is_set():
                raise _Stopped
            rows, weight, everyone = self._step_rows(s, step, alive)
            X, y = self.train.take(flat.gather(1, step.positions))
            noise = _noise(self.model, self.generators, rows.counts, rows.width, device)
            losses = _losses(self.model(X, rows, noise), y, rows, self.task)
            if clean and bool(torch.isfinite(losses).all()):
                # the usual step: a member without rows here has loss 0 and
                # zero gradients, and the optimizer leaves it out
                losses.sum().backward()
                self.adam.step(rows.active, everyone, rows.on)
                loss_sum += losses.detach().double() * weight
                row_sum += weight
                continue
            clean = False
            bad = rows.active & ok & ~torch.isfinite(losses)
            bad_step = torch.where(bad, s, bad_step)
            bad_loss = torch.where(bad, losses.detach(), bad_loss)
            ok &= ~bad
            on = rows.active & ok
            torch.where(on, losses, 0.0).sum().backward()
            self.adam.step(on)
            loss_sum += torch.where(on, losses.detach().double() * weight, 0.0)
            row_sum += weight * on
        return loss_sum / row_sum.clamp(min=1), bad_step, bad_loss

    def _step_rows(self, s: int, step: _Step, alive: tuple) -> tuple:
        """Step ``s``'s rows for the members ``alive`` at the epoch's start:
        ``(_Rows, rows per member as float64, whether every member has
        rows)``, made once per step and set of live members."""
        key = (s, alive)
        if key not in self._rows:
            sizes = [n if a else 0 for n, a in zip(step.sizes, alive, strict=True)]
            sizes = torch.tensor(sizes, device=self.device)
            rows = _Rows(sizes, width=len(step.positions[0]))
            weight = rows.sizes.double()
            self._rows[key] = (rows, weight, bool(rows.active.all()))
        return self._rows[key]

    def _drop(self, j: int, epoch: int) -> None:
        """Member ``j`` trains no more after ``epoch``: report its rest."""
        self.alive[j] = False
        self.control.advance(self.max_epochs - epoch)

    def _fail(self, j: int, epoch: int, message: str) -> None:
        self._drop(j, epoch)
        self.errors[j] = f"Training diverged: {message}. Scale the inputs or lower lr."

    def _end_epoch(self, epoch: int, train, bad_step, bad_loss) -> None:
        """Record the epoch's losses; mark diverged and stopped members."""
        live = []
        # as Python numbers in one copy each (one wait for a GPU, not K)
        train, bad_step, bad_loss = (t.tolist() for t in (train, bad_step, bad_loss))
        for j in range(self.model.n_members):
            if self.alive[j] and bad_step[j] >= 0:
                self._fail(
                    j,
                    epoch - 1,
                    f"the training loss is {bad_loss[j]} at epoch {epoch}, "
                    f"batch {bad_step[j] + 1}",
                )
            elif self.alive[j]:
                self.curves["train"][j].append(train[j])
                self.epochs[j] = epoch
                live.append(j)
        self.control.advance(len(live))
        if self.heldout is not None:
            heldout = _eval_losses(self.model, self.heldout, self.task).tolist()
            for j in live:
                self.curves["heldout"][j].append(heldout[j])
        if self.valid is not None:
            self._validate(epoch, live)

    def _validate(self, epoch: int, live: list[int]) -> None:
        valid = _eval_losses(self.model, self.valid, self.task).tolist()
        finite = []
        for j in live:
            if math.isfinite(valid[j]):
                self.curves["valid"][j].append(valid[j])
                finite.append(j)
            else:
                message = f"the validation loss is {valid[j]} at epoch {epoch}"
                self._fail(j, epoch, message)
        if self.stopper is not None:
            for j in self.stopper.update(valid, finite, epoch):
                self._drop(j, epoch)

    def _final_states(self, states: list[dict] | None = None) -> list[dict]:
        """Each member's final state: its best epoch's with early stopping
        (``states``: the current ones, when the caller has them)."""
        states = states or self.model.member_state_dicts()
        if self.stopper is None:
            return states
        best = self.model.member_state_dicts(self.stopper.snapshot)
        return [
            best[j] if self.stopper.best_epoch[j] is not None else state
            for j, state in enumerate(states)
        ]

    def _result(self, j: int, state: dict) -> dict:
        return {
            "states": state,
            "train_loss": self.curves["train"][j],
            "valid_loss": self.curves["valid"][j],
            "heldout_loss": self.curves["heldout"][j],
            "errors": self.errors[j],
        }

    def worth_compacting(self) -> bool:
        """A quarter of the stack has stopped (early stopping, divergence),
        and members still train: their share of every product is waste."""
        stopped = self.alive.count(False)
        return 0 < stopped < len(self.alive) and 4 * stopped >= len(self.alive)

    def compacted(self) -> _Trainer:
        """A trainer of the live members only, each going on from where it is
        (weights, batch-norm statistics, Adam moments and step count,
        early-stopping state, curves, RNG); the stopped members' results are
        kept in the worker's ``finished``."""
        current = self.model.member_state_dicts()
        final = self._final_states(current)
        live = [j for j, alive in enumerate(self.alive) if alive]
        for j, alive in enumerate(self.alive):
            if not alive:
                self.group["finished"][self.ids[j]] = self._result(j, final[j])
        modules = []
        for j in live:
            module = copy.deepcopy(self.group["modules"][self.ids[j]])
            module.load_state_dict(current[j])
            modules.append(module)
        ids = [self.ids[j] for j in live]
        settings = _subset(self.group["settings"], ids)
        new = _Trainer(
            modules,
            [self.generators[j] for j in live],
            settings,
            self.control,
            ids=ids,
            group=self.group,
        )
        assert new.model.order == list(range(len(live)))  # stays grouped by norm
        for name, curves in self.curves.items():
            new.curves[name] = [curves[j] for j in live]
        new.epochs = [self.epochs[j] for j in live]
        new.adam.take_over(self.adam, live)
        if self.stopper is not None:
            new.stopper.take_over(self.stopper, live, [final[j] for j in live])
        return new

    def outcome(self, predict_sets=None) -> dict:
        """Each of the worker's members' final state (its best epoch's, with
        early stopping; on the CPU), curves, error and, with ``predict_sets``,
        outputs, in the order the members were given."""
        results = dict(self.group["finished"])
        for j, state in enumerate(self._final_states()):
            results[self.ids[j]] = self._result(j, state)
        given = range(len(results))
        out = {name: [results[i][name] for i in given] for name in results[0]}
        if self.device.type != "cpu":
            out["states"] = [
                {name: t.cpu() for name, t in state.items()} for state in out["states"]
            ]
        if predict_sets is not None:
            if self.group["finished"]:  # one stack of every member, as it ended
                modules = [copy.deepcopy(m) for m in self.group["modules"]]
                for module, state in zip(modules, out["states"], strict=True):
                    module.load_state_dict(state)
                model, ids = PackedMLP(modules).to(self.device), None
            else:
                if self.stopper is not None:
                    self.stopper.restore_best()
                model, ids = self.model, self.ids
            store = _Store.of(predict_sets, model.order, self.device)
            outputs = _predict(model, store)
            ids = ids or model.order
            out["outputs"] = [outputs[ids.index(i)] for i in given]
        return out


#: A hidden layer's work under each norm, as a share of its linear layer's:
#: ``python benchmarks/bench_packed.py --only norms`` times a step of 25
#: members with hidden (64, 64) on one core per norm; these are the extra
#: times over no norm's, as a share of it, averaged over two runs (which
#: differ by up to 30%: the deal needs no more than the rough size). Ghost
#: batch norm's was 2.3 before full batches took the batch-norm kernel.
NORM_WORK = {
    "none": 0.0,
    "layer": 0.6,
    "rms": 0.8,
    "group": 1.2,
    "batch": 1.3,
    "batch_renorm": 1.7,
    "ghost": 1.8,
}


def work_per_row(module: MLP) -> float:
    """A member's work per row, roughly: its multiply-adds (the input
    embedding's included: a PLR member's are 20 times a plain one's), the
    hidden layers' weighed up by their norm's own work (:data:`NORM_WORK`)."""
    work = 0.0
    for name, p in module.named_parameters():
        if p.dim() >= 2 and name.endswith("weight"):
            work += p.numel()
    for block in module.hidden:
        work += block.linear.weight.numel() * NORM_WORK[_norm_kind(block.norm)]
    return work


#: How far above an equal share of the work a worker may be dealt, so that
#: every norm group goes to one worker whole: splitting a group makes both
#: halves pay its per-step ops. On the 3 x 3 sweep (groups none, batch and
#: layer; two workers dealt none + layer and batch, 6% apart by
#: :func:`work_per_row`) whole groups beat equal cuts in 4 of 5 alternating runs,
#: median 2.46 s against 2.71 s (``python benchmarks/bench_packed.py --only
#: deal``; 13 of 15 in the trials before it).
WHOLE_GROUP_SLACK = 0.10


def _deal(modules: Sequence[MLP], n_workers: int) -> list[list[int]]:
    """The members split among the workers, by their work (:func:`work_per_row`):
    whole norm groups, each to the least loaded worker, biggest first, when
    that leaves no worker more than :data:`WHOLE_GROUP_SLACK` above an equal
    share and none empty; else sorted by norm group and cut into runs of
    equal work, so each worker gets an equal share of the arithmetic and as
    few groups as that allows (each group costs a worker a few small ops per
    layer and step). Every worker gets at least one member."""
    keys = [_group_key(m) for m in modules]
    ranked = sorted(set(keys), key=keys.index)
    work = [work_per_row(m) for m in modules]
    members = {key: [i for i, k in enumerate(keys) if k == key] for key in ranked}
    group_work = {key: sum(work[i] for i in members[key]) for key in ranked}
    loads, shares = [0.0] * n_workers, [[] for _ in range(n_workers)]
    for key in sorted(ranked, key=lambda key: -group_work[key]):
        w = loads.index(min(loads))
        loads[w] += group_work[key]
        shares[w] += members[key]
    if all(shares) and max(loads) <= (1 + WHOLE_GROUP_SLACK) * sum(work) / n_workers:
        return [sorted(share) for share in shares]
    order = sorted(range(len(modules)), key=lambda i: ranked.index(keys[i]))
    done = [0.0, *itertools.accumulate(work[i] for i in order)]
    bounds = [0]
    for w in range(1, n_workers):
        # the cut nearest this worker's share of the work, leaving at least
        # one member to each worker
        cuts = range(bounds[-1] + 1, len(order) - (n_workers - w) + 1)
        target = w * done[-1] / n_workers
        bounds.append(min(cuts, key=lambda j: abs(done[j] - target)))
    bounds.append(len(order))
    return [sorted(order[a:b]) for a, b in itertools.pairwise(bounds)]


def _subset(settings: dict, members: list[int]) -> dict:
    """The settings of some members: per-member lists narrowed to them."""
    out = dict(settings)
    lists = ("train_sets", "valid_sets", "heldout_sets", "predict_sets")
    for key in (*lists, "lr", "weight_decay"):
        if settings.get(key) is not None:
            out[key] = [settings[key][i] for i in members]
    return out


def train_group_alone(modules, generators, settings: dict) -> dict:
    """One group's packed run in a process of its own (a Dask worker): the
    same run as a worker thread's, with one torch thread, no progress reports
    and nothing shared; what a ``runner`` of :func:`train_packed` calls."""
    control = _Control(None, int(settings["max_epochs"]))
    with fit_context(None, 1):
        return _train_group(modules, generators, settings, control)


def _train_group(modules, generators, settings: dict, control: _Control) -> dict:
    """One worker's packed run over its members (in their given order)."""
    trainer = _Trainer(modules, generators, settings, control)
    for epoch in range(1, int(settings["max_epochs"]) + 1):
        if not any(trainer.alive):
            break
        trainer._end_epoch(epoch, *trainer._epoch())
        if trainer.worth_compacting():
            trainer = trainer.compacted()
    return trainer.outcome(settings.get("predict_sets"))


def train_packed(
    modules: Sequence[MLP],
    generators: Sequence[torch.Generator],
    train_sets: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    task: str,
    max_epochs: int,
    batch_size: int,
    lr: Sequence[float],
    weight_decay: Sequence[float],
    valid_sets: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
    heldout_sets: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
    patience: int | None = None,
    tol: float = 1e-4,
    n_threads: int | None = None,
    predict_sets: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
    progress: Callable[[float], Any] | None = None,
    runner: Callable[[list[tuple]], Iterable[dict]] | None = None,
    device: str | torch.device = "cpu",
) -> PackedRun:
    """Train K members at once, each as its individual estimator fit would.

    Each member trains on its own rows, shuffled every epoch by its own
    generator (``randperm``, as :class:`~sknorm._training.SliceLoader`), in
    mini-batches with SliceLoader's small-last-batch merge, with its own Adam
    learning rate and weight decay. A member whose batch loss is not finite is
    marked failed and frozen; one that early-stops is frozen; the others go on.

    The members are split among ``n_threads`` workers (by norm group, in equal
    shares of the work: a PLR member counts for about 20 plain ones), each a
    Python thread that trains its share as one packed stack with one torch
    thread. Torch releases the GIL inside its kernels, so the workers' stacked
    products run on separate cores; unlike torch's own OpenMP threads, which
    wait on each other at every op (on a busy machine, spinning), a worker that
    loses its core only slows itself. Every op is per member, so a member's run
    depends on its worker only through rounding (kernels block a stack
    differently for different sizes: about 1e-8 relative on the losses); the
    same ``n_threads`` gives the same run.

    On a GPU (``device="cuda"``) the members train as one stack on the
    device, whatever ``n_threads``: the data goes there once, and each step
    is a few kernels for all members, where an individual fit launches as
    many for each. The shuffles and dropout masks are still drawn on the CPU
    from each member's generator (and the masks copied over), so a member
    trains as its estimator's fit on the CPU would, up to the GPU's rounding
    (an estimator fitted on the GPU draws them from the GPU's own RNG).

    Parameters
    ----------
    modules : sequence of MLP
        The members' initialized networks (see :func:`seeded_member`).
    generators : sequence of torch.Generator
        Each member's RNG, for its shuffles and dropout masks.
    train_sets : sequence of (X, y) tensors
        Each member's training rows: ``X`` float32 ``(n_k, n_features)``, ``y``
        int64 class indices ``(n_k,)`` or float32 ``(n_k, n_outputs)``. Members
        given the same ``X`` object share one copy.
    task : {"classification", "regression"}
        Cross-entropy on logits, or the mean squared error.
    max_epochs : int
        Passes over the training rows.
    batch_size : int
        Rows per mini-batch.
    lr, weight_decay : sequence of float
        Each member's Adam learning rate and L2 penalty.
    valid_sets : sequence of (X, y) or None, default=None
        Each member's early-stopping split, scored in evaluation mode after
        every epoch.
    heldout_sets : sequence of (X, y) or None, default=None
        Each member's held-out rows, scored after every epoch (the curves).
    patience : int or None, default=None
        Early stopping on ``valid_sets``'s loss, as skorch's ``EarlyStopping``
        with ``load_best=True``; None trains every epoch.
    tol : float, default=1e-4
        Relative improvement early stopping counts.
    n_threads : int or None, default=None
        Worker threads (at most one per member). None: every core this
        process may use (``OMP_NUM_THREADS`` when set) when the stack is big
        enough to pay, else one (:func:`~sknorm._training.default_num_threads`
        on members x batch x widest layer).
    predict_sets : sequence of (X, y) or None, default=None
        Rows to run each member on once trained (``X`` float64; ``y``
        unused): :attr:`PackedRun.outputs`.
    progress : callable or None, default=None
        Called from the workers with a number of fits done (a fraction: one
        member's epoch is ``1 / max_epochs`` of a fit; a member that stops
        early reports the rest of its share at once); the calls add up to
        ``len(modules)``.
    runner : callable or None, default=None
        Runs the groups elsewhere instead of in worker threads: called once
        with one ``(modules, generators, settings)`` job per group, it returns
        (or yields, in the jobs' order) what :func:`train_group_alone` returns
        for each, e.g. through joblib on a Dask cluster. Progress then moves a
        group at a time, as each result arrives.
    device : str or torch.device, default="cpu"
        Where the stack trains. The members' :attr:`PackedRun.states` come
        back on the CPU.

    Returns
    -------
    run : PackedRun

    Examples
    --------
    >>> import torch
    >>> from sknorm._packed import seeded_member, train_packed
    >>> X, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    >>> members = [seeded_member({"n_features": 3, "n_outputs": 2,
    ...     "hidden_layer_sizes": (8,), "norm": n}, seed=0) for n in ("batch", "layer")]
    >>> modules, generators = zip(*members)
    >>> run = train_packed(modules, generators, [(X, y)] * 2, task="classification",
    ...     max_epochs=2, batch_size=16, lr=[1e-3, 1e-2], weight_decay=[0.0, 0.0])
    >>> [len(losses) for losses in run.train_loss]
    [2, 2]
    """
    settings = dict(locals())
    for name in ("modules", "generators", "runner", "progress"):
        settings.pop(name)  # what the groups share: the control has progress
    start = time.perf_counter()
    widths = [w.shape[0] for w in modules[0].parameters() if w.dim() == 2]
    work = len(modules) * batch_size * max(widths)
    n_workers = min(n_threads or default_num_threads(work), len(modules))
    if torch.device(device).type != "cpu":
        n_workers = 1  # one stack: the device runs it, not the CPU's threads
    groups = _deal(modules, n_workers)
    control = _Control(progress, int(max_epochs))
    if runner is not None:
        outcomes = _run_elsewhere(
            modules, generators, settings, groups, runner, progress
        )
    else:
        with fit_context(None, 1):
            if n_workers == 1:
                outcomes = [_train_group(modules, generators, settings, control)]
            else:
                outcomes = _run_workers(modules, generators, settings, groups, control)
    merged = {name: [None] * len(modules) for name in outcomes[0]}
    for members, outcome in zip(groups, outcomes, strict=True):
        for name, values in outcome.items():
            for i, value in zip(members, values, strict=True):
                merged[name][i] = value
    return PackedRun(**merged, fit_time=time.perf_counter() - start)


def _run_elsewhere(
    modules, generators, settings, groups, runner, progress
) -> list[dict]:
    """Each group as one job of ``runner`` (see :func:`train_packed`); the
    progress callback stays here and moves as each group's result arrives."""
    jobs = [
        (
            [modules[i] for i in members],
            [generators[i] for i in members],
            _subset(settings, members),
        )
        for members in groups
    ]
    outcomes = []
    for members, outcome in zip(groups, runner(jobs), strict=True):
        outcomes.append(outcome)
        if progress is not None:
            progress(len(members))
    return outcomes


def _run_workers(modules, generators, settings, groups, control) -> list[dict]:
    """Each group trained by its own thread; an error (or Ctrl-C here) stops
    them all at their next step and is raised once they have stopped."""
    with ThreadPoolExecutor(len(groups), thread_name_prefix="sknorm-packed") as pool:
        futures = [
            pool.submit(
                _train_group,
                [modules[i] for i in members],
                [generators[i] for i in members],
                _subset(settings, members),
                control,
            )
            for members in groups
        ]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            control.stop.set()
            raise
    return [future.result() for future in futures]
