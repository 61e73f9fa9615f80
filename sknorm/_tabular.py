"""Mixed tables in: numeric, boolean, nullable, categorical, text and date
columns with blanks, turned into the numeric matrix a network takes.

scikit-learn and pandas only. The work is scikit-learn's own: a
:class:`~sklearn.compose.ColumnTransformer` with :class:`~sklearn.impute.SimpleImputer`,
:class:`~sklearn.impute.MissingIndicator`, :class:`~sklearn.preprocessing.OneHotEncoder`
and :class:`InputScaler`. What is written here is only what they lack: telling
each column's kind from its pandas dtype and values (with an error that names a
column no kind fits), turning pandas' extension types (``Int64``, ``boolean``,
``string`` with ``pd.NA``) into values the encoders take, and the numeric
features of a date.
"""

from __future__ import annotations

import datetime
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_is_fitted,
    validate_data,
)

from ._scalers import SCALINGS, InputScaler

__all__ = ["COLUMN_KINDS", "DATE_PARTS", "TabularScaler"]

#: What a column can be: scaled numbers, one-hot categories, or a date.
COLUMN_KINDS = ("numeric", "category", "date")

#: The numeric features a date column becomes, each scaled like any number:
#: days since 1970-01-01 (the trend), then the calendar parts.
DATE_PARTS = ("days", "year", "month", "day", "weekday", "hour")

_NUMERIC_VALUES = {"integer", "floating", "mixed-integer-float", "decimal"}
_TEXT_VALUES = {"string", "boolean", "categorical"}
_DATE_VALUES = {"datetime", "datetime64", "date"}
_DAY = np.timedelta64(1, "D")


def _frame(X) -> pd.DataFrame:
    """``X`` as a DataFrame with string column names (``x0``, ... for arrays),
    with scikit-learn's messages for sparse, 1-D and empty input."""
    if isinstance(X, pd.DataFrame):
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(
                f"Found array with {X.shape[0]} sample(s) and {X.shape[1]} "
                f"feature(s) (shape={X.shape}) while a minimum of 1 is required."
            )
        return X.set_axis([str(c) for c in X.columns], axis=1)
    if sp.issparse(X):
        raise TypeError(
            "Sparse data was passed to TabularScaler, which needs dense columns "
            "(it fills blanks and one-hot encodes). For a sparse matrix use "
            "make_norm_pipeline(..., tabular=False) or the estimator alone (both "
            "take sparse input), or pass X.toarray()."
        )
    X = check_array(X, dtype=None, ensure_all_finite=False)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def _is_date(value) -> bool:
    return isinstance(value, datetime.date | np.datetime64)


@contextmanager
def _named_outputs():
    """scikit-learn's error for output names that clash (a column named as
    another column's one-hot output, "t_x" beside "t" holding "x") says to set
    ``verbose_feature_names_out``, which TabularScaler does not take."""
    try:
        yield
    except ValueError as exc:
        if "are not unique" not in str(exc):
            raise
        names = str(exc).split(":", 1)[1].split("are not unique")[0].strip()
        raise ValueError(
            f"TabularScaler's output columns {names} clash: a column is named as "
            "another column's one-hot output (column_value); rename it."
        ) from None


def _odd_value(values: pd.Series):
    """The first value that is neither text, a number nor a date, or None."""
    for v in values:
        if not (isinstance(v, str | Real | np.bool_) or _is_date(v)):
            return v
    return None


