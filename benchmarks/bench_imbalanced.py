"""Balanced accuracy on a 97/3 imbalanced classification, with and without weights.

Run from the repository root::

    python benchmarks/bench_imbalanced.py            # the reference setting
    python benchmarks/bench_imbalanced.py --quick    # smoke run, seconds

The data: ``make_classification(n_samples=4000, n_features=20,
n_informative=8, weights=[0.97], flip_y=0.01, random_state=0)``, split 75/25
(stratified, ``random_state=0``); about 120 minority rows. Every model is
fitted on the raw features (already on unit scales) with each seed of
``--seeds`` as its ``random_state``, and scored on the held-out quarter:

* sknorm without early stopping: ``NormMLPClassifier(early_stopping=False)``
  (the default network: no hidden-layer norm, dropout 0.3; ``--epochs`` epochs
  on all the training rows);
* sknorm, ``class_weight="balanced"``: the same, each class weighed by
  ``n_samples / (n_classes * class count)``;
* both again as the estimator's default, with early stopping (10% held out,
  stratified; the validation loss is weighted as the training loss is);
* scikit-learn's ``MLPClassifier(max_iter=200)`` fitted with
  ``sample_weight=compute_sample_weight("balanced", y)``, the same weights;
* ``HistGradientBoostingClassifier()``, default and ``class_weight="balanced"``.

The table gives the mean (and the spread, min-max) over seeds of the balanced
accuracy, the recall of the minority class, and the fit time. Nothing here
asserts a figure: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import load_average, markdown_table
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.utils.class_weight import compute_sample_weight

from sknorm import NormMLPClassifier

HEADER = ["model", "balanced accuracy", "minority recall", "fit s"]


def imbalanced_data(n_samples: int):
    """The 97/3 set, split 75/25: ``X_train, X_test, y_train, y_test``."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=20,
        n_informative=8,
        weights=[0.97],
        flip_y=0.01,
        random_state=0,
    )
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def contenders(max_epochs: int):
    """``name -> (make(seed), balanced sample weights at fit?)``."""
    return {
        "sknorm NormMLPClassifier, no early stopping": (
            lambda s: NormMLPClassifier(
                max_epochs=max_epochs, early_stopping=False, random_state=s
            ),
            False,
        ),
        'sknorm NormMLPClassifier, no early stopping, class_weight="balanced"': (
            lambda s: NormMLPClassifier(
                max_epochs=max_epochs,
                early_stopping=False,
                class_weight="balanced",
                random_state=s,
            ),
            False,
        ),
        "sknorm NormMLPClassifier, default (early stopping)": (
            lambda s: NormMLPClassifier(
                max_epochs=max_epochs, early_stopping=True, random_state=s
            ),
            False,
        ),
        'sknorm NormMLPClassifier, default, class_weight="balanced"': (
            lambda s: NormMLPClassifier(
                max_epochs=max_epochs,
                early_stopping=True,
                class_weight="balanced",
                random_state=s,
            ),
            False,
        ),
        "sklearn MLPClassifier, balanced sample_weight": (
            lambda s: MLPClassifier(max_iter=2 * max_epochs, random_state=s),
            True,
        ),
        "HistGradientBoosting, default": (
            lambda s: HistGradientBoostingClassifier(random_state=s),
            False,
        ),
        'HistGradientBoosting, class_weight="balanced"': (
            lambda s: HistGradientBoostingClassifier(
                class_weight="balanced", random_state=s
            ),
            False,
        ),
    }


def _spread(values) -> str:
    values = np.asarray(values)
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} ({values.min():.3f}-{values.max():.3f})"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=4000)
    parser.add_argument("--seeds", type=int, default=3, help="model seeds 0..k-1")
    parser.add_argument("--epochs", type=int, default=100, help="sknorm max_epochs")
    parser.add_argument(
        "--quick", action="store_true", help="1,000 rows, 1 seed, 5 epochs"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.seeds, args.epochs = 1000, 1, 5

    X_train, X_test, y_train, y_test = imbalanced_data(args.n_samples)
    weights = compute_sample_weight("balanced", y_train)
    print(
        f"{len(y_train)} training rows ({int(y_train.sum())} minority), "
        f"{len(y_test)} held out ({int(y_test.sum())} minority); "
        f"seeds 0..{args.seeds - 1}; load average {load_average()}\n"
    )
    rows = []
    for name, (make, weighted) in contenders(args.epochs).items():
        scores, recalls, seconds = [], [], []
        for seed in range(args.seeds):
            model = make(seed)
            fit_params = {"sample_weight": weights} if weighted else {}
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_train, y_train, **fit_params)
            seconds.append(time.perf_counter() - start)
            y_pred = model.predict(X_test)
            scores.append(balanced_accuracy_score(y_test, y_pred))
            recalls.append(recall_score(y_test, y_pred))
        rows.append(
            [name, _spread(scores), _spread(recalls), f"{np.mean(seconds):.1f}"]
        )
    print(markdown_table(HEADER, rows))
    print(f"\nMeans over seeds (min-max). Load average now {load_average()}")


if __name__ == "__main__":
    main()
