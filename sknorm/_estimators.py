"""scikit-learn estimators that own a skorch net training a normalized MLP.

The estimators validate data the scikit-learn way, build the network from the
data's shape at ``fit``, and hand the training loop to skorch
(:class:`~skorch.NeuralNetClassifier` / :class:`~skorch.NeuralNetRegressor`,
kept as ``net_``). They do not subclass skorch: a skorch net is not a
scikit-learn estimator in the strict sense (``**kwargs`` parameters, attributes
set in ``__init__``, index predictions, no input validation).

Both estimators share one constructor and one text for their common
parameters (``_BaseNormMLP``), as scikit-learn's ``BaseMultilayerPerceptron``
does. Persistence and export use the private hooks at the end of
``_BaseNormMLP`` (the fitted state, a net for given shapes, the prediction
module) instead of knowing the estimators' attributes.
"""

from __future__ import annotations

import copy
import inspect
import warnings
import weakref
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    FLOAT_DTYPES,
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)
from skorch.callbacks import Callback
from torch import nn

from ._norms import (
    BATCH_DEPENDENT_NORMS,
    NORM_DEFAULTS,
    NORMS,
    check_norm_params,
    norm_options,
)
from ._training import (
    MIN_TRAINING_ROWS,
    ArrayDataset,
    NetClassifier,
    NetRegressor,
    SliceLoader,
    StopOnNonFiniteLoss,
    ValidationEarlyStopping,
    ValidationSplit,
    available_cores,
    fit_context,
)
from .nn import (
    ACTIVATIONS,
    INPUT_EMBEDDINGS,
    MLP,
    NORM_POSITIONS,
    Affine,
    embedding_options,
)

__all__ = ["NormMLPClassifier", "NormMLPRegressor"]

#: Optimizer names accepted by ``optimizer=...``.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

#: Keras' ``Adam(epsilon=1e-7)``, used by ``norm_defaults="keras"``; torch's is 1e-8.
KERAS_ADAM_EPS = 1e-7
_KERAS_EPS_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_PREDICT_CHUNK = 8192
#: Cells (rows x features) of one densified chunk of a sparse X at prediction:
#: 32 MB in float64, whatever the width.
_SPARSE_CHUNK_CELLS = 1 << 22
#: The sparse formats the estimators take; others are converted to the first.
_SPARSE_FORMATS = ("csr", "csc")


def _to_training_data(X, device: str):
    """Validated ``X`` as float32, once per fit: a tensor on ``device``, or a
    CSR matrix (on the CPU) whose rows the loader densifies a batch at a time.
    """
    values = X.data if sp.issparse(X) else X
    if values.dtype.itemsize > 4 and values.size:  # float16/32 always fit
        high, low = values.max(), values.min()
        if high > _FLOAT32_MAX or low < -_FLOAT32_MAX:
            raise ValueError(
                "X contains values too large for float32 (largest magnitude "
                f"{max(abs(high), abs(low)):.3g}); scale the input, e.g. with "
                "InputScaler('standard')."
            )
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=np.float32)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not X.flags.writeable:  # read-only memmaps: torch wants writable memory
        X = X.copy()
    return torch.from_numpy(X).to(device)


def _finite_targets(y: np.ndarray) -> np.ndarray:
    """``y`` when its variance is finite in float64, else an error naming y."""
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.var(y, axis=0)
    if not np.isfinite(spread).all():
        raise ValueError(
            f"y is too large to standardize (largest magnitude {np.abs(y).max():.3g}"
            "; its variance overflows float64); rescale y, e.g. divide it by a "
            "power of ten."
        )
    return y


def _effective(params: dict) -> dict:
    """An MLP's options as they take effect: of ``norm_params`` only the
    norm's own options, ``embedding_params`` over its defaults (none unless
    the embedding is periodic), so that a change without effect is none."""
    own = norm_options(params["norm"])
    return {
        **params,
        "norm_params": {k: v for k, v in params["norm_params"].items() if k in own},
        "embedding_params": embedding_options(
            params["input_embedding"], params["embedding_params"]
        ),
    }


def _same(a, b) -> bool:
    """``a == b`` for parameter values, lists of callbacks by identity."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(
            x is y or x == y for x, y in zip(a, b, strict=True)
        )
    return a is b or a == b


def _check_device(device: str) -> None:
    """``device`` names a torch device this process can use."""
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(kind, False):
        raise ValueError(
            f"device={device!r}: this torch cannot use a {kind} device here "
            f"(torch {torch.__version__}); use device='cpu'."
        )


def _uses_validation(callback) -> bool:
    """The callback reads validation scores (EarlyStopping, Checkpoint, ...)."""
    monitor = getattr(callback, "monitor", None)
    return (isinstance(monitor, str) and monitor.startswith("valid")) or (
        getattr(callback, "on_train", True) is False
    )


def _check_callbacks(callbacks, early_stopping: bool) -> None:
    """Each entry is a skorch callback (or a (name, callback) pair), and none
    needs a validation split the fit will not have."""
    for i, entry in enumerate(callbacks or []):
        pair = (
            isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
        )
        callback = entry[1] if pair else entry
        if not isinstance(callback, Callback):
            raise ValueError(
                f"callbacks[{i}] must be a skorch callback instance or a (name, "
                f"callback) tuple; got {entry!r}."
            )
        check = getattr(callback, "_check_params", None)
        if type(callback).__module__.startswith("sknorm.") and callable(check):
            check()  # sknorm's own callbacks: their settings, before any fit
        if _uses_validation(callback) and not early_stopping:
            raise ValueError(
                f"callbacks[{i}] ({type(callback).__name__}) uses validation "
                "scores, but a fit holds out no validation data unless "
                "early_stopping=True (then validation_fraction of it); set "
                "early_stopping=True or make the callback use training scores."
            )


#: float64 inference copies of trained estimators' prediction modules, keyed by
#: the trained module itself (so nothing is added to the estimator or pickled,
#: and a copy dies with its module) and checked against a fingerprint of the
#: module's tensors.
_INFERENCE_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fingerprint(module: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or modified in place
    (an optimizer step, ``load_state_dict``, ...): torch counts in-place writes
    in each tensor's ``_version``."""
    return tuple(
        (name, t.data_ptr(), t._version, tuple(t.shape))
        for name, t in module.state_dict(keep_vars=True).items()
    )


