"""The packed sweep against GridSearchCV, and how it grows with the members.

Run from the repository root::

    python benchmarks/bench_packed.py            # the default sweep, and growth
    python benchmarks/bench_packed.py --quick    # smoke run, seconds

The default sweep: breast cancer (569 x 30), scalings none/minmax/standard x
norms none/batch/layer, ``StratifiedKFold(5, shuffle=True, random_state=0)``,
the CLI's network (hidden (64, 64), batch 64, 30 epochs, ``random_state=0``).
Contenders, in one run: :class:`PackedSearchCV` with one and with two torch
threads for the packed run (the ratios are to one thread: on a busy machine
two OpenMP threads wait on each other), ``GridSearchCV(n_jobs=1)`` and
``GridSearchCV(n_jobs=2)``, each with ``refit=False`` (the refit is the same
single fit for all). Before any timing, one tiny fit warms torch up (its
optimizer module loads lazily, about 2 s the first time), so no contender
pays it.

Growth (one thread): the packed search over 5 scalings x 7 norms x 5 folds (175 members)
against the 9-candidate one (45 members).

Wall time is printed with CPU time and the load average: on a shared machine
the wall times of the two-thread contenders are the noisiest.
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import load_average, markdown_table
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sknorm import (
    NORMS,
    NormMLPClassifier,
    PackedSearchCV,
    make_norm_pipeline,
    normalization_grid,
)

SCALINGS_9, NORMS_9 = ("none", "minmax", "standard"), ("none", "batch", "layer")
SCALINGS_25 = ("none", "minmax", "standard", "robust", "quantile")


def _pipeline(epochs: int, hidden: tuple, threads: int | None):
    net = NormMLPClassifier(
        hidden,
        batch_size=64,
        max_epochs=epochs,
        random_state=0,
        n_threads=threads,
        norm_params={"groups": 8},
    )
    return make_norm_pipeline(net)


def _timed(search, X, y) -> tuple[float, float, float]:
    """``(wall s, cpu s of this process, best mean score)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    search.fit(X, y)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, float(search.cv_results_["mean_test_score"].max())


def _speed(X, y, epochs: int, hidden: tuple, folds: int, quick: bool) -> list[list]:
    """The default sweep by each contender: rows of the first table (without
    ``n_jobs=2`` in the quick run: starting its workers alone takes seconds)."""
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    grid = normalization_grid(SCALINGS_9, NORMS_9)
    contenders = {
        "packed (1 thread)": PackedSearchCV(
            _pipeline(epochs, hidden, 1), grid, cv=cv, refit=False
        ),
        "packed (2 threads)": PackedSearchCV(
            _pipeline(epochs, hidden, 2), grid, cv=cv, refit=False
        ),
        "GridSearchCV n_jobs=1": GridSearchCV(
            _pipeline(epochs, hidden, None), grid, cv=cv, refit=False, n_jobs=1
        ),
        "GridSearchCV n_jobs=2": GridSearchCV(
            _pipeline(epochs, hidden, None), grid, cv=cv, refit=False, n_jobs=2
        ),
    }
    if quick:
        del contenders["GridSearchCV n_jobs=2"]
    timings = {name: _timed(search, X, y) for name, search in contenders.items()}
    packed = timings["packed (1 thread)"][0]
    return [
        [name, f"{wall:.2f}", f"{cpu:.2f}", f"{wall / packed:.1f}x", f"{best:.4f}"]
        for name, (wall, cpu, best) in timings.items()
    ]


def _growth(X, y, epochs: int, hidden: tuple, folds: int) -> list[list]:
    """Packed time for 9 and for 35 candidates: rows of the second table."""
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    rows, base = [], None
    for scalings, norms in ((SCALINGS_9, NORMS_9), (SCALINGS_25, NORMS)):
        grid = normalization_grid(scalings, norms)
        search = PackedSearchCV(_pipeline(epochs, hidden, 1), grid, cv=cv, refit=False)
        wall, cpu, _ = _timed(search, X, y)
        base = base or wall
        members = len(scalings) * len(norms) * folds
        rows.append([members, f"{wall:.2f}", f"{cpu:.2f}", f"{wall / base:.2f}"])
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings")
    args = parser.parse_args(argv)
    epochs, hidden, folds = (2, (16, 16), 2) if args.quick else (30, (64, 64), 5)
    X, y = load_breast_cancer(return_X_y=True)
    if args.quick:
        X, y = X[::4], y[::4]
    _pipeline(1, (8,), 1).fit(X[:64], y[:64])  # warm torch up
    print(f"torch {torch.__version__}; load average before: {load_average()}")
    print(f"epochs={epochs}, hidden={hidden}, cv={folds}, rows={len(y)}\n")
    header = ["way", "wall s", "cpu s (this process)", "vs packed", "best CV score"]
    print(markdown_table(header, _speed(X, y, epochs, hidden, folds, args.quick)))
    print()
    header = ["members", "packed wall s", "cpu s", "vs 9 candidates"]
    print(markdown_table(header, _growth(X, y, epochs, hidden, folds)))
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
