"""Why "plr" under batch norm is the weak pair of the default sweep.

Run from the repository root::

    python benchmarks/bench_bn_lag.py            # 5 seeds, the command's recipe
    python benchmarks/bench_bn_lag.py --quick    # smoke run, seconds

The default ``sknorm sweep`` scores plr + batch norm far below every other
scaled pair, with a large spread over the folds. The suspect: batch norm
predicts with running statistics, an exponential average (momentum 0.1) of
the batches' statistics during training, and the periodic embedding's
learned frequencies move the first layer's inputs faster than that average
follows. This measures it on the breast cancer data (70/30 split per seed,
``robust_clip`` scaling as the sweep's plr uses, MLP (64, 64), 30 epochs,
batch 64, no early stopping: the command's recipe), for the periodic
embedding and for none, held-out accuracy of the same fitted network when it
predicts with

* the running statistics as trained (torch's momentum 0.1, the default);
* running statistics trained with momentum 0.5 (a shorter memory);
* running statistics recomputed after training by one pass over the training
  rows in training mode with a cumulative average ("precise BN", Wu and
  Johnson, 2021), the weights untouched.

Nothing here asserts a figure: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from _common import load_average, markdown_table
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from sknorm import InputScaler, NormMLPClassifier


def _recalibrate(clf: NormMLPClassifier, X: np.ndarray) -> None:
    """Recompute every batch norm's running statistics by one pass over ``X``
    in training mode with a cumulative average; no weight changes."""
    module = clf.net_.module_
    norms = [
        m
        for m in module.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the pass
        norm.train()
    with torch.no_grad():
        for start in range(0, len(X), clf.batch_size):
            module(torch.from_numpy(X[start : start + clf.batch_size]))
    module.eval()


def _scores(embedding: str, seed: int, epochs: int) -> list[float]:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=seed, stratify=y
    )
    scaler = InputScaler("robust_clip").fit(X_train)
    X_train = scaler.transform(X_train).astype(np.float32)
    X_test = scaler.transform(X_test).astype(np.float32)
    recipe = {
        "hidden_layer_sizes": (64, 64),
        "input_embedding": embedding,
        "norm": "batch",
        "dropout": 0.0,
        "max_epochs": epochs,
        "batch_size": 64,
        "early_stopping": False,
        "random_state": seed,
    }
    out = []
    for momentum in (None, 0.5):
        clf = NormMLPClassifier(**recipe, norm_momentum=momentum).fit(X_train, y_train)
        out.append(float((clf.predict(X_test) == y_test).mean()))
        if momentum is None:
            _recalibrate(clf, X_train)
            recalibrated = float((clf.predict(X_test) == y_test).mean())
    return [*out, recalibrated]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 epochs")
    args = parser.parse_args(argv)
    seeds, epochs = (1, 3) if args.quick else (5, 30)
    warnings.filterwarnings("ignore", category=UserWarning)
    print(f"torch {torch.__version__}; load average {load_average()}")
    print(
        f"breast cancer, robust_clip, MLP (64, 64), {epochs} epochs, "
        f"seeds 0..{seeds - 1}\n"
    )
    rows = []
    for embedding in ("periodic", "none"):
        scores = np.array([_scores(embedding, s, epochs) for s in range(seeds)])
        cells = [
            f"{m:.3f} ({lo:.3f}-{hi:.3f})"
            for m, lo, hi in zip(
                scores.mean(0), scores.min(0), scores.max(0), strict=True
            )
        ]
        rows.append([embedding, *cells])
    header = [
        "input_embedding",
        "running stats (momentum 0.1)",
        "momentum 0.5",
        "recalibrated after training",
    ]
    print("Held-out accuracy, batch norm, mean (min-max) over seeds\n")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