# The parameters both estimators share, documented once. Each class docstring
# has the line "    <shared parameters>" where this text goes.
_SHARED_PARAMETERS = """\
    hidden_layer_sizes : tuple of int, default=(128, 128)
        Width of each hidden layer.
    norm : {"none", "batch", "layer", "rms", "group", "ghost", "batch_renorm"}, \
default="none"
        Normalization in every hidden block: :class:`torch.nn.BatchNorm1d`
        (per-feature statistics over the mini-batch, running statistics at
        inference), :class:`torch.nn.LayerNorm` (per-sample statistics, the same
        at training and inference), :class:`torch.nn.RMSNorm`,
        :class:`torch.nn.GroupNorm`, ghost batch norm (batch statistics over
        virtual batches), batch renormalization (Ioffe, 2017) or none. The
        default, none (with ``dropout=0.3``), is the recipe that generalized
        best without tuning (see ``early_stopping``); which norm suits your
        data is what :func:`sknorm.sweep` finds out.
    norm_position : {"before", "after"}, default="before"
        The norm sits before the activation (as in the batch-norm paper) or
        after it. See :class:`sknorm.nn.MLP`.
    activation : str, default="relu"
        Hidden activation: "relu", "leaky_relu", "elu", "gelu", "silu", "tanh",
        "logistic" or "identity".
    dropout : float, default=0.3
        Dropout probability at the end of each hidden block (see
        ``early_stopping`` for why the default is 0.3).
    norm_defaults : {"torch", "keras"}, default="torch"
        The framework whose defaults the network follows where the two differ.
        "torch": torch's. "keras": Keras's, for a model ported from Keras:

        - ``norm_eps`` and ``norm_momentum`` left at None are Keras'
          ``epsilon=1e-3, momentum=0.99``, which is ``momentum=0.01`` in
          torch's convention (torch weighs the new batch, Keras the old
          running value), instead of torch's ``eps=1e-5, momentum=0.1``;
        - the batch norms' running variance averages the biased batch
          variances, as Keras' does (torch's, the unbiased ones; see
          :class:`sknorm.nn.KerasBatchNorm1d`);
        - Adam and AdamW (``optimizer="adam"``, ``"adamw"`` or their torch
          classes) use Keras' ``epsilon=1e-7`` instead of torch's ``1e-8``;
        - the linear layers start from Keras ``Dense``'s Glorot-uniform weights
          and zero biases instead of torch's Kaiming-uniform weights and
          uniform biases.
    norm_eps : float or None, default=None
        ``eps`` of the norm layers; None takes it from ``norm_defaults``.
    norm_momentum : float or None, default=None
        Running-statistics momentum of the batch norms, torch convention; None
        takes it from ``norm_defaults``. Ignored by the per-sample norms.
    norm_affine : bool, default=True
        Learn the norm's scale and shift (gamma and beta).
    norm_params : dict or None, default=None
        Options that belong to one norm, with the norm's own defaults when
        absent: ``groups`` (8) of "group", which must divide every hidden
        width; ``virtual_batch_size`` (32) of "ghost", rows per virtual batch;
        ``rmax`` (3.0), ``dmax`` (5.0) and ``warmup_steps`` (100) of
        "batch_renorm", the clipping limits of its corrections r and d and the
        training steps over which they relax from r = 1, d = 0. Options of
        another norm than ``norm`` are ignored, so one dict serves a grid over
        several norms; unknown options raise at :meth:`fit`. The options every
        norm has (``norm_eps``, ``norm_momentum``, ``norm_affine``) are flat
        parameters so that grids over them read plainly
        (``net__norm_momentum=[0.01, 0.1]``); the rarely swept per-norm ones
        share this dict, as scikit-learn's ``kernel_params`` do, so that each
        is declared once, by its norm.
    input_embedding : {"none", "scale", "periodic"}, default="none"
        A learned layer between the scaled inputs and the first hidden block:
        ``"scale"`` learns one factor per feature (RealMLP's scaling layer,
        Holzmüller et al., 2024); ``"periodic"`` embeds each feature with the
        PLR embeddings of Gorishniy et al. (2022), ``ReLU(Linear([cos(2 pi c
        x), sin(2 pi c x)]))`` with learned frequencies ``c``, so that the
        first block sees 24 numbers per feature. Both expect scaled inputs
        (a sweep's scalings "learned_scale" and "plr" pair them with
        "robust_clip"). See :class:`sknorm.nn.MLP`.
    embedding_params : dict or None, default=None
        Options of ``input_embedding="periodic"``: ``d_embedding`` (24),
        ``n_frequencies`` (48), ``frequency_init_scale`` (0.01, the spread of
        the initial frequencies, the one the authors say matters most) and
        ``lite`` (False: a linear layer per feature; True: one shared); the
        defaults are the authors'. Unknown options raise at :meth:`fit`.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch optimizer class, \
default="adam"
        The optimizer; "sgd" uses ``momentum``.
    lr : float, default=1e-3
        Learning rate.
    weight_decay : float, default=0.0
        L2 penalty passed to the optimizer.
    momentum : float, default=0.9
        Momentum of the "sgd" optimizer; ignored by the others.
    batch_size : int, default=128
        Rows per mini-batch. A last training batch of fewer than half a batch is
        merged into the one before it, so batch norm never sees a batch of one
        or a ragged handful of rows.
    max_epochs : int, default=300
        The most passes over the training data; early stopping usually ends a
        fit sooner.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data (stratified for
        the classifier) and stop when its loss has not improved by ``tol``
        (relative) for ``n_iter_no_change`` epochs, restoring the weights of
        the best epoch (skorch's :class:`~skorch.callbacks.EarlyStopping`).
        The validation loss is weighted as the training loss is, when
        :meth:`fit` has weights. Each :meth:`partial_fit` call holds out its
        own share. Data too few to leave 2 rows for training after the split
        (a warning says so) are trained on in full for ``max_epochs`` epochs.
        False: every row is trained on for exactly ``max_epochs`` epochs, with
        no hidden validation split.

        The defaults (early stopping, 10% held out, patience 15, up to 300
        epochs, no hidden-layer norm, dropout 0.3) are the recipe that
        generalized best in a study of 19 training recipes over 11 data sets,
        3 seeds each, up to 1000 training rows (``OMP_NUM_THREADS=1 python
        benchmarks/bench_defaults.py --max-train 1000``, report in
        ``benchmarks/results/defaults.md``): mean rank 8.55 of 20, and at
        least scikit-learn's :class:`~sklearn.neural_network.MLPClassifier` /
        ``MLPRegressor`` on all 11 sets within the seed spread. The same
        early stopping with batch norm and no dropout, the default before,
        ranked 8.91 and fell short on college_distance (R^2 0.272 against
        0.329), a noisy, nearly linear target where the best epoch chosen on
        100 held-out rows varies from seed to seed; dropout 0.3 without a
        norm steadies it (0.316). Batch norm with dropout 0.3 ranked 8.82 and
        still fell short there (0.292).
    validation_fraction : float, default=0.1
        Share of the data held out when ``early_stopping=True``.
    n_iter_no_change : int, default=15
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Relative improvement early stopping counts as progress.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks (e.g. :class:`~skorch.callbacks.LRScheduler`,
        :class:`~skorch.callbacks.Checkpoint`,
        :class:`~skorch.callbacks.ProgressBar`); cloned at each fit.
    warm_start : bool, default=False
        When fitted, continue training the current network for ``max_epochs``
        more epochs instead of starting anew, with the current ``lr`` and
        ``batch_size``. The network's shape, optimizer, callbacks, early
        stopping, ``verbose`` and device stay those it was built with: a
        change to any of them since is a ValueError naming it.
    device : str, default="cpu"
        Torch device, e.g. "cuda". The training data is moved there once per fit.
    n_threads : int or None, default=None
        Torch threads used while fitting. None: ``OMP_NUM_THREADS`` when set (as
        joblib and Dask workers set it, so parallel searches do not
        oversubscribe); else one thread when ``batch_size`` x the widest layer
        is below 256 x 256, where more threads do not pay; else every core
        available to the process. The thread count changes the float rounding
        of a fit: fix it for results that are bitwise identical across
        machines and ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, shuffling and dropout through a private
        copy of torch's RNG; the global torch RNG is left untouched. An int
        makes fits reproducible.
    verbose : int, default=0
        Print skorch's per-epoch log when positive.
"""

