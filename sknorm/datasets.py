"""A generated table with every column kind real data has, blanks included.

numpy and pandas only. ``make_loans`` is what the tests, the examples and the
README's "your own data" section run on; ``examples/data/loans.csv`` is the
same table written by ``examples/data/make_loans_csv.py``.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

__all__ = ["make_loans"]

_JOBS = [f"job_{i:02d}" for i in range(40)]
_REGIONS = ["north", "south", "east", "west"]


def _blank(values, share: float, rng: np.random.RandomState):
    """``values`` with about ``share`` of its entries set to the dtype's blank."""
    mask = rng.uniform(size=len(values)) < share
    return pd.Series(values, dtype=object).mask(mask, None)


def make_loans(
    n_samples: int = 600, *, random_state: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """A loan-default table with mixed column types and blanks.

    The target depends on the income, the balance, the region, the job, the
    employment and the account's age, so every kind of column carries signal.

    Parameters
    ----------
    n_samples : int, default=600
        Rows.
    random_state : int, RandomState instance or None, default=0
        Seed of the generator.

    Returns
    -------
    X : pandas.DataFrame
        Columns ``age`` (``Int64``, blanks), ``income`` (float, skewed,
        blanks), ``balance`` (``Float64``, ``pd.NA`` blanks), ``employed``
        (``boolean``, blanks), ``has_phone`` (bool), ``region`` (``category``,
        blanks), ``job`` (text with 40 values, blanks), ``opened`` (dates,
        blanks).
    y : pandas.Series
        ``"yes"`` or ``"no"``: did the loan default.

    Examples
    --------
    >>> from sknorm.datasets import make_loans
    >>> X, y = make_loans(100)
    >>> X.shape, sorted(y.unique())
    ((100, 8), ['no', 'yes'])
    >>> int(X.isna().any().sum())
    7
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral):
        raise TypeError(f"n_samples must be an int, got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}.")
    rng = check_random_state(random_state)
    n = int(n_samples)
    age = rng.randint(18, 80, size=n)
    income = np.exp(rng.normal(10.5, 0.6, size=n))
    balance = rng.gamma(2.0, 3000.0, size=n)
    employed = rng.uniform(size=n) < 0.8
    has_phone = rng.uniform(size=n) < 0.9
    region = rng.choice(_REGIONS, size=n, p=[0.4, 0.3, 0.2, 0.1])
    job = rng.choice(_JOBS, size=n, p=np.linspace(2, 0.1, len(_JOBS)) / 42.0)
    opened = np.datetime64("2010-01-01") + rng.randint(0, 5000, size=n).astype(
        "timedelta64[D]"
    )
    years_open = (np.datetime64("2024-01-01") - opened) / np.timedelta64(365, "D")
    logit = (
        1.5 * (balance / income * 5 - 0.6)
        - 1.2 * employed
        + 0.8 * (region == "west")
        + 0.6 * np.isin(job, _JOBS[30:])
        - 0.08 * years_open
        + 0.01 * (age - 45)
        + rng.normal(0, 0.5, size=n)
    )
    y = pd.Series(np.where(logit > 0, "yes", "no"), name="default")
    X = pd.DataFrame(
        {
            "age": _blank(age, 0.05, rng).astype("Int64"),
            "income": _blank(income, 0.1, rng).astype(float),
            "balance": _blank(balance, 0.05, rng).astype("Float64"),
            "employed": _blank(employed, 0.05, rng).astype("boolean"),
            "has_phone": has_phone,
            "region": pd.Categorical(_blank(region, 0.05, rng), categories=_REGIONS),
            "job": _blank(job, 0.05, rng).astype(object),
            "opened": pd.to_datetime(_blank(opened, 0.05, rng)),
        }
    )
    return X, y