def _kind_of_value(value) -> str:
    """What a value is, in the words of the mixed-column message."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool | np.bool_):
        return "booleans"
    return "dates" if _is_date(value) else "numbers"


def column_kind(name: str, column: pd.Series) -> str:
    """The kind of one column (``COLUMN_KINDS``), or an error that names it.

    Parameters
    ----------
    name : str
        The column's name, for the messages.
    column : pandas.Series
        The column's values at fit.

    Returns
    -------
    kind : {"numeric", "category", "date"}

    Examples
    --------
    >>> import pandas as pd
    >>> from sknorm._tabular import column_kind
    >>> column_kind("city", pd.Series(["Paris", None, "Lyon"]))
    'category'
    >>> column_kind("age", pd.Series([31, None, 40], dtype="Int64"))
    'numeric'
    """
    dtype = column.dtype
    if column.isna().all():
        raise ValueError(
            f"Column {name!r} is blank in every row; drop it or fill it in."
        )
    if pd.api.types.is_complex_dtype(dtype):
        raise ValueError(f"Complex data not supported (column {name!r}).")
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    values = pd.api.types.infer_dtype(column, skipna=True)
    if values in _TEXT_VALUES:
        return "category"
    if values in _NUMERIC_VALUES:
        return "numeric"
    if values in _DATE_VALUES:
        return "date"
    odd = _odd_value(column.dropna())
    if odd is not None:
        raise TypeError(
            f"Column {name!r} holds a {type(odd).__name__} ({odd!r}); each "
            "argument must be a string or a number (or a date)."
        )
    if values.startswith("mixed"):
        seen: dict[str, object] = {}  # the first value of each kind, in order
        for value in column.dropna():
            seen.setdefault(_kind_of_value(value), value)
        if len(seen) > 1:
            (a, x), (b, z) = sorted(seen.items(), key=lambda kv: kv[0] == "text")[:2]
            raise ValueError(
                f"Column {name!r} mixes {a} and {b} (e.g. {x!r} and {z!r}); make "
                f"it all {a} or all {b}."
            )
    raise ValueError(f"Column {name!r} has values of an unsupported kind: {values}.")


def _date_parts(name: str, column: pd.Series, parts) -> dict[str, np.ndarray]:
    """The numeric features of a date column, NaN where it is blank."""
    try:
        when = pd.to_datetime(column, errors="raise")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"Column {name!r} is not a date at every row: {exc}") from None
    if getattr(when.dt, "tz", None) is not None:
        when = when.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = when.to_numpy(dtype="datetime64[ns]")
    blank = np.isnat(stamps)
    features = {
        "days": (stamps - np.datetime64("1970-01-01")) / _DAY,
        "year": when.dt.year,
        "month": when.dt.month,
        "day": when.dt.day,
        "weekday": when.dt.day_of_week,
        "hour": when.dt.hour + when.dt.minute / 60,
    }
    out = {}
    for part in parts:
        values = np.asarray(features[part], dtype=np.float64)
        out[f"{name}_{part}"] = np.where(blank, np.nan, values)
    return out


def _numbers(name: str, column: pd.Series) -> np.ndarray:
    try:
        values = pd.to_numeric(column, errors="raise").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    except (ValueError, TypeError):
        raise ValueError(
            f"Column {name!r} was numeric at fit but holds text now."
        ) from None
    if np.isinf(values).any():
        raise ValueError(f"Column {name!r} contains infinity.")
    return values


def _categories(column: pd.Series) -> np.ndarray:
    """Values as an object array with NaN for every kind of blank."""
    values = column.astype(object).to_numpy(copy=True)
    values[pd.isna(values)] = np.nan
    return values


class TabularScaler(TransformerMixin, BaseEstimator):
    """Scale the numeric columns of a table, one-hot encode the rest, fill blanks.

    The input scaling of :class:`InputScaler` for real tables: a DataFrame (or
    array) with numeric, boolean, pandas nullable (``Int64``, ``Float64``,
    ``boolean``), ``category``, text and date columns, blanks anywhere. Each
    column is read by its dtype and values:

    - **numbers** are filled with the training median where blank and scaled
      by ``method``, exactly as :class:`InputScaler` does;
    - **text, categories and booleans** are one-hot encoded (0/1, never
      scaled), a blank being a category of its own; at most ``max_categories``
      columns per feature: the rarer values (and values first seen at predict)
      share one "infrequent" column;
    - **dates** become numbers (``DATE_PARTS``: days since 1970, year, month,
      day, weekday, and hour when the training dates have times), scaled like
      the others; ``method="none"`` with a date column is an error, since
      unscaled day counts (~20,000) swamp a network;
    - with ``missing_indicators=True``, a 0/1 column marks the blanks of each
      numeric or date column that had any at fit.

    The arithmetic is scikit-learn's (:class:`~sklearn.compose.ColumnTransformer`,
    :class:`~sklearn.impute.SimpleImputer`, :class:`~sklearn.impute.MissingIndicator`,
    :class:`~sklearn.preprocessing.OneHotEncoder`), fitted on the training rows
    only, so inside a cross-validation nothing leaks across folds.

    Parameters
    ----------
    method : {"none", "minmax", "standard", "robust", "quantile"}, \
