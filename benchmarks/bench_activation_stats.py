"""Cost of :class:`sknorm.callbacks.ActivationStats` per training epoch.

Run from the repository root::

    python benchmarks/bench_activation_stats.py             # the reference setting
    python benchmarks/bench_activation_stats.py --quick     # smoke run, seconds

The reference setting: ``make_classification(n_samples=20_000, n_features=32,
random_state=0)`` as float32, ``NormMLPClassifier(hidden_layer_sizes=(256, 256),
batch_size=256, max_epochs=5, n_threads=1, random_state=0)``, one torch thread,
for ``norm`` in ("batch", "none"), each fit without the callback, with
``ActivationStats()`` (training mode, the default: 256 probe rows) and with
``ActivationStats(mode="eval")``.

Two measures, both medians over ``--repeats`` rounds that run the contenders
round-robin (A, B, C, A, B, C, ...), so slow drift of the machine hits all alike:

* ``callback ms/epoch``: the time spent inside the callback's ``on_epoch_end``
  (timed with ``perf_counter`` by a subclass that adds nothing else), divided
  by the median training-epoch time of the same fit (skorch's ``dur``, which
  does *not* include user callbacks: skorch's ``EpochTimer`` records it before
  they run). This is the overhead, free of the noise of whole-fit timings.
* ``fit s/epoch``: whole-fit wall time / epochs, for each contender, and its
  ratio to the fit without the callback. On a busy machine this ratio is much
  noisier than the first measure; read the load averages printed at the top
  and the bottom.

Nothing here asserts a timing: the numbers are for reading, not for CI.
"""

from __future__ import annotations

import argparse
import gc
import time

import torch
from _common import (
    BATCH_SIZE,
    HIDDEN,
    classification_data,
    load_average,
    markdown_table,
    median,
)

from sknorm import NormMLPClassifier
from sknorm.callbacks import ActivationStats


class TimedActivationStats(ActivationStats):
    """ActivationStats that adds up the seconds spent in ``on_epoch_end``."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.seconds_ = []
        super().on_train_begin(net, X=X, y=y, **kwargs)

    def on_epoch_end(self, net, **kwargs):
        start = time.perf_counter()
        super().on_epoch_end(net, **kwargs)
        self.seconds_.append(time.perf_counter() - start)


def _fit(X, y, norm, mode, epochs):
    callbacks = [] if mode is None else [TimedActivationStats(mode=mode)]
    clf = NormMLPClassifier(
        hidden_layer_sizes=HIDDEN,
        norm=norm,
        dropout=0.0,
        batch_size=BATCH_SIZE,
        max_epochs=epochs,
        n_threads=1,
        random_state=0,
        callbacks=callbacks,
    )
    gc.collect()
    start = time.perf_counter()
    clf.fit(X, y)
    total = time.perf_counter() - start
    epoch = median(clf.history_[:, "dur"])
    timed = [cb for _, cb in clf.net_.callbacks_ if isinstance(cb, ActivationStats)]
    callback = median(timed[0].seconds_) if timed else 0.0
    return total / epochs, epoch, callback


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1,000 rows, 2 epochs")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.epochs, args.repeats = 1_000, 2, 1
    torch.set_num_threads(1)
    X, y = classification_data(args.n_samples, train_fraction=1.0)
    print(f"load average at start: {load_average()}")
    contenders = [
        (norm, mode) for norm in ("batch", "none") for mode in (None, "train", "eval")
    ]
    for norm, mode in contenders:  # untimed warm-up of every code path
        _fit(X[:512], y[:512], norm, mode, 1)
    runs = {c: [] for c in contenders}
    for _ in range(args.repeats):
        for norm, mode in contenders:
            runs[norm, mode].append(_fit(X, y, norm, mode, args.epochs))

    print(
        f"\n## ActivationStats overhead ({args.n_samples} x 32, MLP 32-256-256-2, "
        f"batch 256, {args.epochs} epochs, 1 thread, median of {args.repeats})\n"
    )
    rows = []
    for norm, mode in contenders:
        fit, epoch, callback = (
            median(column) for column in zip(*runs[norm, mode], strict=True)
        )
        base = median(r[0] for r in runs[norm, None])
        label = "none" if mode is None else f'ActivationStats(mode="{mode}")'
        share = "-" if mode is None else f"{100 * callback / epoch:.2f} %"
        ms = "-" if mode is None else f"{1000 * callback:.2f}"
        rows.append(
            [norm, label, f"{epoch:.3f}", ms, share, f"{fit:.3f}", f"{fit / base:.3f}"]
        )
    header = ["norm", "callback", "epoch s (dur)", "callback ms/epoch"]
    header += ["callback / epoch", "fit s/epoch", "fit ratio to no callback"]
    print(markdown_table(header, rows))
    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
