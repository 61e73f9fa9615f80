"""Input scaling as one transformer whose method is a plain string.

scikit-learn only: the arithmetic is scikit-learn's own scalers, delegated to.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.preprocessing import (
    MinMaxScaler,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

__all__ = ["SCALINGS", "InputScaler"]

#: The values ``InputScaler(method=...)`` accepts.
SCALINGS = ("none", "minmax", "standard", "robust", "quantile")


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

    Parameters
    ----------
    method : {"none", "minmax", "standard", "robust", "quantile"}, \
default="standard"
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
        ``"robust"`` only: the percentiles whose distance is the scale.
    n_quantiles : int, default=1000
        ``"quantile"`` only: landmarks of the empirical CDF (at most the number
        of training samples).
    copy : bool, default=True
        Set to False to scale float arrays in place where possible.

    Attributes
    ----------
    scaler_ : MinMaxScaler, StandardScaler, RobustScaler, QuantileTransformer or None
        The fitted scikit-learn scaler doing the work (None for ``"none"``).
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
        copy: bool = True,
    ) -> None:
        self.method = method
        self.feature_range = feature_range
        self.clip = clip
        self.with_mean = with_mean
        self.with_std = with_std
        self.quantile_range = quantile_range
        self.n_quantiles = n_quantiles
        self.copy = copy

    def _make_scaler(self, n_samples: int):
        if self.method == "minmax":
            if (
                len(self.feature_range) != 2
                or not all(isinstance(v, Real) for v in self.feature_range)
                or not self.feature_range[0] < self.feature_range[1]
            ):
                raise ValueError(
                    "feature_range must be a (min, max) pair of numbers with "
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
        return self._apply("inverse_transform", X)

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