default="standard"
        The scaling of the numeric (and date) columns; see :class:`InputScaler`.
    max_categories : int, default=20
        Most output columns of one text or category column, the infrequent
        group included, so a column of IDs or free text cannot blow the width
        up.
    min_frequency : int, float or None, default=None
        Categories seen fewer times (or in a smaller share of the rows) go to
        the infrequent group too.
    missing_indicators : bool, default=True
        Add a 0/1 column for the blanks of each numeric or date column that
        had blanks at fit.

    Attributes
    ----------
    column_kinds_ : dict
        Column name -> ``"numeric"``, ``"category"`` or ``"date"``.
    missing_share_ : dict
        Column name -> share of blank rows at fit.
    date_parts_ : dict
        Date column name -> the ``DATE_PARTS`` it became.
    transformer_ : sklearn.compose.ColumnTransformer
        The fitted scikit-learn transformer doing the work.
    n_features_in_ : int
        Number of columns seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen during :meth:`fit`, when ``X`` has string column
        names.

    See Also
    --------
    InputScaler : The scaling alone, for all-numeric data without blanks.
    sklearn.compose.ColumnTransformer : What it builds.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sknorm import TabularScaler
    >>> X = pd.DataFrame({"age": [20, None, 40], "city": ["Paris", "Lyon", None]})
    >>> scaler = TabularScaler("minmax").fit(X)
    >>> scaler.column_kinds_
    {'age': 'numeric', 'city': 'category'}
    >>> scaler.get_feature_names_out().tolist()
    ['age', 'missingindicator_age', 'city_Lyon', 'city_Paris', 'city_nan']
    >>> scaler.transform(X)
    array([[0. , 0. , 0. , 1. , 0. ],
           [0.5, 1. , 1. , 0. , 0. ],
           [1. , 0. , 0. , 0. , 1. ]])
    """

    _parameter_constraints: dict = {
        "method": [StrOptions(set(SCALINGS))],
        "max_categories": [Interval(Integral, 2, None, closed="left")],
        "min_frequency": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
            None,
        ],
        "missing_indicators": ["boolean"],
    }

    def __init__(
        self,
        method: str = "standard",
        *,
        max_categories: int = 20,
        min_frequency: int | float | None = None,
        missing_indicators: bool = True,
    ) -> None:
        self.method = method
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.missing_indicators = missing_indicators

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The table as the encoders take it: floats and object columns."""
        columns = {}
        dtypes = frame.dtypes
        plain = [
            name
            for name, kind in self.column_kinds_.items()
            if kind == "numeric" and dtypes[name].kind in "fiu"
        ]
        numbers = {}
        if plain:  # numpy numbers: one conversion for all of them
            block = frame[plain].to_numpy(dtype=np.float64)
            infinite = np.isinf(block).any(axis=0)
            if infinite.any():
                name = plain[int(np.argmax(infinite))]
                raise ValueError(f"Column {name!r} contains infinity.")
            if len(plain) == len(self.column_kinds_):  # one block: cheap to read
                return pd.DataFrame(block, columns=plain, index=frame.index)
            numbers = dict(zip(plain, block.T, strict=True))
        for name, kind in self.column_kinds_.items():
            if name in numbers:
                columns[name] = numbers[name]
                continue
            column = frame[name]
            dated = pd.api.types.is_datetime64_any_dtype(column.dtype)
            if kind == "numeric" and dated:
                raise ValueError(
                    f"Column {name!r} was numeric at fit but holds dates now."
                )
            if kind == "date" and pd.api.types.is_numeric_dtype(column.dtype):
                raise ValueError(
                    f"Column {name!r} was a date at fit but holds numbers now."
                )
            if kind == "numeric":
                columns[name] = _numbers(name, column)
            elif kind == "date":
                columns.update(_date_parts(name, column, self.date_parts_[name]))
            else:
                columns[name] = _categories(column)
        return pd.DataFrame(columns, index=frame.index)

    def _build(self) -> ColumnTransformer:
        kinds = self.column_kinds_
        numeric = [c for c, k in kinds.items() if k == "numeric"]
        numeric += [f"{c}_{p}" for c, parts in self.date_parts_.items() for p in parts]
        blanks = [
            c for c in kinds if self.missing_share_[c] > 0 and kinds[c] != "category"
        ]
        blanks = [c if kinds[c] == "numeric" else f"{c}_days" for c in blanks]
        text = [c for c, k in kinds.items() if k == "category"]
        impute = SimpleImputer(strategy="median", keep_empty_features=True)
        scale = Pipeline([("impute", impute), ("scale", InputScaler(self.method))])
        encode = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=self.max_categories,
            min_frequency=self.min_frequency,
            sparse_output=False,
        )
        parts = [("numeric", scale, numeric), ("categories", encode, text)]
        if self.missing_indicators and blanks:
            indicate = MissingIndicator(features="missing-only", error_on_new=False)
            parts.insert(1, ("missing", indicate, blanks))
        return ColumnTransformer(
            [p for p in parts if p[2]],
            sparse_threshold=0,
            verbose_feature_names_out=False,
        )

    def fit(self, X, y=None) -> TabularScaler:
        """Learn each column's kind, its fill value, scaling and categories.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training table; blanks (NaN, None, ``pd.NA``, ``NaT``) allowed.
        y : None
            Ignored.

        Returns
        -------
        self : TabularScaler
            The fitted transformer.
        """
        transformer, rows = self._learn_columns(X)
        self.transformer_ = transformer.fit(rows)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        """:meth:`fit`, then :meth:`transform` of the same rows, preparing them
        once (what a pipeline's ``fit`` and each CV fold call).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training table; blanks (NaN, None, ``pd.NA``, ``NaT``) allowed.
        y : None
            Ignored.

        Returns
        -------
        X_encoded : ndarray of shape (n_samples, n_features_out)
        """
        transformer, rows = self._learn_columns(X)
        self.transformer_ = transformer
        return transformer.fit_transform(rows)

    def _learn_columns(self, X) -> tuple[ColumnTransformer, pd.DataFrame]:
        """Learn the columns' kinds from ``X``: the unfitted transformer, and
        ``X`` prepared for it."""
        self._validate_params()
        frame = _frame(X)
        validate_data(self, X, reset=True, skip_check_array=True)
        blank = frame.isna()
        self.missing_share_ = {c: float(v) for c, v in blank.mean().items()}
        dtypes = frame.dtypes
        self.column_kinds_ = {
            # numpy numbers with a value somewhere: numeric, no need to look
            c: "numeric"
            if dtypes[c].kind in "fiu" and self.missing_share_[c] < 1
            else column_kind(c, frame[c])
            for c in frame.columns
        }
        dates = [c for c, k in self.column_kinds_.items() if k == "date"]
        if dates and self.method == "none":
            raise ValueError(
                f"Date column {dates[0]!r} becomes day counts near 20,000, which "
                "must be scaled; choose a scaling other than 'none' (or drop it)."
            )
        self.date_parts_ = {c: self._parts_of(c, frame[c]) for c in dates}
        return self._build(), self._prepare(frame)

    @staticmethod
    def _parts_of(name: str, column: pd.Series) -> tuple[str, ...]:
        when = pd.to_datetime(column, errors="coerce")
        if getattr(when.dt, "tz", None) is not None:  # as _date_parts reads it
            when = when.dt.tz_convert("UTC").dt.tz_localize(None)
        timed = bool((when.dt.hour + when.dt.minute).fillna(0).any())
        return DATE_PARTS if timed else DATE_PARTS[:-1]

    def transform(self, X) -> np.ndarray:
        """Encode ``X`` as learned at :meth:`fit`.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows of the same kind as at fit; new blanks are filled, new
            categories go to the infrequent group (or all zeros).

        Returns
        -------
        X_encoded : ndarray of shape (n_samples, n_features_out)
        """
        check_is_fitted(self)
        frame = _frame(X)
        validate_data(self, X, reset=False, skip_check_array=True)
        names = list(self.column_kinds_)
        if set(frame.columns) != set(names):
            # an array after a DataFrame (or the reverse): read by position, as
            # scikit-learn's transformers do (validate_data warned about it)
            frame = frame.set_axis(names, axis=1)
        return self.transformer_.transform(self._as_fitted(self._prepare(frame)))

    def _as_fitted(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Text that spells a category fitted as another type (``"True"`` for
        ``True``, ``"10"`` for the code 10, as a CSV or JSON read as text
        gives them) read as that category, where it would be an unseen
        value: ``str(value)`` is what the ONNX export matches too."""
        encoders = [
            (encoder, columns)
            for name, encoder, columns in self.transformer_.transformers_
            if name == "categories"
        ]
        for encoder, columns in encoders:
            for name, fitted in zip(columns, encoder.categories_, strict=True):
                known = set(fitted)
                spelled = {
                    str(c): c for c in fitted if not isinstance(c, str) and c == c
                }
                spelled = {t: c for t, c in spelled.items() if t not in known}
                if not spelled:
                    continue
                values = rows[name].to_numpy(dtype=object)  # object, as fitted
                text = np.fromiter(
                    (isinstance(v, str) and v in spelled for v in values),
                    dtype=bool,
                    count=len(values),
                )
                if text.any():
                    values = values.copy()
                    values[text] = [spelled[v] for v in values[text]]
                    rows[name] = values
        return rows

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Checked against the names seen at fit.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        with _named_outputs():
            return self.transformer_.get_feature_names_out()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
