"""On a CUDA GPU: one fit's epochs, and the packed sweep against GridSearchCV.

    python benchmarks/bench_gpu.py                # every table, about 3 minutes
    python benchmarks/bench_gpu.py --only sweep,large
    python benchmarks/bench_gpu.py --quick        # smoke run, seconds

1. ``epoch``: per-epoch time of ``NormMLPClassifier(device="cuda")`` against
   a hand-written torch loop on the same GPU, same data, network and loop as
   the CPU speed benchmark (make_classification 100k x 32, 80k training rows,
   MLP 32-256-256-2, Adam lr 1e-3, batch 256; benchmarks/_common.py): median
   seconds per epoch (first epoch dropped as warm-up), ratio to the loop.
2. ``sweep``: the default sweep of ``benchmarks/bench_packed.py`` (breast
   cancer, scalings none/minmax/standard x norms none/batch/layer,
   ``StratifiedKFold(5, shuffle=True, random_state=0)``, hidden (64, 64),
   batch 64, 30 epochs, ``refit=False``): :class:`PackedSearchCV` with the
   estimator's ``device="cuda"`` (one stack of 45 members on the GPU) against
   ``GridSearchCV(n_jobs=1)`` of the same pipeline on the GPU (45 fits, one
   after another), and the packed search on this machine's CPU cores for
   reference. Each runs ``--repeats`` times in turn; rows are median runs.
3. ``large``: ``make_classification(50_000, 50)``, the same 3 x 3 x 5 sweep
   with batch 256 and 3 epochs, packed on the GPU against GridSearchCV on the
   GPU (once each: the grid takes a minute), with the GPU memory each one's
   search peaked at (``torch.cuda.max_memory_allocated``) as a multiple of
   the data (``X`` as float32, 9.5 MiB).

Before any timing, a tiny fit of each kind warms CUDA up (its context and
libraries load on the first use, a second or more), so no contender pays it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import (
    BATCH_SIZE,
    HIDDEN,
    LR,
    after_warmup,
    classification_data,
    hand_loop,
    markdown_table,
    median,
)
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sknorm import (
    NormMLPClassifier,
    PackedSearchCV,
    make_norm_pipeline,
    normalization_grid,
)

GRID = normalization_grid(("none", "minmax", "standard"), ("none", "batch", "layer"))


def sknorm_fit(X, y, norm, epochs, device):
    clf = NormMLPClassifier(
        HIDDEN,
        norm=norm,
        dropout=0.0,
        batch_size=BATCH_SIZE,
        lr=LR,
        max_epochs=epochs,
        random_state=0,
        device=device,
    ).fit(X, y)
    return median(after_warmup(clf.history_[:, "dur"]))


def _epochs(n_samples: int, epochs: int, device: str) -> list[list]:
    X, y = classification_data(n_samples)
    rows = []
    for norm in ("batch", "layer", "none"):
        hand = median(after_warmup(hand_loop(X, y, norm, epochs, device=device)))
        ours = sknorm_fit(X, y, norm, epochs, device)
        rows.append(["hand-written loop", norm, f"{hand:.3f}", "1.00"])
        rows.append(["NormMLPClassifier", norm, f"{ours:.3f}", f"{ours / hand:.2f}"])
    return rows


def _pipeline(device: str, epochs: int, hidden: tuple, batch_size: int):
    net = NormMLPClassifier(
        hidden,
        batch_size=batch_size,
        max_epochs=epochs,
        early_stopping=False,
        dropout=0.0,
        random_state=0,
        device=device,
    )
    return make_norm_pipeline(net)


def _searches(device: str, epochs: int, hidden: tuple, batch_size: int, folds: int):
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    on_gpu = _pipeline(device, epochs, hidden, batch_size)
    on_cpu = _pipeline("cpu", epochs, hidden, batch_size)
    return {
        "packed, GPU (one stack)": PackedSearchCV(on_gpu, GRID, cv=cv, refit=False),
        "GridSearchCV n_jobs=1, GPU": GridSearchCV(on_gpu, GRID, cv=cv, refit=False),
        "packed, CPU (a worker per core)": PackedSearchCV(
            on_cpu, GRID, cv=cv, refit=False
        ),
    }


def _timed(search, X, y) -> tuple[float, float, float]:
    """``(wall s, best mean score, peak GPU memory MiB during the fit)``."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    start = time.perf_counter()
    search.fit(X, y)
    torch.cuda.synchronize()
    if getattr(search, "packed_", True) is False:
        raise RuntimeError("the packed search fell back to the grid (see its warning)")
    wall = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() - before) / 2**20
    return wall, float(search.cv_results_["mean_test_score"].max()), peak


