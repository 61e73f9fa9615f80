"""Speed and memory benchmarks for sknorm, in one process, interleaved.

Run from the repository root::

    python benchmarks/bench_speed.py                    # all sections, default sizes
    python benchmarks/bench_speed.py --quick            # smoke run, well under 1 min
    python benchmarks/bench_speed.py --only speed,memory --repeats 5 --json out.json

Every timed section runs its contenders round-robin (contender A, B, C, A, B, C,
...) ``--repeats`` times and reports medians, so slow drift of the machine (other
processes, thermal or frequency changes) hits every contender alike. Nothing here
asserts a timing: the numbers are for reading, not for CI. Check the load
averages printed at the top and the bottom of the report: a machine shared with
other work gives noisy numbers.

Sections (``--only speed,grid,latency,memory``)
-----------------------------------------------

``speed``
    Seconds per training epoch on ``make_classification(n_samples=100_000,
    n_features=32, random_state=0)`` (80 % of the rows train; ``--n-samples``),
    MLP 32-256-256-2, Adam lr 1e-3, batch 256, cross-entropy, all in float32,
    with ``--threads`` compute threads (default 1) for every contender:

    * ``hand loop``: a hand-written torch loop (``randperm`` once per epoch, a
      tensor index per batch, no ``DataLoader``) around :class:`sknorm.nn.MLP`.
      It is the reference: the ratio column divides by the hand loop *with the
      same norm*.
    * ``NormMLPClassifier``: the estimator, with ``n_threads=--threads`` (its
      default ``n_threads=None`` would use every core; see ``grid``).
    * ``skorch``: a plain :class:`skorch.NeuralNetClassifier` around the same
      module, given float32 numpy arrays, ``train_split=None`` and skorch's
      default iterator (a ``DataLoader`` over skorch's ``Dataset``, i.e. one
      ``__getitem__`` per row plus collation per batch), with
      ``iterator_train__shuffle=True`` so that every contender shuffles.
    * ``sklearn MLPClassifier``: scikit-learn's own MLP (no norm), float32 input
      (preserved by scikit-learn), ``tol=0`` and ``n_iter_no_change >
      max_iter`` so it runs exactly ``--epochs`` epochs; its BLAS is limited to
      ``--threads`` with threadpoolctl.

    ``s/epoch`` is the median, over the epochs after the first (a warm-up) and
    then over the repeats, of the per-epoch time: the hand loop times its epochs
    with ``perf_counter``, the skorch-based contenders report skorch's
    ``history[:, "dur"]``. scikit-learn exposes no per-epoch time, so its
    ``s/epoch`` is the whole fit divided by the epochs (warm-up epoch and
    set-up included). The ``fit/epochs`` column gives that same whole-fit
    figure for every contender, for an apples-to-apples view including each
    way's set-up cost (input validation, conversion, module creation).

``grid``
    ``GridSearchCV(make_norm_pipeline(NormMLPClassifier(max_epochs=E,
    random_state=0)), normalization_grid(["none", "minmax", "standard"],
    ["none", "batch", "layer"]), cv=5)`` on ``load_breast_cancer`` (45 fits and
    one refit), wall time at ``n_jobs=1`` and ``n_jobs=2`` and the speed-up.

    What is compared: *each setting as a user gets it by default, using the
    whole machine*. The estimator keeps its default ``n_threads=None``, which
    means ``OMP_NUM_THREADS`` when set, else every core. In the parent process
    (``n_jobs=1``) ``OMP_NUM_THREADS`` is not set by this script, so each fit
    runs with all cores; the torch thread count of the parent is restored to
    the value torch had at start-up (the ``--threads`` setting of the other
    sections is *not* left active), which is what the scoring ``predict`` calls
    outside the fits use. Under ``n_jobs=2`` joblib's loky workers set
    ``OMP_NUM_THREADS = cores // n_jobs``, so each of the two parallel fits runs
    with ``cores // 2`` threads; the refit runs in the parent with all cores.
    Both settings therefore use the whole machine and neither oversubscribes it.
    The loky workers are started (and import torch/sknorm) *before* the timed
    runs; that one-off start-up is reported on its own row, and the timed
    ``n_jobs=2`` runs reuse the warm workers. A third, diagnostic setting,
    ``n_jobs=1`` with ``n_threads=1`` (one core left idle), separates the gain
    of running two fits at once from the cost or gain of two torch threads per
    fit: on a data set this small, multithreaded kernels can lose more to
    synchronisation than they win, all the more on a busy machine.

``latency``
    ``predict_proba`` latency of ``make_norm_pipeline(NormMLPClassifier(
    hidden_layer_sizes=(256, 256)))`` fit on breast cancer (per norm) against
    ``Pipeline([StandardScaler(), MLPClassifier((256, 256))])``: the median of
    many calls on one row and on 10k rows (rows drawn from the data set). Both
    run with ``--threads`` threads (torch's and, for scikit-learn, the BLAS
    limited with threadpoolctl). Both predict in float64 (sknorm runs its CPU
    forward pass in float64 by design).

``memory``
    Peak resident memory of ``NormMLPClassifier(hidden_layer_sizes=(256, 256),
    batch_size=256, max_epochs=1)`` fit on ``--mem-rows`` x 32 float32 rows
    (default 1M rows: 128 MB of ``X``, plus an 8 MB int64 ``y``), measured in a
    fresh subprocess (``--memory-child``) with ``getrusage(RUSAGE_SELF).
    ru_maxrss``. The baseline is ``ru_maxrss`` after the imports (numpy, torch,
    scikit-learn, skorch, sknorm) and *before* the data are created; the report
    gives peak - baseline, the size of ``X`` and their ratio (1.0 would mean
    the fit adds nothing beyond the data; the data are generated directly in
    float32 so creating them needs no temporary copy). The same fit on 1,000
    rows gives the size-independent cost (torch code pages and kernels touched
    for the first time, the model, Adam state, thread pools), reported with the
    ratio net of it. The child is started through a tiny launcher process:
    on Linux a process's ``ru_maxrss`` starts at the high-water mark of the
    process that spawned it, so a child spawned directly from this benchmark
    (after the other sections) would inherit its peak and under-report.
"""

