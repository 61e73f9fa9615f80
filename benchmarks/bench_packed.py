"""The packed sweep against GridSearchCV: speed, growth, the command, memory.

Run from the repository root::

    python benchmarks/bench_packed.py            # every table, about 8 minutes
    python benchmarks/bench_packed.py --quick    # smoke run, seconds

1. The default sweep: breast cancer (569 x 30), scalings none/minmax/standard x
   norms none/batch/layer, ``StratifiedKFold(5, shuffle=True, random_state=0)``,
   the command's network (hidden (64, 64), batch 64, 30 epochs,
   ``random_state=0``). Contenders, in one run: :class:`PackedSearchCV` as it
   runs by default (its members dealt to one worker thread per core) and with
   one worker, ``GridSearchCV(n_jobs=1)`` and ``GridSearchCV(n_jobs=2)`` (its
   worker processes start inside the timing, as they do for a user), each with
   ``refit=False`` (the refit is the same single fit for all). Before any
   timing one tiny fit warms torch up (its optimizer module loads lazily,
   about 2 s the first time), so no contender pays it. The four run in turn
   three times: each row is its median run, and its ratio to the packed
   search the median of the three rounds' ratios (each round's listed).
2. Growth: the packed search over 5 scalings x 7 norms x 5 folds (175 members)
   against the 9-candidate one (45 members), default workers; the two run in
   turn three times, and each row is its median run.
2b. Dealing (``deal``): the 3 x 3 sweep with two workers, its members dealt
   as the engine does (each norm group to one worker whole, when that keeps
   the work within ``WHOLE_GROUP_SLACK`` of equal shares) and in equal cuts
   of the work (groups split across workers), in turn five times.
3. The command end to end: ``sknorm sweep --out DIR`` (breast cancer, the
   default sweep above, curves, heatmap and report written), wall time of the
   whole process, Python start-up and imports included.
4. ``sknorm.sweep(X, y)`` as a user calls it on breast cancer: the estimator's
   defaults (early stopping, up to 300 epochs), curves included, with each
   engine (the grid engine fits the curves separately, one fit per candidate;
   the packed engine also scores and refits its default ensemble of the three
   best, which the grid engine leaves out).
5. A large set: ``make_classification(50_000, 50)``, the same 3 x 3 x 5 sweep
   with batch 256 and 3 epochs; packed against ``GridSearchCV(n_jobs=1)``, each
   in a fresh process, with its peak resident memory and how far it grew
   during the search (peak minus the resident memory before it), as a
   multiple of the data (``X`` as float64, 19 MiB). Linux only (it reads
   ``/proc``).
6. The ensemble's refit after ``sweep(X, y, cv=3, ensemble=3)`` on breast
   cancer and diabetes: the best candidate's refit, then the other two
   candidates in one packed run, against the three candidates fitted one
   after another (as it was done before: the best one twice).
6b. The floor (``floor``): the packed search on one worker against the
   arithmetic it cannot avoid, on one torch thread: its 45 members' network
   forward and backward alone for as many steps (no optimizer, data or
   validation), and the same with no norms (the matrix products alone).
7. One packed training step of 25 members per norm (hidden (64, 64), batch
   64, one torch thread), and each norm's extra time over no norm: the
   weights the engine deals members to its workers by
   (``sknorm._packed.NORM_WORK``).

Wall time is printed with CPU time and the load average: on a shared machine
wall times move by 2x. ``--quick`` (tiny settings, a smoke test of the code)
runs 3 and 5 in this process, not in fresh ones: its figures mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from _common import load_average, markdown_table
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sknorm import (
    NORMS,
    NormMLPClassifier,
    PackedSearchCV,
    make_norm_pipeline,
    normalization_grid,
    sweep,
)

SCALINGS_9, NORMS_9 = ("none", "minmax", "standard"), ("none", "batch", "layer")
SCALINGS_25 = ("none", "minmax", "standard", "robust", "quantile")

#: One way of running the large sweep, in a fresh process: prints a JSON line.
LARGE = """
import json, resource, sys, time
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sknorm import NormMLPClassifier, PackedSearchCV, make_norm_pipeline
from sknorm import normalization_grid
rows, epochs, way = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
X, y = make_classification(rows, 50, n_informative=20, random_state=0)
with open("/proc/self/statm") as statm:  # resident pages now, before the fit
    base = int(statm.read().split()[1]) * resource.getpagesize() / 1024