# The fitted attributes both estimators share; the line "    <shared attributes>".
_SHARED_ATTRIBUTES = """\
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen during :meth:`fit`, when ``X`` has string column
        names.
    n_iter_ : int
        Epochs trained so far.
    history_ : skorch.history.History
        Per-epoch and per-batch records of training (``train_loss``, ...).
"""


def _shared_docs(cls: type) -> type:
    """Put the shared parameter and attribute texts into ``cls``'s docstring."""
    cls.__doc__ = cls.__doc__.replace(
        "    <shared parameters>\n", _SHARED_PARAMETERS
    ).replace("    <shared attributes>\n", _SHARED_ATTRIBUTES)
    return cls


class _BaseNormMLP(BaseEstimator):
    """Shared constructor and fit/predict machinery.

    Subclasses set ``_net_class``, ``_criterion`` and ``_stratify``, and say
    how targets are encoded (``_validate_targets``), how many outputs the net
    has (``_n_net_outputs``) and how its raw outputs become predictions
    (``_output_module``).
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "norm": [StrOptions(set(NORMS))],
        "norm_position": [StrOptions(set(NORM_POSITIONS))],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "norm_defaults": [StrOptions(set(NORM_DEFAULTS))],
        "norm_eps": [Interval(Real, 0, None, closed="neither"), None],
        "norm_momentum": [Interval(Real, 0, 1, closed="both"), None],
        "norm_affine": ["boolean"],
        "norm_params": [dict, None],
        "input_embedding": [StrOptions(set(INPUT_EMBEDDINGS))],
        "embedding_params": [dict, None],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
        "device": [str],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _net_class: type
    _criterion: type
    _stratify: bool

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (128, 128),
        *,
        norm: str = "none",
        norm_position: str = "before",
        activation: str = "relu",
        dropout: float = 0.3,
        norm_defaults: str = "torch",
        norm_eps: float | None = None,
        norm_momentum: float | None = None,
        norm_affine: bool = True,
        norm_params: dict | None = None,
        input_embedding: str = "none",
        embedding_params: dict | None = None,
        optimizer: str | type = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        batch_size: int = 128,
        max_epochs: int = 300,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 15,
        tol: float = 1e-4,
        callbacks: list | None = None,
        warm_start: bool = False,
        device: str = "cpu",
        n_threads: int | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.norm = norm
        self.norm_position = norm_position
        self.activation = activation
        self.dropout = dropout
        self.norm_defaults = norm_defaults
        self.norm_eps = norm_eps
        self.norm_momentum = norm_momentum
        self.norm_affine = norm_affine
        self.norm_params = norm_params
        self.input_embedding = input_embedding
        self.embedding_params = embedding_params
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # -- hooks for subclasses -------------------------------------------------
    def _validate_targets(self, X, y, reset: bool, classes=None):
        """Validate ``X`` and ``y``; return ``(X, y_tensor)``."""
        raise NotImplementedError

    def _n_net_outputs(self) -> int:
        """Width of the network's output layer, from the fitted attributes."""
        raise NotImplementedError

    def _output_module(self) -> nn.Module:
        """The map from the network's raw outputs to predictions (float64)."""
        raise NotImplementedError

    # -- building the net -------------------------------------------------------
    def _hidden_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if not all(isinstance(s, Integral) and s > 0 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must be positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _optimizer_kwargs(self) -> tuple[type, dict]:
        opt = self.optimizer
        cls = OPTIMIZERS[opt] if isinstance(opt, str) else opt
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZERS)} or a "
                f"torch.optim.Optimizer subclass, got {opt!r}."
            )
        accepted = inspect.signature(cls).parameters
        kwargs = {}
        if "weight_decay" in accepted:
            kwargs["optimizer__weight_decay"] = self.weight_decay
        elif self.weight_decay:
            raise ValueError(
                f"optimizer {cls.__name__} takes no weight_decay; got "
                f"weight_decay={self.weight_decay}. Leave it at 0 for this optimizer."
            )
        if cls is torch.optim.SGD:
            kwargs["optimizer__momentum"] = self.momentum
        if self.norm_defaults == "keras" and issubclass(cls, _KERAS_EPS_OPTIMIZERS):
            kwargs["optimizer__eps"] = KERAS_ADAM_EPS
        return cls, kwargs

    def _module_params(self, n_features: int, n_outputs: int) -> dict:
        """Keyword arguments of :class:`sknorm.nn.MLP` for these shapes."""
        return {
            "n_features": n_features,
            "n_outputs": n_outputs,
            "hidden_layer_sizes": self._hidden_sizes(),
            "norm": self.norm,
            "norm_position": self.norm_position,
            "activation": self.activation,
            "dropout": self.dropout,
            "norm_eps": self.norm_eps,
            "norm_momentum": self.norm_momentum,
            "norm_affine": self.norm_affine,
            "norm_params": dict(self.norm_params or {}),
            "norm_defaults": self.norm_defaults,
            "input_embedding": self.input_embedding,
            "embedding_params": dict(self.embedding_params or {}),
        }

    def _callbacks(self) -> list:
        callbacks = [("stop_on_non_finite_loss", StopOnNonFiniteLoss())]
        for i, cb in enumerate(self.callbacks or []):
            # Clone so that fitting never mutates the objects in the parameter.
            if isinstance(cb, tuple):
                callbacks.append((cb[0], clone(cb[1], safe=False)))
            else:
                callbacks.append((f"{type(cb).__name__}_{i}", clone(cb, safe=False)))
        if self.early_stopping:
            stopper = ValidationEarlyStopping(
                monitor="valid_loss",
                patience=self.n_iter_no_change,
                threshold=self.tol,
                threshold_mode="rel",
                load_best=True,
            )
            callbacks.append(("early_stopping", stopper))
        return callbacks

    def _build_net(self, n_features: int, n_outputs: int, seed: int):
        """An uninitialized skorch net for these shapes (the fit's, or a file's)."""
        optimizer, optimizer_kwargs = self._optimizer_kwargs()
        train_split = None
        if self.early_stopping:
            train_split = ValidationSplit(
                self.validation_fraction, stratified=self._stratify, random_state=seed
            )
        module_params = self._module_params(n_features, n_outputs)
        net = self._net_class(
            module=MLP,
            **{f"module__{k}": v for k, v in module_params.items()},
            criterion=self._criterion,
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=SliceLoader,
            iterator_train__shuffle=True,
            iterator_train__merge_small_last=True,
            iterator_valid=SliceLoader,
            train_split=train_split,
            callbacks=self._callbacks(),
            verbose=self.verbose,
            device=self.device,
            **optimizer_kwargs,
            **({} if self.verbose else {"callbacks__print_log": None}),
        )
        net.sknorm_setup = self._training_setup()  # what warm_start continues
        return net

    def _training_setup(self) -> dict:
        """What a trained net keeps of the parameters (its optimizer and the
        options it takes, its callbacks, its early stopping and, when on, its
        split, patience and tol, its logging, device and target scaling): a
        warm-started fit, which trains the same net on, cannot change them
        (``lr``, ``max_epochs`` and ``batch_size`` it can, and does). Only
        what takes effect: ``momentum`` under Adam, or ``tol`` without early
        stopping, may change."""
        optimizer, options = self._optimizer_kwargs()
        setup = {"optimizer": optimizer}
        setup.update({k.removeprefix("optimizer__"): v for k, v in options.items()})
        names = ["early_stopping", "callbacks", "verbose", "device", "scale_target"]
        if self.early_stopping:
            names += ["validation_fraction", "n_iter_no_change", "tol"]
        setup.update(
            {name: getattr(self, name) for name in names if hasattr(self, name)}
        )
        return setup

    # -- fitting --------------------------------------------------------------
    def _class_weights(self, y: torch.Tensor, sample_weight):
        """``sample_weight`` (array or None) times the weights of ``y``'s
        classes; the classifier's ``class_weight``, nothing here."""
        return sample_weight

    def _sample_weights(self, X, y: torch.Tensor, sample_weight):
        """The weights a fit trains with: validated ``sample_weight`` times the
        class weights, scaled to a mean of 1 (so that their unit does not
        matter and weights of 2 weigh as duplicated rows), as a float32 tensor;
        None when there are neither (the unweighted loss, at no cost)."""
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        sample_weight = self._class_weights(y, sample_weight)
        if sample_weight is None:
            return None
        total = float(np.sum(sample_weight))
        if not total > 0:
            raise ValueError(
                "The sample weights times the class weights are all zero; at "
                "least one sample needs a positive weight."
            )
        scaled = sample_weight * (len(sample_weight) / total)
        return torch.from_numpy(scaled.astype(np.float32))

    def _fit(self, X, y, *, incremental: bool, sample_weight=None, classes=None):
        """Fit, or leave the estimator as it was before the call.

        A fit that fails (bad input, a diverging loss, a callback that raises)
        or is interrupted (Ctrl-C, re-raised as ``KeyboardInterrupt``) gives
        back the fitted state from before the call, unfitted or the previous
        fit, so no half-trained model ever looks fitted.
        """
        warm = incremental and hasattr(self, "net_")
        before = {k: v for k, v in vars(self).items() if k.endswith("_")}
        if warm:  # a continued fit trains the net in place: keep a copy
            before["net_"] = copy.deepcopy(self.net_)
            # the setup as built, by reference: the callbacks are compared by
            # identity with the parameter's (a copy would never match again)
            before["net_"].sknorm_setup = getattr(self.net_, "sknorm_setup", None)
        try:
            return self._fit_unguarded(X, y, warm, sample_weight, classes)
        except BaseException:
            for key in [k for k in vars(self) if k.endswith("_")]:
                delattr(self, key)
            self.__dict__.update(before)
            raise

    def _check_setup(self, warm: bool) -> None:
        """Parameters that pass scikit-learn's validation but would fail later,
        inside torch or skorch, with an error that does not name them."""
        self._validate_params()
        self._hidden_sizes()
        self._optimizer_kwargs()
        check_norm_params(self.norm_params)
        embedding_options(self.input_embedding, self.embedding_params)
        _check_device(self.device)
        _check_callbacks(self.callbacks, self.early_stopping)
        if self.norm in BATCH_DEPENDENT_NORMS and self.batch_size < 2:
            raise ValueError(
                f"norm={self.norm!r} computes statistics over each batch, so "
                f"batch_size must be at least 2; got {self.batch_size}."
            )
        cores = available_cores()
        if self.n_threads is not None and self.n_threads > cores:
            raise ValueError(
                f"n_threads={self.n_threads} is more than the {cores} cores this "
                "process may use; leave n_threads=None to choose automatically."
            )

    def _changed_since_built(self, n_features: int) -> list[str]:
        """The network's parameters that differ (``set_params`` after fit)
        from those its trained network was built with."""
        wanted = self._module_params(n_features, self._n_net_outputs())
        net = self.net_.get_params(deep=False)
        built = _effective({k: net[f"module__{k}"] for k in wanted})
        wanted = _effective(wanted)
        return sorted(k for k, v in wanted.items() if built[k] != v)

    def _check_warm_net(self, n_features: int) -> None:
        """A continued fit must train the network the parameters describe."""
        current = self.net_.get_params(deep=False)
        changed = self._changed_since_built(n_features)
        built = getattr(self.net_, "sknorm_setup", None)
        if built is not None:  # None: a net from before this check
            setup = self._training_setup()
            both = setup.keys() & built.keys()  # an optimizer's own options
            changed += sorted(k for k in both if not _same(setup[k], built[k]))
        if changed:
            raise ValueError(
                f"warm_start continues the trained network, but {changed} changed "
                "since it was built; set warm_start=False to train a new network."
            )
        training = {"lr": self.lr, "max_epochs": self.max_epochs}
        training["batch_size"] = self.batch_size
        self.net_.set_params(**{k: v for k, v in training.items() if current[k] != v})

    def _check_validation_rows(self, y: torch.Tensor) -> None:
        """Warn when the data are too few for early stopping's validation
        split (``ValidationSplit`` then trains on all of them, for
        ``max_epochs``), as on scikit-learn's tiny test data; refuse when a
        callback needs the validation scores."""
        split = ValidationSplit(
            self.validation_fraction, stratified=self._stratify, random_state=0
        )
        if split.splitter(y, len(y)) is not None:
            return
        n_rows = len(y)
        callbacks = [c[1] if isinstance(c, tuple) else c for c in self.callbacks or []]
        needing = [type(c).__name__ for c in callbacks if _uses_validation(c)]
        too_few = (
            f"n_samples={n_rows} is too few to hold out validation_fraction="
            f"{self.validation_fraction} and keep {MIN_TRAINING_ROWS} to train on"
        )
        if needing:
            raise ValueError(
                f"{too_few}, and callbacks {needing} use validation scores; pass "
                "more rows or callbacks that use training scores."
            )
        warnings.warn(
            f"early_stopping=True, but {too_few}: this fit trains on all of them "
            f"for max_epochs={self.max_epochs} epochs, without early stopping.",
            UserWarning,
            stacklevel=4,
        )

    def _fit_unguarded(self, X, y, warm: bool, sample_weight, classes):
        self._check_setup(warm)
        X, y_tensor = self._validate_targets(X, y, reset=not warm, classes=classes)
        if warm:
            self._check_warm_net(X.shape[1])
        weight = self._sample_weights(X, y_tensor, sample_weight)
        if self.norm in BATCH_DEPENDENT_NORMS and X.shape[0] < 2:
            raise ValueError(
                f"norm={self.norm!r} needs at least 2 samples to compute batch "
                f"statistics; got n_samples={X.shape[0]}."
            )
        if self.early_stopping:
            self._check_validation_rows(y_tensor)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        if warm:  # a continued fit draws new shuffles, reproducibly
            seed = (seed + self.n_iter_) % np.iinfo(np.int32).max
        y_tensor = y_tensor.to(self.device)
        data = ArrayDataset(
            _to_training_data(X, self.device),
            y_tensor,
            None if weight is None else weight.to(self.device),
            device=self.device,
        )
        work = self.batch_size * max((X.shape[1], *self._hidden_sizes()))
        with fit_context(seed, self.n_threads, self.device, work):
            # skorch takes y beside the dataset for the stratified split
            if warm:
                self.net_.partial_fit(data, y_tensor)
            else:
                self.net_ = self._build_net(X.shape[1], self._n_net_outputs(), seed)
                self.net_.fit(data, y_tensor)
        self.n_iter_ = len(self.net_.history)
        return self

    # -- predicting -----------------------------------------------------------
    def _prediction_module(self, dtype: torch.dtype = torch.float32) -> nn.Module:
        """A detached copy of the trained net followed by ``_output_module``, in
        eval mode on the CPU: what ``predict`` runs and what ``export`` saves."""
        mlp = copy.deepcopy(self.net_.module_).cpu()
        module = nn.Sequential(mlp, self._output_module())
        return module.to(dtype).eval().requires_grad_(False)

    def _inference_module(self) -> tuple[nn.Module, torch.dtype, torch.device]:
        """The module to predict with, its dtype and device.

        On the CPU: the float64 ``_prediction_module``, made once per state of
        the trained weights (building it each call cost about 0.4 ms a
        prediction). Other devices run the trained module itself in float32.
        """
        module = self.net_.module_
        device = torch.device(self.net_.device)
        if device.type != "cpu":
            output = self._output_module().float().to(device)
            return nn.Sequential(module, output).eval(), torch.float32, device
        fingerprint = _fingerprint(module)
        cached = _INFERENCE_COPIES.get(module)
        if cached is None or cached[0] != fingerprint:
            cached = (fingerprint, self._prediction_module(torch.float64))
            _INFERENCE_COPIES[module] = cached
        return cached[1], torch.float64, device

    def _forward(self, X) -> np.ndarray:
        """Validated ``X`` -> predictions of ``_output_module``, float64.

        On the CPU the forward pass runs in float64, on a float64 copy of the
        trained module: float32 matrix kernels round differently for different
        batch sizes, and a row's prediction must not depend on which rows share
        its batch.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=_SPARSE_FORMATS, dtype=FLOAT_DTYPES, reset=False
        )
        chunk = _PREDICT_CHUNK
        if sp.issparse(X):  # densified a chunk at a time
            X = X.tocsr()
            chunk = max(1, min(chunk, _SPARSE_CHUNK_CELLS // max(X.shape[1], 1)))
        module, dtype, device = self._inference_module()
        chunks = []
        with torch.no_grad():
            for start in range(0, X.shape[0], chunk):
                Xc = X[start : start + chunk]
                Xc = torch.tensor(Xc.toarray() if sp.issparse(Xc) else Xc, dtype=dtype)
                chunks.append(module(Xc.to(device)).cpu().numpy())
        return np.concatenate(chunks).astype(np.float64, copy=False)

    @property
    def history_(self):
        """skorch's :class:`~skorch.history.History` of the last fit."""
        check_is_fitted(self)
        return self.net_.history

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- hooks for persistence ------------------------------------------------
    def _get_fitted_state(self) -> dict:
        """Every fitted attribute but the net: what a model file must keep."""
        return {k: v for k, v in vars(self).items() if k.endswith("_") and k != "net_"}

    def _restore_net(self, fitted: dict, module_state: dict, history) -> None:
        """Set the ``fitted`` attributes and a net on the CPU holding
        ``module_state`` (checked by the caller against ``_net_shapes``)."""
        self.__dict__.update(fitted)
        with fit_context(seed=0, n_threads=None):
            net = self._build_net(self.n_features_in_, self._n_net_outputs(), seed=0)
            net.set_params(device="cpu")
            net.initialize()
        net.module_.load_state_dict(module_state)
        net.history = history
        self.net_ = net

    def _net_shapes(self, fitted: dict) -> dict[str, tuple[int, ...]]:
        """Shapes of the module's tensors for ``fitted`` attributes, computed on
        torch's meta device: nothing is allocated, however large they are."""
        probe = copy.copy(self)
        probe.__dict__.update(fitted)
        params = self._module_params(probe.n_features_in_, probe._n_net_outputs())
        with torch.device("meta"):
            module = MLP(**params)
        return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@_shared_docs
