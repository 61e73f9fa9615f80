"""The torch module behind the estimators: an MLP with a configurable hidden norm.

Torch only: nothing here imports scikit-learn, so the module can be used (and
exported) on its own. The norm layers and their factory, written in
``_norms.py``, are public here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from numbers import Integral, Real

import torch
from rtdl_num_embeddings import PeriodicEmbeddings
from torch import nn

from ._norms import (
    NORM_DEFAULTS,
    NORMS,
    BatchRenorm1d,
    GhostBatchNorm1d,
    KerasBatchNorm1d,
    make_norm,
    norm_options,
)

__all__ = [
    "ACTIVATIONS",
    "INPUT_EMBEDDINGS",
    "MLP",
    "NORM_POSITIONS",
    "PERIODIC_DEFAULTS",
    "Affine",
    "BatchRenorm1d",
    "GhostBatchNorm1d",
    "FeatureScale",
    "KerasBatchNorm1d",
    "embedding_options",
    "make_norm",
    "norm_options",
]

#: Activation names accepted by ``activation=...`` and the torch layer each builds.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "identity": nn.Identity,
}

NORM_POSITIONS = ("before", "after")

#: ``input_embedding=...`` names: learned layers in front of the first block.
INPUT_EMBEDDINGS = ("none", "scale", "periodic")

#: ``embedding_params`` of ``input_embedding="periodic"`` left out: the
#: defaults of ``rtdl_num_embeddings.PeriodicEmbeddings`` (Gorishniy et al.,
#: 2022), whose authors tuned them on their benchmark.
PERIODIC_DEFAULTS = {
    "d_embedding": 24,
    "n_frequencies": 48,
    "frequency_init_scale": 0.01,
    "lite": False,
}


class FeatureScale(nn.Module):
    """A learned scale per input feature: ``x * weight``, ``weight`` starting at 1.

    RealMLP's first layer (Holzmüller et al., NeurIPS 2024, "scaling layer"):
    the network learns how much each (already scaled) feature matters before
    the first linear layer mixes them. Written here because it is one
    multiplication; no library ships it as a layer.

    Parameters
    ----------
    n_features : int
        Number of input features.

    Examples
    --------
    >>> import torch
    >>> from sknorm.nn import FeatureScale
    >>> FeatureScale(3)(torch.ones(2, 3))
    tensor([[1., 1., 1.],
            [1., 1., 1.]], grad_fn=<MulBackward0>)
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(int(n_features)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def embedding_options(name: str, params: dict | None) -> dict:
    """The options an input embedding is built with, checked.

    Parameters
    ----------
    name : {"none", "scale", "periodic"}
        The ``input_embedding`` of :class:`MLP`.
    params : dict or None
        Its ``embedding_params``.

    Returns
    -------
    options : dict
        ``params`` over :data:`PERIODIC_DEFAULTS` for "periodic"; empty for
        the others, which have no options.

    Raises
    ------
    ValueError
        For an unknown name, an option "periodic" does not have, or a value
        out of its range.

    Examples
    --------
    >>> from sknorm.nn import embedding_options
    >>> embedding_options("periodic", {"d_embedding": 8})["d_embedding"]
    8
    """
    if name not in INPUT_EMBEDDINGS:
        raise ValueError(
            f"Unknown input_embedding {name!r}; expected one of {INPUT_EMBEDDINGS}."
        )
    if name != "periodic":
        return {}
    options = {**PERIODIC_DEFAULTS, **(params or {})}
    unknown = sorted(set(options) - set(PERIODIC_DEFAULTS))
    if unknown:
        raise ValueError(
            f"Unknown embedding_params {unknown} for input_embedding='periodic'; "
            f"expected some of {sorted(PERIODIC_DEFAULTS)}."
        )
    for key in ("d_embedding", "n_frequencies"):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(
                f"embedding_params[{key!r}] must be an int >= 1; got {value!r}."
            )
    scale = options["frequency_init_scale"]
    if isinstance(scale, bool) or not isinstance(scale, Real) or not scale > 0:
        raise ValueError(
            "embedding_params['frequency_init_scale'] must be a number > 0; "
            f"got {scale!r}."
        )
    if not isinstance(options["lite"], bool):
        raise ValueError(
            f"embedding_params['lite'] must be True or False; got {options['lite']!r}."
        )
    return options


def _input_embedding(name: str, n_features: int, params: dict | None):
    """``(layer or None, its output width)`` for ``input_embedding=name``."""
    options = embedding_options(name, params)
    if name == "none":
        return None, n_features
    if name == "scale":
        return FeatureScale(n_features), n_features
    # The reference implementation of the paper's PLR embeddings (periodic ->
    # per-feature linear -> ReLU), by its authors: reused, not rewritten.
    layer = PeriodicEmbeddings(n_features, **options)
    return nn.Sequential(layer, nn.Flatten(1)), n_features * options["d_embedding"]


class MLP(nn.Module):
    """Multi-layer perceptron whose hidden layers carry a normalization layer.

    Each hidden block is ``Linear -> norm -> activation -> dropout`` (the default
    ``norm_position="before"``) or ``Linear -> activation -> norm -> dropout``
    (``"after"``). The output layer is a plain ``Linear`` with no norm and no
    activation: it returns logits for classification and values for regression.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_outputs : int
        Number of outputs (classes for a classifier, targets for a regressor).
    hidden_layer_sizes : sequence of int, default=(128, 128)
        Width of each hidden layer; an empty sequence gives a linear model.
    norm : {"none", "batch", "layer", "rms", "group", "ghost", "batch_renorm"}, \
default="batch"
        Normalization applied in every hidden block; see
        :func:`sknorm.nn.make_norm` for the layer each name builds.
    norm_position : {"before", "after"}, default="before"
        Where the norm sits relative to the activation. ``"before"`` follows
        Ioffe & Szegedy (2015), who normalize the affine output ``Wx + b`` so that
        the nonlinearity receives zero-mean, unit-variance inputs (for ReLU this
        keeps about half the units active from the first step). ``"after"``
        normalizes the activations instead, which some practitioners prefer;
        sweep both if in doubt.
    activation : str, default="relu"
        One of ``ACTIVATIONS``.
    dropout : float, default=0.0
        Dropout probability applied at the end of every hidden block.
    norm_eps : float or None, default=None
        ``eps`` of the norm layers; None takes it from ``norm_defaults``.
    norm_momentum : float or None, default=None
        Running-statistics momentum of the batch norms (torch's convention: the
        weight of the current batch); None takes it from ``norm_defaults``.
        Ignored by the per-sample norms.
    norm_affine : bool, default=True
        Learn the norm's per-unit scale and shift.
    norm_params : dict or None, default=None
        The norm's own options, e.g. ``{"groups": 4}`` for ``norm="group"``;
        see :func:`sknorm.nn.norm_options` for each norm's options and
        defaults. Options of other norms are ignored.
    norm_defaults : {"torch", "keras"}, default="torch"
        The convention for ``norm_eps`` and ``norm_momentum`` left at None, for
        the batch norms' running variance (Keras: the biased batch variance;
        see :func:`sknorm.nn.make_norm`) and for the initial weights of the
        linear layers: torch's ``nn.Linear`` default (Kaiming-uniform with
        ``a=sqrt(5)``, uniform biases), or Keras ``Dense``'s (Glorot-uniform
        weights, zero biases).
    input_embedding : {"none", "scale", "periodic"}, default="none"
        A learned layer in front of the first block, for inputs that are
        already scaled. ``"scale"``: :class:`FeatureScale`, one learned
        factor per feature (RealMLP's scaling layer). ``"periodic"``: the
        PLR numeric embeddings of Gorishniy et al. (NeurIPS 2022),
        ``ReLU(Linear_j([cos(2 pi c_j x_j), sin(2 pi c_j x_j)]))`` for each
        feature ``j`` with learned frequencies ``c_j`` (``n_frequencies`` of
        them, drawn from N(0, ``frequency_init_scale``^2)) and a linear layer
        of its own per feature (shared with ``lite=True``), concatenated: the
        first block then sees ``n_features * d_embedding`` inputs. Built by
        ``rtdl_num_embeddings.PeriodicEmbeddings``, the authors' code.
    embedding_params : dict or None, default=None
        Options of ``input_embedding="periodic"``: ``d_embedding`` (24),
        ``n_frequencies`` (48), ``frequency_init_scale`` (0.01), ``lite``
        (False); the defaults are the authors'.

    Examples
    --------
    >>> import torch
    >>> from sknorm.nn import MLP
    >>> net = MLP(4, 3, hidden_layer_sizes=(8,), norm="layer")
    >>> net
    MLP(
      (hidden): Sequential(
        (0): Sequential(
          (linear): Linear(in_features=4, out_features=8, bias=True)
          (norm): LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)
          (activation): ReLU()
          (dropout): Dropout(p=0.0, inplace=False)
        )
      )
      (output): Linear(in_features=8, out_features=3, bias=True)
    )
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        hidden_layer_sizes: Sequence[int] = (128, 128),
        *,
        norm: str = "batch",
        norm_position: str = "before",
        activation: str = "relu",
        dropout: float = 0.0,
        norm_eps: float | None = None,
        norm_momentum: float | None = None,
        norm_affine: bool = True,
        norm_params: dict | None = None,
        norm_defaults: str = "torch",
        input_embedding: str = "none",
        embedding_params: dict | None = None,
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"Unknown norm {norm!r}; expected one of {list(NORMS)}.")
        if norm_position not in NORM_POSITIONS:
            raise ValueError(
                f"norm_position must be one of {NORM_POSITIONS}, got {norm_position!r}."
            )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {activation!r}; expected one of "
                f"{sorted(ACTIVATIONS)}."
            )
        if norm_defaults not in NORM_DEFAULTS:  # checked with no hidden layer too
            raise ValueError(
                f"Unknown norm defaults {norm_defaults!r}; expected one of "
                f"{sorted(NORM_DEFAULTS)}."
            )
        self.embedding, width = _input_embedding(
            input_embedding, int(n_features), embedding_params
        )
        blocks = []
        for size in hidden_layer_sizes:
            size = int(size)
            layers = OrderedDict(linear=nn.Linear(width, size))
            normalizer = make_norm(
                norm,
                size,
                eps=norm_eps,
                momentum=norm_momentum,
                affine=norm_affine,
                convention=norm_defaults,
                **(norm_params or {}),
            )
            if norm_position == "before":
                layers["norm"] = normalizer
                layers["activation"] = ACTIVATIONS[activation]()
            else:
                layers["activation"] = ACTIVATIONS[activation]()
                layers["norm"] = normalizer
            layers["dropout"] = nn.Dropout(dropout)
            blocks.append(nn.Sequential(layers))
            width = size
        self.hidden = nn.Sequential(*blocks)
        self.output = nn.Linear(width, int(n_outputs))
        if norm_defaults == "keras":
            self._glorot_init()

    def _glorot_init(self) -> None:
        """Keras ``Dense``'s initialization: Glorot-uniform weights (bound
        ``sqrt(6 / (fan_in + fan_out))``) and zero biases."""
        for layer in [*self.hidden.modules(), self.output]:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Return the raw outputs (logits or regression values) for ``X``."""
        if self.embedding is not None:
            X = self.embedding(X)
        return self.output(self.hidden(X))