net = NormMLPClassifier((64, 64), batch_size=256, max_epochs=epochs, dropout=0.0,
                        random_state=0)
grid = normalization_grid(("none", "minmax", "standard"), ("none", "batch", "layer"))
cv = StratifiedKFold(5, shuffle=True, random_state=0)
search = (PackedSearchCV if way == "packed" else GridSearchCV)(
    make_norm_pipeline(net), grid, cv=cv, refit=False)
start = time.perf_counter()
search.fit(X, y)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": wall, "base_mb": base / 1024, "peak_mb": peak / 1024,
                  "data_mb": X.nbytes / 2**20,
                  "best": float(search.cv_results_["mean_test_score"].max())}))
"""


def _python(args: list[str], quick: bool) -> str:
    """The standard output of ``python *args`` (``-c CODE ...`` or ``-m sknorm
    ...``), run in a fresh process: the figures are whole-process wall time
    and peak memory. The quick run only smoke-tests the same code, so it runs
    it in this process (a fresh interpreter spends seconds on imports alone)."""
    if not quick:
        command = [sys.executable, *args]
        return subprocess.run(
            command, capture_output=True, text=True, check=True
        ).stdout
    out, argv = io.StringIO(), sys.argv
    try:
        with contextlib.redirect_stdout(out):
            if args[0] == "-c":
                sys.argv = ["-c", *args[2:]]
                exec(compile(args[1], "<-c>", "exec"), {"__name__": "__main__"})
            else:
                from sknorm.cli import main

                if main(args[2:]) != 0:
                    raise RuntimeError(f"{args} failed:\n{out.getvalue()}")
    finally:
        sys.argv = argv
    return out.getvalue()


def _pipeline(epochs: int, hidden: tuple, threads: int | None = None):
    net = NormMLPClassifier(
        hidden,
        batch_size=64,
        max_epochs=epochs,
        early_stopping=False,
        dropout=0.0,
        random_state=0,
        n_threads=threads,
        norm_params={"groups": 8},
    )
    return make_norm_pipeline(net)


def _median_run(runs: list) -> tuple:
    """The middle of ``runs`` (tuples, or wall times) by wall time, and every
    run's wall time listed: what the repeated tables print."""
    walls = [run[0] if isinstance(run, tuple) else run for run in runs]
    middle = sorted(range(len(runs)), key=walls.__getitem__)[len(runs) // 2]
    return runs[middle], ", ".join(f"{w:.2f}" for w in walls)


def _timed(search, X, y) -> tuple[float, float, float]:
    """``(wall s, cpu s of this process, best mean score)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    search.fit(X, y)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, float(search.cv_results_["mean_test_score"].max())


def _speed(
    X, y, epochs: int, hidden: tuple, folds: int, quick: bool, repeats: int = 3
) -> list[list]:
    """The default sweep by each contender: rows of the first table (without
    ``n_jobs=2`` in the quick run: starting its workers alone takes seconds).
    The contenders run in turn ``repeats`` times; each row is its median run
    and its ratio the median over the rounds of its time over the packed
    search's in the same round (the machine's speed moves within minutes,
    and moves the two engines differently)."""
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    grid = normalization_grid(SCALINGS_9, NORMS_9)
    pipe = _pipeline(epochs, hidden)
    contenders = {
        "packed (default: a worker per core)": PackedSearchCV(
            pipe, grid, cv=cv, refit=False
        ),
        "packed (1 worker)": PackedSearchCV(pipe, grid, cv=cv, refit=False, n_jobs=1),
        "GridSearchCV n_jobs=1": GridSearchCV(pipe, grid, cv=cv, refit=False, n_jobs=1),
        "GridSearchCV n_jobs=2": GridSearchCV(pipe, grid, cv=cv, refit=False, n_jobs=2),
    }
    if quick:
        del contenders["GridSearchCV n_jobs=2"]
    runs: dict[str, list] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, search in contenders.items():
            runs[name].append(_timed(clone(search), X, y))
    packed = [run[0] for run in next(iter(runs.values()))]
    rows = []
    for name, timings in runs.items():
        (wall, cpu, best), walls = _median_run(timings)
        ratios = [run[0] / p for run, p in zip(timings, packed, strict=True)]
        rows.append(
            [
                name,
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{np.median(ratios):.1f}x",
                ", ".join(f"{r:.1f}x" for r in ratios),
                walls,
                f"{best:.4f}",
            ]
        )
    return rows


def _growth(
    X, y, epochs: int, hidden: tuple, folds: int, repeats: int = 3
) -> list[list]:
    """Packed time for 9 and for 35 candidates: rows of the second table.
    The two searches run in turn ``repeats`` times; each row is its median
    run (the machine's speed moves by up to 1.4x from one run to the next,
    which a single pair of runs turns straight into the ratio)."""
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    sizes = ((SCALINGS_9, NORMS_9), (SCALINGS_25, NORMS))
    runs: list[list] = [[] for _ in sizes]
    for _ in range(repeats):
        for (scalings, norms), timings in zip(sizes, runs, strict=True):
            grid = normalization_grid(scalings, norms)
            pipe = _pipeline(epochs, hidden)
            timings.append(_timed(PackedSearchCV(pipe, grid, cv=cv, refit=False), X, y))
    rows, base = [], None
    for (scalings, norms), timings in zip(sizes, runs, strict=True):
        (wall, cpu, _), walls = _median_run(timings)
        base = base or wall
        members = len(scalings) * len(norms) * folds
        rows.append([members, f"{wall:.2f}", f"{cpu:.2f}", f"{wall / base:.2f}", walls])
    return rows


def _deal(X, y, epochs: int, hidden: tuple, folds: int, repeats: int) -> list[list]:
    """The 3 x 3 sweep, two workers, with the members dealt as the engine
    does (whole norm groups when the work allows) and in equal cuts of the
    work (``WHOLE_GROUP_SLACK`` below zero), in turn ``repeats`` times: the
    rows of the deal table (median and every run)."""
    import sknorm._packed as engine  # the engine's own module

    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    grid = normalization_grid(SCALINGS_9, NORMS_9)
    ways = {"whole groups (default)": engine.WHOLE_GROUP_SLACK, "equal cuts": -1.0}
    runs: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for _ in range(repeats):
            for name, slack in ways.items():
                engine.WHOLE_GROUP_SLACK = slack
                search = PackedSearchCV(
                    _pipeline(epochs, hidden), grid, cv=cv, refit=False, n_jobs=2
                )
                runs[name].append(_timed(search, X, y)[0])
    finally:
        engine.WHOLE_GROUP_SLACK = ways["whole groups (default)"]
    rows = []
    for name, walls in runs.items():
        wall, listed = _median_run(walls)
        rows.append([name, f"{wall:.2f}", listed])
    return rows


def _command(quick: bool) -> list[list]:
    """``sknorm sweep`` end to end, in a fresh process: the third table."""
    args = ["--epochs", "2", "--cv", "2", "--scalings", "standard,plr"] if quick else []
    with tempfile.TemporaryDirectory() as out:
        command = ["-m", "sknorm", "sweep", "--no-progress"]
        command += ["--out", os.path.join(out, "report"), *args]
        start = time.perf_counter()
        stdout = _python(command, quick)
        wall = time.perf_counter() - start
        written = sorted(os.listdir(os.path.join(out, "report")))
    timed = [line for line in stdout.splitlines() if "-fold CV," in line]
    search_s = timed[0].rsplit(", ", 1)[-1] if timed else "?"
    return [[" ".join(["sknorm sweep", *args]), f"{wall:.2f}", search_s, written]]


def _sweep_defaults(X, y, quick: bool) -> list[list]:
    """``sweep(X, y)`` with each engine: the fourth table."""
    extra = {"max_epochs": 3, "cv": 2, "scalings": ("standard", "plr")} if quick else {}
    rows = []
    for engine in ("packed", "grid"):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a quick run's unconverged fits
            result = sweep(X, y, engine=engine, **extra)
        best = result.table.iloc[0]
        rows.append(
            [
                engine,
                f"{time.perf_counter() - start:.2f}",
                f"{best['scaling']} / {best['norm']}",
                f"{best['mean_score']:.4f}",
            ]
        )
    return rows


def _large(quick: bool) -> list[list]:
    """The large set by each engine, each in a fresh process: the last table."""
    rows_, epochs = (500, 1) if quick else (50_000, 3)
    rows = []
    ways = ("packed",) if quick else ("packed", "GridSearchCV n_jobs=1")
    for way in ways:  # the quick run: one way is enough to smoke-test
        stdout = _python(["-c", LARGE, str(rows_), str(epochs), way.split()[0]], quick)
        r = json.loads(stdout.strip().splitlines()[-1])
        grown = r["peak_mb"] - r["base_mb"]
        rows.append(
            [
                way,
                f"{r['wall']:.1f}",
                f"{r['peak_mb']:.0f}",
                f"{grown:.0f} ({grown / r['data_mb']:.1f}x)",
                f"{r['best']:.4f}",
            ]
        )
    return rows


def _ensemble(quick: bool) -> list[list]:
    """The ensemble's refit after ``sweep(X, y, cv=3, ensemble=3)``: as the
    search does it (the best candidate's refit reused, the other two in one
    packed run) against fitting the three candidates one after another (what
    it did before): the sixth table. Each way timed alone after the sweep."""
    sets = [("breast_cancer", load_breast_cancer(return_X_y=True))]
    if quick:  # a smoke run: a quarter of one set, a 2 x 2 grid, 3 epochs
        extra = {"max_epochs": 3, "cv": 2, "scalings": ("minmax", "standard")}
        extra["norms"] = ("none", "layer")
        sets = [(name, (X[::4], y[::4])) for name, (X, y) in sets]
    else:
        extra = {"cv": 3}
        sets.append(("diabetes", load_diabetes(return_X_y=True)))
    rows = []
    for name, (X, y) in sets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a quick run's unconverged fits
            search = sweep(X, y, ensemble=3, curves=False, **extra).search
            top = search.ensemble_candidates_
            start = time.perf_counter()
            search._refit_ensemble(search.cv_results_, X, y)
            now = time.perf_counter() - start
            start = time.perf_counter()
            for c in top:
                params = search.cv_results_["params"][c]
                clone(search.estimator).set_params(**params).fit(X, y)
            before = time.perf_counter() - start
        rows.append(
            [
                name,
                f"{search.refit_time_:.2f}",
                f"{now:.2f}",
                f"{before:.2f}",
                f"{search.refit_time_ + now:.2f} vs {search.refit_time_ + before:.2f}",
            ]
        )
    return rows


def _norms(quick: bool) -> list[list]:
    """One packed training step (forward and backward) of 25 members per norm,
    hidden (64, 64), batch 64, 30 features, one torch thread: the seventh
    table, behind ``sknorm._packed.NORM_WORK`` (each norm's extra time over
    no norm, as a share of it)."""
    from sknorm._packed import PackedMLP, _Rows  # the engine's own module
    from sknorm.nn import MLP

    k, rows, repeats = 25, 64, 5 if quick else 100
    X = torch.randn(k, rows, 30)
    out, base = [], None
    torch.set_num_threads(1)
    for norm in NORMS:
        members = [MLP(30, 2, (64, 64), norm=norm, norm_params={"groups": 8})] * k
        packed = PackedMLP(members).train()
        real = _Rows(torch.full((k,), rows), width=rows)
        for _ in range(3):
            packed(X, real).sum().backward()
        start = time.perf_counter()
        for _ in range(repeats):
            packed(X, real).sum().backward()
        ms = (time.perf_counter() - start) / repeats * 1e3
        base = base or ms
        out.append([norm, f"{ms:.2f}", f"{ms / base - 1:.2f}"])
    return out


def _floor(X, y, epochs: int, hidden: tuple, folds: int, repeats: int) -> list:
    """How close the packed search is to its arithmetic: the 3 x 3 sweep's 45
    members as the engine's own ``PackedMLP`` (15 each of none, batch and
    layer), forward and backward for as many steps as the search takes
    (``epochs`` x ``ceil(fold rows / 64)``, every step a full batch of 64, a
    slight overcount), on one torch thread, with nothing else: no optimizer,
    no data, no validation; then the same with every member's norm none (the
    matrix products alone). Against the packed search on one worker (one
    torch thread), each run in turn ``repeats`` times, medians."""
    from sknorm._packed import PackedMLP, _Rows  # the engine's own module
    from sknorm.nn import MLP

    n_train = len(X) - len(X) // folds
    steps = epochs * int(np.ceil(n_train / 64))
    classes = len(np.unique(y))
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    search = PackedSearchCV(
        _pipeline(epochs, hidden, threads=1),
        normalization_grid(SCALINGS_9, NORMS_9),
        cv=cv,
        refit=False,
        n_jobs=1,
    )
    ways = {}
    for label, norms in (
        ("the network alone", NORMS_9),
        ("matrix products", ["none"] * len(NORMS_9)),
    ):
        members = [
            MLP(X.shape[1], classes, hidden, norm=norm, norm_params={"groups": 8})
            for norm in norms
            for _ in range(len(SCALINGS_9) * folds)
        ]
        ways[label] = PackedMLP(members).train()
    k = len(SCALINGS_9) * len(NORMS_9) * folds
    batch = torch.randn(k, 64, X.shape[1])
    real = _Rows(torch.full((k,), 64), width=64)
    threads = torch.get_num_threads()
    runs: dict[str, list] = {"packed search, 1 worker": [], **{w: [] for w in ways}}
    try:
        for _ in range(repeats):
            runs["packed search, 1 worker"].append(_timed(clone(search), X, y)[0])
            torch.set_num_threads(1)
            for label, packed in ways.items():
                start = time.perf_counter()
                for _ in range(steps):
                    packed(batch, real).sum().backward()
                runs[label].append(time.perf_counter() - start)
            torch.set_num_threads(threads)
    finally:
        torch.set_num_threads(threads)
    base = float(np.median(runs["matrix products"]))
    return [
        [
            label,
            f"{np.median(walls):.2f}",
            f"{np.median(walls) / base:.2f}",
            steps,
            ", ".join(f"{w:.2f}" for w in walls),
        ]
        for label, walls in runs.items()
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings")
    parser.add_argument(
        "--only",
        default="speed,growth,deal,command,defaults,large,ensemble,floor,norms",
        help="comma-separated tables to make (default: all)",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    epochs, hidden, folds = (2, (16, 16), 2) if args.quick else (30, (64, 64), 5)
    X, y = load_breast_cancer(return_X_y=True)
    if args.quick:
        X, y = X[::4], y[::4]
    _pipeline(1, (8,), 1).fit(X[:64], y[:64])  # warm torch up
    print(f"torch {torch.__version__}; {os.cpu_count()} cores; load average before:")
    print(f"{load_average()}; epochs={epochs}, hidden={hidden}, cv={folds}\n")
    if "speed" in only:
        header = ["way", "wall s (median)", "cpu s", "vs packed (median)"]
        header += ["vs packed, each round", "every run s", "best CV score"]
        rows = _speed(X, y, epochs, hidden, folds, args.quick, 1 if args.quick else 3)
        print(markdown_table(header, rows))
        print()
    if "growth" in only:
        header = ["members", "packed wall s (median)", "cpu s", "vs 9 candidates"]
        header.append("every run s")
        rows = _growth(X, y, epochs, hidden, folds, 1 if args.quick else 3)
        print(markdown_table(header, rows))
        print()
    if "deal" in only:
        header = ["3 x 3 sweep, two workers", "median wall s", "every run s"]
        rows = _deal(X, y, epochs, hidden, folds, 1 if args.quick else 5)
        print(markdown_table(header, rows))
        print()
    if "command" in only:
        header = ["command", "wall s (whole process)", "search s (printed)", "wrote"]
        print(markdown_table(header, _command(args.quick)))
        print()
    if "defaults" in only:
        header = ["sweep(X, y) engine", "wall s", "best", "best CV score"]
        print(markdown_table(header, _sweep_defaults(X, y, args.quick)))
        print()
    if "large" in only:
        header = ["way", "wall s", "peak RSS MB", "growth MB (x data)", "best CV"]
        print(markdown_table(header, _large(args.quick)))
        print()
    if "ensemble" in only:
        header = [
            "set",
            "best refit s",
            "ensemble refit s (now)",
            "3 fits one after another s (before)",
            "all refits, now vs before",
        ]
        print(markdown_table(header, _ensemble(args.quick)))
        print()
    if "floor" in only:
        header = ["one torch thread, 3 x 3 sweep", "wall s (median)", "vs products"]
        header += ["steps", "every run s"]
        rows = _floor(X, y, epochs, hidden, folds, 1 if args.quick else 3)
        print(markdown_table(header, rows))
        print()
    if "norms" in only:
        header = ["norm", "step ms (25 members)", "extra work vs none"]
        print(markdown_table(header, _norms(args.quick)))
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