class NormMLPClassifier(ClassifierMixin, _BaseNormMLP):
    """Neural-network classifier with a normalization layer in every hidden block.

    A scikit-learn classifier that trains :class:`sknorm.nn.MLP` with skorch's
    training loop and cross-entropy on the logits. It accepts numpy arrays,
    pandas DataFrames and sparse CSR/CSC matrices (cast to float32 inside; a
    sparse matrix is densified one batch at a time), string or integer labels
    (:meth:`predict` returns the labels), sample and class weights, and infers
    the input width and the number of classes at :meth:`fit`. Every
    hyperparameter is a plain value, so grids over ``norm``,
    ``hidden_layer_sizes`` or ``lr`` stay readable.

    Parameters
    ----------
    <shared parameters>
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, ``{label: weight}``, multiplied into the sample
        weights (as in scikit-learn's linear models). "balanced" weighs each
        class by ``n_samples / (n_classes * weight of the class)``, from the
        ``y`` (and ``sample_weight``) given to :meth:`fit`; :meth:`partial_fit`
        does not take it, as it sees only part of the data: compute the weights
        once with :func:`~sklearn.utils.class_weight.compute_class_weight` and
        pass them as a dict. None: every class weighs 1.

    Attributes
    ----------
    net_ : skorch.NeuralNetClassifier
        The fitted skorch net; ``net_.module_`` is the trained
        :class:`sknorm.nn.MLP`.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    <shared attributes>

    See Also
    --------
    NormMLPRegressor : The regressor.
    sknorm.make_norm_pipeline : Put an :class:`InputScaler` in front.
    sklearn.neural_network.MLPClassifier : scikit-learn's MLP, without norms.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sknorm import NormMLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NormMLPClassifier(norm="layer", max_epochs=50, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    """

    _net_class = NetClassifier
    _criterion = torch.nn.CrossEntropyLoss
    _stratify = True

    _parameter_constraints: dict = {
        **_BaseNormMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (128, 128),
        *,
        norm: str = "none",
        norm_position: str = "before",
        activation: str = "relu",
        dropout: float = 0.3,
        norm_defaults: str = "torch",
        norm_eps: float | None = None,
        norm_momentum: float | None = None,
        norm_affine: bool = True,
        norm_params: dict | None = None,
        input_embedding: str = "none",
        embedding_params: dict | None = None,
        optimizer: str | type = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        batch_size: int = 128,
        max_epochs: int = 300,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 15,
        tol: float = 1e-4,
        callbacks: list | None = None,
        warm_start: bool = False,
        device: str = "cpu",
        n_threads: int | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        class_weight: dict | str | None = None,
    ) -> None:
        # Spelled out for scikit-learn, as the regressor's.
        shared = {k: v for k, v in locals().items() if k not in _NOT_SHARED}
        super().__init__(**shared)
        self.class_weight = class_weight

    def _validate_targets(self, X, y, reset: bool, classes=None):
        X, y = validate_data(
            self, X, y, accept_sparse=_SPARSE_FORMATS, dtype=FLOAT_DTYPES, reset=reset
        )
        check_classification_targets(y)
        if reset:
            encoder = LabelEncoder().fit(y if classes is None else np.asarray(classes))
            self.classes_ = encoder.classes_
            if len(self.classes_) < 2:
                where = "in y" if classes is None else "in classes"
                raise ValueError(
                    f"Classifier can't train when only one class is present {where} "
                    f"(got only {self.classes_.tolist()[0]!r})."
                )
        elif classes is not None and not np.array_equal(
            np.unique(np.asarray(classes)), self.classes_
        ):  # as scikit-learn's partial_fit: classes are given once
            raise ValueError(
                f"classes={np.asarray(classes).tolist()} is not the classes of the "
                f"first partial_fit, {self.classes_.tolist()}."
            )
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels {unknown.tolist()} not in classes_="
                f"{self.classes_.tolist()}; pass all labels as `classes` to the first "
                "partial_fit, or refit with warm_start=False."
            )
        y_encoded = np.searchsorted(self.classes_, y)
        return X, torch.from_numpy(y_encoded.astype(np.int64))

    def _class_weights(self, y: torch.Tensor, sample_weight):
        if self.class_weight is None:
            return sample_weight
        if isinstance(self.class_weight, dict):
            bad = {
                k: w
                for k, w in self.class_weight.items()
                if not (isinstance(w, Real) and np.isfinite(w) and w >= 0)
            }
            if bad:
                raise ValueError(
                    "class_weight must map classes to finite, non-negative "
                    f"weights; got {bad}."
                )
        per_class = compute_class_weight(
            self.class_weight,
            classes=self.classes_,
            y=self.classes_[y.numpy()],
            sample_weight=sample_weight,
        )
        weight = per_class[y.numpy()]
        return weight if sample_weight is None else sample_weight * weight

    def _n_net_outputs(self) -> int:
        return len(self.classes_)

    def _output_module(self) -> nn.Module:
        return nn.Softmax(dim=1)

    def fit(self, X, y, sample_weight=None) -> NormMLPClassifier:
        """Train the network on ``X`` and labels ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (numpy array, DataFrame of numbers, CSR or CSC
            matrix).
        y : array-like of shape (n_samples,)
            Class labels (strings or integers).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample in the loss, times
            ``class_weight``; see the Notes of :class:`NormMLPRegressor`. None:
            every sample weighs 1.

        Returns
        -------
        self : NormMLPClassifier
            The fitted classifier.
        """
        return self._fit(X, y, incremental=self.warm_start, sample_weight=sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> NormMLPClassifier:
        """Train for ``max_epochs`` more epochs, starting from the current weights.

        As skorch's ``partial_fit``: the first call initializes the network,
        later calls continue training it with the optimizer's state (Adam's
        moment estimates, say) carried over from the call before. Set
        ``max_epochs=1`` for one pass per call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            Every label the model will see; needed on the first call when that
            call's ``y`` does not hold all of them.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in this call's loss, as in :meth:`fit`.

        Returns
        -------
        self : NormMLPClassifier
            The fitted classifier.
        """
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit, which "
                "sees only part of the data: compute the weights once with "
                "sklearn.utils.class_weight.compute_class_weight('balanced', "
                "classes=classes, y=y) on (a large sample of) all the labels and "
                "pass them as a dict, class_weight=dict(zip(classes, weights))."
            )
        return self._fit(
            X, y, incremental=True, sample_weight=sample_weight, classes=classes
        )

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (softmax of the logits), one column per class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to predict.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return self._forward(X)

    def predict(self, X) -> np.ndarray:
        """Most probable class label for each row of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to predict.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self._forward(X)
        return self.classes_[np.argmax(proba, axis=1)]


@_shared_docs
class NormMLPRegressor(RegressorMixin, _BaseNormMLP):
    """Neural-network regressor with a normalization layer in every hidden block.

    A scikit-learn regressor that trains :class:`sknorm.nn.MLP` with skorch's
    training loop and the mean squared error. It accepts numpy arrays, pandas
    DataFrames and sparse CSR/CSC matrices (cast to float32 inside; a sparse
    matrix is densified one batch at a time), 1-D or 2-D targets (predictions
    have the same number of dimensions as the ``y`` seen at fit), sample
    weights, and infers the input and output widths at :meth:`fit`.

    Parameters
    ----------
    <shared parameters>
    scale_target : bool, default=True
        Standardize the targets for training (each output to zero mean, unit
        variance, with :class:`~sklearn.preprocessing.StandardScaler`) and undo
        it at prediction, so the loss and learning rate do not depend on the
        targets' units.

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The fitted skorch net; ``net_.module_`` is the trained
        :class:`sknorm.nn.MLP`.
    target_scaler_ : StandardScaler or None
        The fitted target scaler when ``scale_target=True``.
    n_outputs_ : int
        Number of regression targets.
    <shared attributes>

    See Also
    --------
    NormMLPClassifier : The classifier.
    sklearn.neural_network.MLPRegressor : scikit-learn's MLP, without norms.

    Notes
    -----
    Sample weights (both estimators) weigh each sample's loss. They are scaled
    to a mean of 1 over the data of a fit (or of a :meth:`partial_fit` call),
    so only their ratios matter, and each mini-batch's loss is the mean of
    weight x loss: an unbiased estimate of the weighted mean loss
    ``sum(w * l) / sum(w)``, which it equals when one batch holds all the data.
    A weight of 2 then counts as a duplicated row in the loss, but not in the
    batches: a weighted fit takes as many steps per epoch as the unweighted
    data, and batch statistics (batch norm's) are not weighted. With
    ``early_stopping=True`` the validation loss is weighted alike. Without
    weights the loss is the criterion's own mean: no weights cost nothing.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import NormMLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = 100 * X[:, 0] - 50 * X[:, 1] + 7
    >>> reg = NormMLPRegressor(norm="layer", max_epochs=50, random_state=0)
    >>> reg.fit(X, y).score(X, y) > 0.95
    True
    """

    _net_class = NetRegressor
    _criterion = torch.nn.MSELoss
    _stratify = False

    _parameter_constraints: dict = {
        **_BaseNormMLP._parameter_constraints,
        "scale_target": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (128, 128),
        *,
        norm: str = "none",
        norm_position: str = "before",
        activation: str = "relu",
        dropout: float = 0.3,
        norm_defaults: str = "torch",
        norm_eps: float | None = None,
        norm_momentum: float | None = None,
        norm_affine: bool = True,
        norm_params: dict | None = None,
        input_embedding: str = "none",
        embedding_params: dict | None = None,
        optimizer: str | type = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        batch_size: int = 128,
        max_epochs: int = 300,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 15,
        tol: float = 1e-4,
        callbacks: list | None = None,
        warm_start: bool = False,
        device: str = "cpu",
        n_threads: int | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        scale_target: bool = True,
    ) -> None:
        # scikit-learn reads parameters from the signature, so it is spelled out
        # (test_estimators checks it matches the base's); the values are not.
        shared = {k: v for k, v in locals().items() if k not in _NOT_SHARED}
        super().__init__(**shared)
        self.scale_target = scale_target

    def _validate_targets(self, X, y, reset: bool, classes=None):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=_SPARSE_FORMATS,
            dtype=FLOAT_DTYPES,
            multi_output=True,
            y_numeric=True,
            reset=reset,
        )
        y = np.asarray(y, dtype=np.float64)
        y_2d = y.reshape(-1, 1) if y.ndim == 1 else y
        if reset:
            self._y_ndim_ = y.ndim
            self.n_outputs_ = y_2d.shape[1]
            self.target_scaler_ = (
                StandardScaler().fit(_finite_targets(y_2d))
                if self.scale_target
                else None
            )
        elif y_2d.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y_2d.shape[1]} outputs, but the fitted regressor has "
                f"{self.n_outputs_}; refit with warm_start=False."
            )
        else:  # predictions shaped like the last fit's y, (n,) or (n, 1)
            self._y_ndim_ = y.ndim
        if self.target_scaler_ is not None:
            y_2d = self.target_scaler_.transform(y_2d)
        return X, torch.from_numpy(y_2d.astype(np.float32))

    def _n_net_outputs(self) -> int:
        return self.n_outputs_

    def _output_module(self) -> nn.Module:
        layers = []
        if self.target_scaler_ is not None:
            scaler = self.target_scaler_
            layers.append(Affine(scaler.scale_, scaler.mean_))
        if self._y_ndim_ == 1:
            layers.append(nn.Flatten(start_dim=0))
        return nn.Sequential(*layers)

    def fit(self, X, y, sample_weight=None) -> NormMLPRegressor:
        """Train the network on ``X`` and targets ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (numpy array, DataFrame of numbers, CSR or CSC
            matrix).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample in the loss (see Notes). None:
            every sample weighs 1. The target scaler is fitted unweighted.

        Returns
        -------
        self : NormMLPRegressor
            The fitted regressor.
        """
        return self._fit(X, y, incremental=self.warm_start, sample_weight=sample_weight)

    def partial_fit(self, X, y, sample_weight=None) -> NormMLPRegressor:
        """Train for ``max_epochs`` more epochs, starting from the current weights.

        As skorch's ``partial_fit``: the first call initializes the network
        (and fits the target scaler), later calls continue training it with the
        optimizer's state carried over. Set ``max_epochs=1`` for one pass per
        call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in this call's loss, as in :meth:`fit`.

        Returns
        -------
        self : NormMLPRegressor
            The fitted regressor.
        """
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X) -> np.ndarray:
        """Predicted targets for ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to predict.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            1-D when the ``y`` seen at fit was 1-D.
        """
        return self._forward(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


#: The constructor arguments of one estimator only.
_NOT_SHARED = frozenset({"self", "__class__", "scale_target", "class_weight"})