# ruff: noqa: E402  (ru_maxrss is read before the heavy imports)
from __future__ import annotations

import resource
import sys

# Before the heavy imports: what this interpreter inherited (see _LAUNCHER).
_MAXRSS_AT_START = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (
    1 if sys.platform == "darwin" else 1024
)

import argparse
import gc
import json
import os
import platform
import shlex
import subprocess
import time
import warnings

import numpy as np
import sklearn
import skorch
import torch
from _common import (
    BATCH_SIZE,
    HIDDEN,
    LR,
    after_warmup,
    classification_data,
    hand_loop,
    load_average,
    markdown_table,
    median,
)
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from torch import nn

import sknorm
from sknorm import NormMLPClassifier, make_norm_pipeline, normalization_grid
from sknorm.nn import MLP

#: torch's thread count before this script touches it (what ``grid`` restores).
DEFAULT_TORCH_THREADS = torch.get_num_threads()

NORMS = ("none", "batch", "layer")
MB = 1e6  # reported memory is in decimal megabytes (1M x 32 float32 = 128 MB)

SPEED_HEADER = ["way", "norm", "s/epoch", "ratio to hand loop", "fit/epochs"]


# -- small helpers ----------------------------------------------------------------
def _progress(msg: str) -> None:
    """Progress on stderr, so that stdout holds only the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _source_digest() -> str:
    """Short hash of sknorm's source files, to tell which code was measured."""
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    for path in sorted(Path(sknorm.__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


#: Digest of the sknorm code this process imported (read at import time).
SOURCE_DIGEST = _source_digest()


# -- section 1: seconds per epoch ------------------------------------------------
def _speed_contenders(X, y, X_t, y_t, epochs, threads, seed):
    """(way, norm, run) triples; ``run()`` returns (per-epoch list, fit seconds)."""

    def hand(norm):
        def run():
            start = time.perf_counter()
            durations = hand_loop(X_t, y_t, norm, epochs, seed=seed)
            return durations, time.perf_counter() - start

        return run

    def estimator(norm):
        def run():
            clf = NormMLPClassifier(
                hidden_layer_sizes=HIDDEN,
                norm=norm,
                dropout=0.0,
                batch_size=BATCH_SIZE,
                max_epochs=epochs,
                lr=LR,
                n_threads=threads,
                random_state=seed,
            )
            start = time.perf_counter()
            clf.fit(X, y)
            total = time.perf_counter() - start
            return list(clf.history_[:, "dur"]), total

        return run

    def plain_skorch(norm):
        def run():
            torch.manual_seed(seed)
            net = skorch.NeuralNetClassifier(
                MLP,
                module__n_features=X.shape[1],
                module__n_outputs=2,
                module__hidden_layer_sizes=HIDDEN,
                module__norm=norm,
                criterion=nn.CrossEntropyLoss,
                optimizer=torch.optim.Adam,
                lr=LR,
                batch_size=BATCH_SIZE,
                max_epochs=epochs,
                train_split=None,
                iterator_train__shuffle=True,
                verbose=0,
            )
            start = time.perf_counter()
            net.fit(X, y)
            total = time.perf_counter() - start
            return list(net.history[:, "dur"]), total

        return run

    def sk_mlp():
        clf = MLPClassifier(
            hidden_layer_sizes=HIDDEN,
            batch_size=BATCH_SIZE,
            solver="adam",
            learning_rate_init=LR,
            max_iter=epochs,
            tol=0,
            n_iter_no_change=epochs + 1,
            shuffle=True,
            random_state=seed,
        )
        with (
            threadpool_limits(limits=threads, user_api="blas"),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            clf.fit(X, y)
            total = time.perf_counter() - start
        # No per-epoch timing: every epoch gets the whole-fit average.
        return [total / epochs] * epochs, total

    contenders = []
    for norm in NORMS:
        contenders.append(("hand loop", norm, hand(norm)))
        contenders.append(("NormMLPClassifier", norm, estimator(norm)))
        contenders.append(("skorch NeuralNetClassifier", norm, plain_skorch(norm)))
    contenders.append(("sklearn MLPClassifier", "none", sk_mlp))
    return contenders


def bench_speed(args) -> dict:
    torch.set_num_threads(args.threads)
    X, y = classification_data(args.n_samples)
    n_train = len(X)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)

    contenders = _speed_contenders(X, y, X_t, y_t, args.epochs, args.threads, 0)
    # Untimed warm-up of every contender on a few rows, so that one-off costs
    # (lazy torch/oneDNN initialisation, first-call imports) hit nobody's timing.
    warm = min(1024, n_train)
    for _, _, run in _speed_contenders(
        X[:warm], y[:warm], X_t[:warm], y_t[:warm], 1, args.threads, 0
    ):
        run()
    per_epoch = {(w, n): [] for w, n, _ in contenders}
    per_fit = {(w, n): [] for w, n, _ in contenders}
    for rep in range(args.repeats):
        for way, norm, run in contenders:
            gc.collect()
            durations, total = run()
            _progress(f"speed {rep + 1}/{args.repeats} {way} {norm}: {total:.1f} s")
            per_epoch[way, norm].append(median(after_warmup(durations)))
            per_fit[way, norm].append(total / args.epochs)

    rows, records = [], []
    for way, norm, _ in contenders:
        s = median(per_epoch[way, norm])
        ref = median(per_epoch["hand loop", norm])
        fit = median(per_fit[way, norm])
        rows.append([way, norm, f"{s:.3f}", f"{s / ref:.2f}x", f"{fit:.3f}"])
        records.append(
            {
                "way": way,
                "norm": norm,
                "s_per_epoch": s,
                "ratio_to_hand_loop": s / ref,
                "fit_s_per_epoch": fit,
                "runs_s_per_epoch": per_epoch[way, norm],
            }
        )
    print(
        f"\n## Seconds per epoch ({n_train} train rows x 32 features, MLP "
        f"32-256-256-2, Adam, batch {BATCH_SIZE}, {args.epochs} epochs, first "
        f"epoch skipped, {args.threads} thread(s), median of {args.repeats})\n"
    )
    print(markdown_table(SPEED_HEADER, rows))
    print(
        "\ns/epoch: median per-epoch time after the warm-up epoch (sklearn: "
        "whole fit / epochs). fit/epochs: whole fit wall time / epochs."
    )
    return {"n_train": n_train, "epochs": args.epochs, "rows": records}


# -- section 2: grid search ------------------------------------------------------
def _worker_probe():
    import os

    import torch

    from sknorm._training import default_num_threads

    return (
        os.getpid(),
        os.environ.get("OMP_NUM_THREADS"),
        torch.get_num_threads(),
        default_num_threads(),
        _source_digest(),
    )


def bench_grid(args) -> dict:
    from joblib import Parallel, delayed

    from sknorm._training import default_num_threads

    torch.set_num_threads(DEFAULT_TORCH_THREADS)  # see the module docstring
    X, y = load_breast_cancer(return_X_y=True)
    grid = normalization_grid(["none", "minmax", "standard"], list(NORMS))

    def search(n_jobs, n_threads):
        gs = GridSearchCV(
            make_norm_pipeline(
                NormMLPClassifier(
                    max_epochs=args.small_epochs,
                    n_threads=n_threads,
                    dropout=0.0,
                    random_state=0,
                )
            ),
            grid,
            cv=5,
            n_jobs=n_jobs,
        )
        gc.collect()
        start = time.perf_counter()
        gs.fit(X, y)
        return time.perf_counter() - start

    start = time.perf_counter()
    probes = Parallel(n_jobs=2)(delayed(_worker_probe)() for _ in range(4))
    startup = time.perf_counter() - start
    workers = sorted(set(probes))
    if any(w[4] != SOURCE_DIGEST for w in workers):
        print(
            "WARNING: sknorm's source changed since this process imported it; "
            "the workers run different code.",
            file=sys.stderr,
        )

    # (label, n_jobs, n_threads): the two defaults compared, then a diagnostic
    # row that isolates the thread count from the process parallelism.
    settings = [("1", 1, None), ("2", 2, None), ("1", 1, 1)]
    times = {i: [] for i in range(len(settings))}
    for rep in range(args.repeats):
        for i, (_, n_jobs, n_threads) in enumerate(settings):
            elapsed = search(n_jobs, n_threads)
            times[i].append(elapsed)
            _progress(
                f"grid {rep + 1}/{args.repeats} n_jobs={n_jobs} "
                f"n_threads={n_threads}: {elapsed:.1f} s"
            )
    medians = [median(times[i]) for i in range(len(settings))]
    t1, t2 = medians[0], medians[1]
    worker_threads = ", ".join(sorted({str(w[3]) for w in workers}))
    # What a default fit of this grid uses in the parent (sknorm's policy takes
    # the per-batch work, rows x widest layer, into account).
    default_net = NormMLPClassifier()
    work = default_net.batch_size * max(X.shape[1], *default_net.hidden_layer_sizes)
    threads_per_fit = [str(default_num_threads(work)), worker_threads, "1"]
    rows = [
        [
            label,
            "None (default)" if n_threads is None else str(n_threads),
            threads_per_fit[i],
            f"{medians[i]:.2f}",
            f"{t1 / medians[i]:.2f}x",
        ]
        for i, (label, _, n_threads) in enumerate(settings)
    ]
    rows.append(["2: one-off worker start-up (not in the row above)", "", "", "", ""])
    rows[-1][3] = f"{startup:.2f}"
    print(
        f"\n## Grid search: 3 scalings x 3 norms, cv=5 (45 fits + refit), "
        f"breast cancer, max_epochs={args.small_epochs}, median of {args.repeats}\n"
    )
    print(
        markdown_table(
            [
                "n_jobs",
                "net n_threads",
                "torch threads per fit",
                "wall s",
                "speed-up vs n_jobs=1 (default threads)",
            ],
            rows,
        )
    )
    print(
        f"\nParent: torch threads {torch.get_num_threads()} (start-up default), "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')!r}. Loky workers "
        "(pid, OMP_NUM_THREADS, torch threads, sknorm default threads): "
        f"{[w[:4] for w in workers]}. The last timed row is a diagnostic: "
        "n_jobs=1 with one torch thread per fit (one core idle)."
    )
    return {
        "small_epochs": args.small_epochs,
        "n_jobs_1_s": t1,
        "n_jobs_2_s": t2,
        "speed_up": t1 / t2,
        "n_jobs_1_one_thread_s": medians[2],
        "worker_startup_s": startup,
        "runs": {
            f"n_jobs={n_jobs},n_threads={n_threads}": times[i]
            for i, (_, n_jobs, n_threads) in enumerate(settings)
        },
        "parent_threads_per_fit": default_num_threads(work),
        "workers": [list(w) for w in workers],
    }


# -- section 3: predict_proba latency -------------------------------------------
def bench_latency(args) -> dict:
    torch.set_num_threads(args.threads)
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    X_one = X[:1]
    X_big = X[rng.integers(0, X.shape[0], size=10_000)]

    models = []
    for norm in NORMS:
        pipe = make_norm_pipeline(
            NormMLPClassifier(
                hidden_layer_sizes=HIDDEN,
                norm=norm,
                dropout=0.0,
                max_epochs=args.small_epochs,
                n_threads=args.threads,
                random_state=0,
            )
        ).fit(X, y)
        models.append(("sknorm pipeline", norm, pipe))
    with (
        threadpool_limits(limits=args.threads, user_api="blas"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "net",
                    MLPClassifier(
                        hidden_layer_sizes=HIDDEN,
                        max_iter=args.small_epochs,
                        random_state=0,
                    ),
                ),
            ]
        ).fit(X, y)
    models.append(("sklearn Pipeline(StandardScaler, MLPClassifier)", "none", sk))

    def timed(model, data, calls):
        out = []
        for _ in range(calls):
            start = time.perf_counter()
            model.predict_proba(data)
            out.append(time.perf_counter() - start)
        return out

    one = {m[:2]: [] for m in models}
    big = {m[:2]: [] for m in models}
    rounds = args.latency_rounds
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for _, _, model in models:  # warm-up, untimed
            model.predict_proba(X_one)
            model.predict_proba(X_big)
        for _ in range(rounds):
            for way, norm, model in models:
                one[way, norm] += timed(
                    model, X_one, max(args.latency_calls // rounds, 1)
                )
            for way, norm, model in models:
                big[way, norm] += timed(
                    model, X_big, max(args.latency_big_calls // rounds, 1)
                )

    rows, records = [], []
    for way, norm, _ in models:
        a, b = median(one[way, norm]) * 1e3, median(big[way, norm]) * 1e3
        rows.append([way, norm, f"{a:.3f}", f"{b:.2f}"])
        records.append(
            {
                "way": way,
                "norm": norm,
                "one_row_ms": a,
                "rows_10k_ms": b,
                "calls_one": len(one[way, norm]),
                "calls_10k": len(big[way, norm]),
            }
        )
    n_one, n_big = len(one[models[0][:2]]), len(big[models[0][:2]])
    print(
        f"\n## predict_proba latency (fit on breast cancer, hidden {HIDDEN}, "
        f"{args.threads} thread(s); median of {n_one} calls for 1 row, {n_big} "
        "calls for 10k rows)\n"
    )
    print(markdown_table(["way", "norm", "1 row ms", "10k rows ms"], rows))
    return {"rows": records}


# -- section 4: peak memory -----------------------------------------------------
def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux: KiB


def _vm_hwm_bytes() -> int | None:
    """Linux ``VmHWM`` (peak RSS of this process image only), as a cross-check."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return None


def memory_child(args) -> None:
    """Run in a fresh interpreter; print one JSON line."""
    baseline = _maxrss_bytes()  # after imports, before data
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.mem_rows, 32), dtype=np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    after_data = _maxrss_bytes()
    clf = NormMLPClassifier(
        hidden_layer_sizes=HIDDEN,
        dropout=0.0,
        batch_size=BATCH_SIZE,
        max_epochs=1,
        n_threads=args.threads,
        random_state=0,
    )
    start = time.perf_counter()
    clf.fit(X, y)
    fit_s = time.perf_counter() - start
    peak = _maxrss_bytes()
    print(
        json.dumps(
            {
                "rows": args.mem_rows,
                "maxrss_at_start_bytes": _MAXRSS_AT_START,
                "baseline_bytes": baseline,
                "after_data_bytes": after_data,
                "peak_bytes": peak,
                "vm_hwm_bytes": _vm_hwm_bytes(),
                "X_bytes": int(X.nbytes),
                "y_bytes": int(y.nbytes),
                "fit_s": fit_s,
            }
        )
    )


#: Runs its arguments as a grandchild. On Linux a child's ``ru_maxrss`` starts at
#: the high-water mark of the process that spawned it (it is carried over at
#: ``exec`` from the vfork/fork-ed address space), so a child spawned straight
#: from this (large) process would report this process's peak; spawned from this
#: small launcher it starts at the launcher's ~10 MB.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def _run_memory_child(rows: int, threads: int) -> tuple[dict, list[str]]:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--memory-child",
        "--mem-rows",
        str(rows),
        "--threads",
        str(threads),
    ]
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *cmd],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        raise RuntimeError(f"memory child failed with code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), cmd


def bench_memory(args) -> dict:
    small_rows = 1_000
    gc.collect()
    r, cmd = _run_memory_child(args.mem_rows, args.threads)
    small, _ = _run_memory_child(small_rows, args.threads)
    above = r["peak_bytes"] - r["baseline_bytes"]
    fixed = small["peak_bytes"] - small["baseline_bytes"]
    hwm = r["vm_hwm_bytes"]
    print(
        f"\n## Peak memory: NormMLPClassifier fit, {r['rows']} x 32 float32 rows, "
        f"hidden {HIDDEN}, batch {BATCH_SIZE}, 1 epoch, {args.threads} thread(s) "
        "(fresh subprocess, ru_maxrss)\n"
    )
    rows = [
        ["ru_maxrss at interpreter start", f"{r['maxrss_at_start_bytes'] / MB:.1f}"],
        ["baseline: after imports, before data", f"{r['baseline_bytes'] / MB:.1f}"],
        ["X (float32)", f"{r['X_bytes'] / MB:.1f}"],
        ["y (int64)", f"{r['y_bytes'] / MB:.1f}"],
        [
            "after creating the data - baseline",
            f"{(r['after_data_bytes'] - r['baseline_bytes']) / MB:.1f}",
        ],
        ["**peak during fit - baseline**", f"**{above / MB:.1f}**"],
        ["ratio (peak - baseline) / X", f"{above / r['X_bytes']:.2f}x"],
        [
            f"same fit on {small_rows} rows: peak - baseline (fixed cost)",
            f"{fixed / MB:.1f}",
        ],
        [
            "ratio (peak - baseline - fixed cost) / X",
            f"{(above - fixed) / r['X_bytes']:.2f}x",
        ],
    ]
    if hwm is not None:
        rows.append(
            ["cross-check: VmHWM - baseline", f"{(hwm - r['baseline_bytes']) / MB:.1f}"]
        )
    print(markdown_table(["quantity", "MB"], rows))
    print(f"\nFit took {r['fit_s']:.1f} s. Child: `{shlex.join(cmd)}`")
    r["peak_minus_baseline_bytes"] = above
    r["ratio_to_X"] = above / r["X_bytes"]
    r["fixed_cost_bytes"] = fixed
    r["small_run"] = small
    return r


# -- driver -----------------------------------------------------------------------
SECTIONS = {
    "speed": bench_speed,
    "grid": bench_grid,
    "latency": bench_latency,
    "memory": bench_memory,
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help="comma-separated sections: speed,grid,latency,memory",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="compute threads in speed/latency/memory (default 1)",
    )
    p.add_argument(
        "--n-samples",
        type=int,
        default=100_000,
        help="make_classification rows; 80%% train (default 100000)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=3,
        help="epochs per speed fit, first one is warm-up (default 3)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="round-robin repeats, medians reported (default 3)",
    )
    p.add_argument(
        "--small-epochs",
        type=int,
        default=20,
        help="max_epochs of the breast-cancer fits (grid, latency)",
    )
    p.add_argument(
        "--latency-calls",
        type=int,
        default=1000,
        help="predict_proba calls on one row (default 1000)",
    )
    p.add_argument(
        "--latency-big-calls",
        type=int,
        default=20,
        help="predict_proba calls on 10k rows (default 20)",
    )
    p.add_argument(
        "--latency-rounds",
        type=int,
        default=10,
        help="round-robin rounds the latency calls are split into",
    )
    p.add_argument(
        "--mem-rows",
        type=int,
        default=1_000_000,
        help="rows of the memory fit (default 1000000)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes: 2k rows, 2 epochs, 1 repeat, ...",
    )
    p.add_argument("--json", metavar="PATH", help="also dump the results as JSON")
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.n_samples = 2_000
        args.epochs = 2
        args.repeats = 1
        args.small_epochs = 2
        args.latency_calls = 20
        args.latency_big_calls = 4
        args.latency_rounds = 2
        args.mem_rows = 100_000
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}; choose from {list(SECTIONS)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args)
        return 0
    print("# sknorm speed benchmark\n")
    print(f"Command: `{shlex.join([sys.executable, *sys.argv])}`\n")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"skorch {skorch.__version__}, scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}, sknorm {sknorm.__version__} (source digest "
        f"{SOURCE_DIGEST})"
    )
    print(
        f"CPUs available: {len(os.sched_getaffinity(0))}; torch threads at "
        f"start-up: {DEFAULT_TORCH_THREADS}; --threads {args.threads} "
        f"(speed, latency, memory); OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')!r}; load average {load_average()}"
    )
    results = {
        "argv": sys.argv,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "skorch": skorch.__version__,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "sknorm": sknorm.__version__,
            "sknorm_source_digest": SOURCE_DIGEST,
        },
        "torch_threads_startup": DEFAULT_TORCH_THREADS,
        "threads": args.threads,
        "load_before": load_average(),
    }
    start = time.perf_counter()
    for name in args.sections:
        results[name] = SECTIONS[name](args)
    results["load_after"] = load_average()
    results["total_s"] = time.perf_counter() - start
    print(f"\nTotal {results['total_s']:.0f} s; load average now {load_average()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
        print(f"Results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