class Affine(nn.Module):
    """``x * scale + shift``, then an optional clamp to ``[low, high]``.

    A fitted affine scaler, frozen into a module: the exported input scalings
    and the regressor's target un-scaling. ``scale`` and ``shift`` are float64
    buffers, so they follow ``.to(dtype)`` and ``.to(device)`` and are saved
    with the module.

    Parameters
    ----------
    scale : array-like of shape (n_features,)
        Multiplies each column.
    shift : array-like of shape (n_features,)
        Added to each column after scaling.
    low : float or None, default=None
        Clamp the result to ``[low, high]``; None: no clamp.
    high : float or None, default=None
        Upper end of the clamp: given with ``low`` (both or neither).

    Examples
    --------
    >>> import torch
    >>> from sknorm.nn import Affine
    >>> Affine([2.0, 1.0], [0.0, -1.0]).float()(torch.tensor([[1.0, 1.0]]))
    tensor([[2., 0.]])
    """

    def __init__(
        self, scale, shift, low: float | None = None, high: float | None = None
    ) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float64))
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float64))
        if (low is None) != (high is None) or (low is not None and low > high):
            raise ValueError(
                f"Affine clamps to [low, high]: give both, low <= high, or neither; "
                f"got low={low!r}, high={high!r}."
            )
        self.clamp = low is not None
        self.low = float(low) if low is not None else 0.0
        self.high = float(high) if high is not None else 0.0
        self.register_buffer("fill", None)

    def set_fill(self, values) -> None:
        """Replace NaN inputs by ``values`` (one per column) before scaling."""
        self.fill = torch.as_tensor(values, dtype=torch.float64)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # a state with fill values loads into an Affine without them (as a
        # fresh one is): make room for the buffer, which torch then fills
        fill = state_dict.get(prefix + "fill")
        if fill is not None and self.fill is None:
            self.set_fill(torch.empty_like(fill))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fill is not None:
            x = torch.where(torch.isnan(x), self.fill, x)
        x = x * self.scale + self.shift
        if self.clamp:
            x = x.clamp(self.low, self.high)
        return x
