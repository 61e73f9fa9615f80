"""Input scaling as one transformer whose method is a plain string.

scikit-learn only: the arithmetic is scikit-learn's own scalers, delegated to,
except for the two encodings of modern tabular deep learning scikit-learn does
not have, written here once: RealMLP's robust scaling with smooth clipping and
the piecewise-linear encoding of Gorishniy et al.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.preprocessing import (
    MinMaxScaler,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

__all__ = [
    "AFFINE_SCALINGS",
    "SCALINGS",
    "InputScaler",
    "PiecewiseLinearEncoder",
    "RobustClipScaler",
]

#: The values ``InputScaler(method=...)`` accepts.
SCALINGS = ("none", "minmax", "standard", "robust", "quantile", "robust_clip", "ple")
#: The scalings that are a fixed ``x * a + b`` per feature (foldable on export).
AFFINE_SCALINGS = ("none", "minmax", "standard", "robust")

#: RealMLP's bound of the smooth clipping: outputs stay inside (-3, 3).
CLIP_BOUND = 3.0


class RobustClipScaler:
    """Robust scaling, then smooth clipping into ``(-3, 3)`` (RealMLP-TD).

    With ``q`` the training quantiles of a feature (Holzmüller et al., 2024)::

        a = 1 / (q_hi - q_lo)      if q_hi != q_lo
            2 / (q_1 - q_0)        elif the feature is not constant
            0                      else
        z = a * (x - q_0.5)
        out = z / sqrt(1 + (z / 3) ** 2)

    Written here because scikit-learn has no smooth clipping, and its
    ``RobustScaler`` maps a zero interquartile range to a scale of 1 where
    RealMLP falls back to the range.
    """

    def __init__(self, quantile_range=(25.0, 75.0)) -> None:
        self.quantile_range = quantile_range

    def fit(self, X):
        bounds = self.quantile_range
        if not (
            len(bounds) == 2
            and all(isinstance(b, Real) and not isinstance(b, bool) for b in bounds)
            and 0 <= bounds[0] < bounds[1] <= 100
        ):  # as scikit-learn's RobustScaler checks its own
            raise ValueError(
                "quantile_range must be two percentiles (q_min, q_max) with "
                f"0 <= q_min < q_max <= 100; got {bounds!r}."
            )
        lo, hi = (q / 100.0 for q in bounds)
        q = np.quantile(X, [0.0, lo, 0.5, hi, 1.0], axis=0)
        iqr, full = q[3] - q[1], q[4] - q[0]
        with np.errstate(divide="ignore"):
            self.scale_ = np.where(
                iqr > 0, 1.0 / iqr, np.where(full > 0, 2.0 / full, 0.0)
            )
        self.center_ = q[2]
        return self

    def transform(self, X):
        z = (X - self.center_) * self.scale_
        # hypot(1, w) is sqrt(1 + w**2) without its overflow: a far value
        # (|z| > 1e154) goes to +-3, not to z / inf = 0
        return (z / np.hypot(1.0, z / CLIP_BOUND)).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        outside = np.abs(X) >= CLIP_BOUND
        if outside.any():
            raise ValueError(
                f"robust_clip's outputs lie inside (-{CLIP_BOUND:g}, {CLIP_BOUND:g}); "
                f"{float(X[outside].flat[0])!r} is none of them, so it has no inverse."
            )
        z = X / np.sqrt(1.0 - (X / CLIP_BOUND) ** 2)
        scale = np.where(self.scale_ > 0, self.scale_, np.inf)
        return (z / scale + self.center_).astype(X.dtype, copy=False)


class PiecewiseLinearEncoder:
    """Piecewise-linear encoding over quantile bins (Gorishniy et al., 2022).

    Each feature's training quantiles give bin edges ``b_0 < ... < b_T``; a
    value becomes ``T`` numbers, for bin ``t``::

        e_t = 0                                   if x < b_(t-1) and t > 1
              1                                   if x >= b_t and t < T
              (x - b_(t-1)) / (b_t - b_(t-1))     otherwise

    so the first bin extends below the training range and the last above it.
    Written here because scikit-learn's ``KBinsDiscretizer`` gives one-hot or
    ordinal bins, not the position inside a bin.
    """

    def __init__(self, n_bins: int = 16) -> None:
        self.n_bins = n_bins

    def fit(self, X):
        qs = np.linspace(0.0, 1.0, self.n_bins + 1)
        self.edges_ = []
        for column in X.T:
            edges = np.unique(np.quantile(column, qs))
            if edges.size < 2:  # a constant feature: one bin of width 1, or
                # wider where 1 is below its float spacing (1e16 + 1 == 1e16)
                width = max(1.0, 4.0 * float(np.spacing(abs(edges[0]))))
                edges = edges[0] + np.array([0.0, width])
            self.edges_.append(edges)
        return self

    def transform(self, X):
        blocks = []
        for column, edges in zip(X.T, self.edges_, strict=True):
            left, right = edges[:-1], edges[1:]
            t = (column[:, None] - left) / (right - left)
            low = np.r_[-np.inf, np.zeros(left.size - 1)]
            high = np.r_[np.ones(left.size - 1), np.inf]
            blocks.append(np.clip(t, low, high))
        return np.hstack(blocks).astype(X.dtype, copy=False)


class InputScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Scale input features by a method named with a string.

    One transformer for every input scaling, so that the scaling is an ordinary
    hyperparameter: ``GridSearchCV`` sweeps ``scale__method`` over
    ``["none", "minmax", "standard"]`` and ``cv_results_`` reads ``"minmax"``,
    not an object repr. The arithmetic is scikit-learn's
    :class:`~sklearn.preprocessing.MinMaxScaler` (``(x - min) / (max - min)``
    mapped onto ``feature_range``) and
    :class:`~sklearn.preprocessing.StandardScaler` (``(x - mean) / std``),
    :class:`~sklearn.preprocessing.RobustScaler` (``(x - median) / IQR``) and
    :class:`~sklearn.preprocessing.QuantileTransformer` (each feature mapped
    through its empirical CDF onto a standard normal), fitted on the training
    data only; constant features get a scale of 1, so no division by zero.
    Two encodings from modern tabular deep learning complete the set:
    ``"robust_clip"``, RealMLP-TD's robust scaling followed by smooth clipping
    into (-3, 3) (:class:`RobustClipScaler`), and ``"ple"``, the
    piecewise-linear encoding of each feature over ``n_bins`` quantile bins
    (:class:`PiecewiseLinearEncoder`), which turns each feature into up to
    ``n_bins`` columns.

    Parameters
    ----------
    method : {"none", "minmax", "standard", "robust", "quantile", \
"robust_clip", "ple"}, default="standard"
        ``"none"`` validates and passes the data through unchanged.
    feature_range : tuple (min, max), default=(0, 1)
        Target range of ``"minmax"``; ignored by the other methods.
    clip : bool, default=False
        ``"minmax"`` only: clip transformed values of unseen data to
        ``feature_range``.
    with_mean : bool, default=True
        ``"standard"``: subtract the mean; ``"robust"``: subtract the median.
    with_std : bool, default=True
        ``"standard"``: divide by the standard deviation; ``"robust"``: divide
        by the interquartile range.
    quantile_range : tuple (q_min, q_max), default=(25.0, 75.0)
        ``"robust"`` and ``"robust_clip"``: the percentiles whose distance is
        the scale.
    n_quantiles : int, default=1000
        ``"quantile"`` only: landmarks of the empirical CDF (at most the number
        of training samples).
    n_bins : int, default=16
        ``"ple"`` only: quantile bins per feature (fewer where values repeat).
    copy : bool, default=True
        Set to False to scale float arrays in place where possible.

    Attributes
    ----------
    scaler_ : object or None
        The fitted scaler doing the work: scikit-learn's ``MinMaxScaler``,
        ``StandardScaler``, ``RobustScaler`` or ``QuantileTransformer``, or
        :class:`RobustClipScaler` or :class:`PiecewiseLinearEncoder` (None for
        ``"none"``).
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :meth:`fit`, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.preprocessing.MinMaxScaler : The ``"minmax"`` arithmetic.
    sklearn.preprocessing.StandardScaler : The ``"standard"`` arithmetic.
    sklearn.preprocessing.RobustScaler : The ``"robust"`` arithmetic.
    sklearn.preprocessing.QuantileTransformer : The ``"quantile"`` arithmetic.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import InputScaler
    >>> X = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0]])
    >>> InputScaler("minmax").fit_transform(X)
    array([[0. , 0. ],
           [0.5, 0.5],
           [1. , 1. ]])
    >>> InputScaler("standard").fit(X).transform([[1.0, 40.0]])
    array([[0.        , 2.44948974]])
    """

    _parameter_constraints: dict = {
        "method": [StrOptions(set(SCALINGS))],
        "feature_range": [tuple],
        "clip": ["boolean"],
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "quantile_range": [tuple],
        "n_quantiles": [Interval(Integral, 2, None, closed="left")],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "copy": ["boolean"],
    }

    def __init__(
        self,
        method: str = "standard",
        *,
        feature_range: tuple[float, float] = (0, 1),
        clip: bool = False,
        with_mean: bool = True,
        with_std: bool = True,
        quantile_range: tuple[float, float] = (25.0, 75.0),
        n_quantiles: int = 1000,
        n_bins: int = 16,
        copy: bool = True,
    ) -> None:
        self.method = method
        self.feature_range = feature_range
        self.clip = clip
        self.with_mean = with_mean
        self.with_std = with_std
        self.quantile_range = quantile_range
        self.n_quantiles = n_quantiles
        self.n_bins = n_bins
        self.copy = copy

    def _make_scaler(self, n_samples: int):
        if self.method == "minmax":
            if (
                len(self.feature_range) != 2
                or not all(isinstance(v, Real) for v in self.feature_range)
                or not np.isfinite(self.feature_range).all()
                or not self.feature_range[0] < self.feature_range[1]
            ):
                raise ValueError(
                    "feature_range must be a (min, max) pair of finite numbers with "
                    f"min < max, got {self.feature_range!r}."
                )
            return MinMaxScaler(
                feature_range=self.feature_range, clip=self.clip, copy=self.copy
            )
        if self.method == "standard":
            return StandardScaler(
                with_mean=self.with_mean, with_std=self.with_std, copy=self.copy
            )
        if self.method == "robust":
            return RobustScaler(
                with_centering=self.with_mean,
                with_scaling=self.with_std,
                quantile_range=self.quantile_range,
                copy=self.copy,
            )
        if self.method == "quantile":
            return QuantileTransformer(
                n_quantiles=min(self.n_quantiles, n_samples),
                output_distribution="normal",
                subsample=None,
                copy=self.copy,
            )
        if self.method == "robust_clip":
            return RobustClipScaler(self.quantile_range)
        if self.method == "ple":
            return PiecewiseLinearEncoder(self.n_bins)
        return None

    def fit(self, X, y=None) -> InputScaler:
        """Learn the scaling from the training data ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; NaN and infinite values are rejected.
        y : None
            Ignored.

        Returns
        -------
        self : InputScaler
            The fitted transformer.
        """
        self._validate_params()
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=True)
        scaler = self._make_scaler(X.shape[0])
        self.scaler_ = None if scaler is None else scaler.fit(X)
        spread = getattr(self.scaler_, "scale_", None)
        if (
            isinstance(self.scaler_, StandardScaler | RobustScaler)
            and spread is not None
        ):
            # scikit-learn's constant-feature test lets through a spread that is
            # not zero in float64 but below the data type's smallest normal
            # number (float32 subnormals): transform casts it to 0 and divides
            # by it. At the data's precision such a feature is constant.
            spread[spread < np.finfo(X.dtype).tiny] = 1.0
        return self

    def transform(self, X):
        """Scale ``X`` with the statistics learned in :meth:`fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to scale.

        Returns
        -------
        X_scaled : ndarray of shape (n_samples, n_features)
        """
        return self._apply("transform", X)

    def inverse_transform(self, X):
        """Undo the scaling.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Scaled data.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        if self.method == "ple":
            raise ValueError(
                "The 'ple' encoding keeps only each value's place in its bin "
                "and is not inverted; use another scaling to invert."
            )
        return self._apply("inverse_transform", X)

    def get_feature_names_out(self, input_features=None):
        """Output column names: the input names, one per bin for ``"ple"``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Checked against the names seen at fit.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        names = super().get_feature_names_out(input_features)
        if self.method != "ple":
            return names
        edges = self.scaler_.edges_
        return np.asarray(
            [
                f"{n}_bin{t}"
                for n, e in zip(names, edges, strict=True)
                for t in range(e.size - 1)
            ],
            dtype=object,
        )

    def _apply(self, method: str, X):
        """Validate ``X`` and pass it to the fitted scaler's ``method``."""
        check_is_fitted(self)
        # The delegate copies (or not) as ``copy`` says; only "none" copies here.
        X = validate_data(
            self,
            X,
            dtype=FLOAT_DTYPES,
            reset=False,
            copy=self.copy and self.scaler_ is None,
        )
        if self.scaler_ is None:
            return X
        return getattr(self.scaler_, method)(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