def _compare(contenders: dict, X, y, repeats: int) -> list[list]:
    """Each contender ``repeats`` times in turn: its median run, every run,
    its ratio to the first contender's median, its best CV score."""
    runs: dict[str, list] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, search in contenders.items():
            runs[name].append(_timed(clone(search), X, y))
    base = None
    rows = []
    for name, timings in runs.items():
        walls = [t[0] for t in timings]
        wall = float(np.median(walls))
        base = base or wall
        best, peak = timings[int(np.argsort(walls)[len(walls) // 2])][1:]
        every = ", ".join(f"{w:.2f}" for w in walls)
        rows.append(
            [name, f"{wall:.2f}", f"{wall / base:.1f}x", every, f"{peak:.0f}", best]
        )
    for row in rows:
        row[-1] = f"{row[-1]:.4f}"
    return rows


def _warm_up(device: str) -> None:
    X, y = make_classification(200, 5, random_state=0)
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    pipe = _pipeline(device, 1, (8,), 32)
    PackedSearchCV(pipe, GRID, cv=cv, refit=False).fit(X, y)
    GridSearchCV(pipe, {"net__norm": ["batch"]}, cv=cv, refit=False).fit(X, y)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="the epoch table's")
    parser.add_argument("--n-samples", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2, help="the sweep table's")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--only", default="epoch,sweep,large")
    parser.add_argument("--quick", action="store_true", help="tiny settings")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if args.quick:
        args.epochs, args.n_samples, args.repeats = 2, 4000, 1
    name = torch.cuda.get_device_name(torch.device(args.device))
    print(f"torch {torch.__version__}, device {name}\n")
    _warm_up(args.device)
    if "epoch" in only:
        rows = _epochs(args.n_samples, args.epochs, args.device)
        header = ["way", "norm", "s/epoch", "vs hand-written loop"]
        print(markdown_table(header, rows))
        print()
    header = ["way", "wall s (median)", "vs packed on the GPU", "every run s"]
    header += ["peak GPU MiB", "best CV score"]
    if "sweep" in only:
        X, y = load_breast_cancer(return_X_y=True)
        epochs, hidden, folds = (2, (16, 16), 2) if args.quick else (30, (64, 64), 5)
        if args.quick:
            X, y = X[::4], y[::4]
        searches = _searches(args.device, epochs, hidden, 64, folds)
        print(f"The default sweep, breast cancer {X.shape}, {epochs} epochs, batch 64:")
        print(markdown_table(header, _compare(searches, X, y, args.repeats)))
        print()
    if "large" in only:
        rows, epochs = (2000, 1) if args.quick else (50_000, 3)
        X, y = make_classification(rows, 50, n_informative=20, random_state=0)
        X = X.astype(np.float32)
        searches = _searches(args.device, epochs, (64, 64), 256, 2 if args.quick else 5)
        del searches["packed, CPU (a worker per core)"]  # bench_packed.py has it
        print(f"A large set {X.shape}, {epochs} epochs, batch 256 ", end="")
        print(f"(X: {X.nbytes / 2**20:.1f} MiB):")
        print(markdown_table(header, _compare(searches, X, y, 1)))
        print()


if __name__ == "__main__":
    main()
