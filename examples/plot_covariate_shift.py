"""
Covariate shift: how hidden-layer statistics move during training
=================================================================

Every weight update of a layer changes the distribution of what it hands to
the next layer, so without normalization the inputs of a hidden layer keep
shifting while that layer tries to learn from them ("internal covariate
shift", Ioffe & Szegedy, 2015). Batch norm re-centres and re-scales each unit
over the mini-batch, so what the activation receives stays near zero mean and
unit variance whatever the weights do; layer norm does the same per sample.

:class:`sknorm.callbacks.ActivationStats` measures this. At the end of every
epoch it runs the network, in training mode, on the same 256 training rows and
records per hidden layer the mean over units of each unit's mean and standard
deviation, before the norm (``Wx + b``, "pre") and after it ("post"; with no
norm, post = pre). Because the probe rows never change, a change of the
numbers is a change of the distribution.

Data: scikit-learn's ``load_digits`` (8x8 images, 10 classes), standard
scaled, 1344 training rows (21 batches of 64, so no ragged last batch).
Network: three hidden layers of 64 ReLU units. The statistics come from SGD
(lr 0.01, momentum 0.9); the loss table also has Adam (lr 1e-3), whose
per-parameter step sizes already absorb much of what the norm does.

The script prints, per norm and layer, each statistic at the first and last
epoch and its drift (the standard deviation over epochs), then per optimizer
and norm the epochs to reach a training loss of 0.3 and 0.1, the final loss
and the test accuracy. It saves ``covariate_shift_stats.png`` and
``covariate_shift_loss.png``.

Run ``python examples/plot_covariate_shift.py [--out DIR] [--quick]``. With
``--quick`` or ``SKNORM_EXAMPLES_QUICK=1`` it runs a short version (less data,
4 epochs); the documentation is built that way, so the numbers on this page
are the short run's. The full run's figures and numbers are in
:ref:`why-covariate-shift`.
"""

# %%
# Fit every optimizer and norm with the callback
# ----------------------------------------------
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import (
    epochs_to_reach,
    example_parser,
    print_table,
    report_saved,
    save_figure,
)
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sknorm import NormMLPClassifier, make_norm_pipeline
from sknorm.callbacks import STAT_NAMES, ActivationStats
from sknorm.diagnostics import activation_stats_frame, plot_activation_stats

args = example_parser(__doc__).parse_args()
start = time.perf_counter()

NORMS = ["none", "batch", "layer"]
OPTIMIZERS = {
    "SGD lr 0.01, momentum 0.9": ("sgd", 0.01),
    "Adam lr 1e-3": ("adam", 1e-3),
}
SGD = next(iter(OPTIMIZERS))
HIDDEN = (64, 64, 64)
BATCH_SIZE = 64
EPOCHS = 4 if args.quick else 30
N_TRAIN = 256 if args.quick else 1344
THRESHOLDS = (0.3, 0.1)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=N_TRAIN, random_state=0, stratify=y
)
fits = {}
for opt_name, (optimizer, lr) in OPTIMIZERS.items():
    for norm in NORMS:
        net = NormMLPClassifier(
            HIDDEN,
            norm=norm,
            dropout=0.0,
            optimizer=optimizer,
            lr=lr,
            batch_size=BATCH_SIZE,
            max_epochs=EPOCHS,
            early_stopping=False,  # curves over a fixed number of epochs
            callbacks=[ActivationStats(probe_size=256)],
            n_threads=1,  # small nets: one thread is fastest
            random_state=0,
        )
        fits[opt_name, norm] = make_norm_pipeline(net, "standard").fit(X_train, y_train)

# %%
# Hidden-layer statistics on the probe (SGD)
# ------------------------------------------
# Each cell: value at the first epoch -> value at the last epoch (drift = the
# standard deviation over the epochs).
rows = []
for norm in NORMS:
    frame = activation_stats_frame(fits[SGD, norm])
    for layer, stats in frame.groupby("layer"):
        cells = [norm, layer]
        for stat in STAT_NAMES:
            v = stats[stat].to_numpy()
            cells.append(f"{v[0]:.3f} -> {v[-1]:.3f} ({v.std():.3f})")
        rows.append(cells)
print_table(["norm", "layer", *STAT_NAMES], rows)

# %%
# :func:`sknorm.diagnostics.plot_activation_stats` draws the same numbers per
# epoch, one column per statistic, one line per norm and layer.
fig = plot_activation_stats(
    {norm: fits[SGD, norm] for norm in NORMS},
    ["pre_mean", "pre_std", "post_mean", "post_std"],
)
fig.suptitle(
    f"digits, MLP {HIDDEN}, {SGD}: hidden-layer statistics on a fixed probe "
    "of 256 training rows (training mode)"
)
stats_path = save_figure(fig, args.out / "covariate_shift_stats.png")

# %%
# Training speed
# --------------
# Epochs to reach a training loss of 0.3 and 0.1, with SGD and with Adam.
header = ["optimizer", "norm", "loss ep 1", "final loss"]
header += [f"epochs to {t}" for t in THRESHOLDS] + ["test acc"]
rows = []
for (opt_name, norm), pipe in fits.items():
    loss = pipe[-1].history_[:, "train_loss"]
    cells = [opt_name, norm, f"{loss[0]:.3f}", f"{loss[-1]:.4f}"]
    cells += epochs_to_reach(loss, THRESHOLDS)
    rows.append([*cells, f"{pipe.score(X_test, y_test):.3f}"])
print_table(header, rows)
print(f"('never': not within {EPOCHS} epochs)")

# %%
fig, axes = plt.subplots(
    1, len(OPTIMIZERS), figsize=(10, 4), sharey=True, layout="constrained"
)
for ax, opt_name in zip(axes, OPTIMIZERS, strict=True):
    for norm in NORMS:
        loss = fits[opt_name, norm][-1].history_[:, "train_loss"]
        ax.plot(np.arange(1, len(loss) + 1), loss, marker=".", label=norm)
    ax.set_yscale("log")
    ax.set_title(opt_name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (log scale)")
    ax.grid(True, alpha=0.3)
    ax.legend(title="hidden norm")
fig.suptitle(f"digits, MLP {HIDDEN}: training loss per epoch")
loss_path = save_figure(fig, args.out / "covariate_shift_loss.png")
report_saved([stats_path, loss_path], start)

# %%
# In the full run, "batch norm trains faster" holds with SGD and not with
# Adam, whose per-parameter step sizes already do part of the norm's work:
# see :ref:`why-covariate-shift`.
