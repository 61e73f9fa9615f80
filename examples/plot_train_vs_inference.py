"""
Training vs inference: batch norm's running statistics at work
==============================================================

In training mode batch norm normalizes every unit with the mean and variance
of the current mini-batch, so a row's output depends on which other rows share
its batch. While it trains it keeps running averages of those statistics
(``running_mean``, ``running_var``; torch's ``momentum=0.1``), and in
evaluation mode it normalizes with them instead: a fixed affine map per unit,
the same for every row. Layer norm normalizes each row over its own units and
computes the same way in both modes.

What the script measures on scikit-learn's breast cancer data (standard
scaled, MLP (32, 32), 30 epochs), for a batch-norm and a layer-norm net:

1. how close batch norm's running statistics of the first hidden layer are to
   the actual mean and variance of ``Wx + b`` over the whole training set;
2. the largest difference between training-mode and evaluation-mode
   predicted probabilities on the test set (passed as one batch);
3. how much a test row's training-mode probability moves when the other 15
   rows of its batch of 16 are redrawn (50 draws);
4. the largest difference between a row's prediction alone, inside the whole
   test set and inside 50 random batches, through the estimator's
   ``predict_proba`` (evaluation mode, float64 on the CPU) and through a plain
   float32 call of the torch module in evaluation mode.

It prints all of them and saves ``train_vs_inference.png``.

Run ``python examples/plot_train_vs_inference.py [--out DIR] [--quick]``. With
``--quick`` or ``SKNORM_EXAMPLES_QUICK=1`` it runs a short version (5 epochs,
10 draws); the documentation is built that way, so the numbers on this page
are the short run's. The full run's figure and numbers are in
:ref:`why-train-vs-inference`.
"""

# %%
# Two nets and three helpers
# --------------------------
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from _common import example_parser, print_table, report_saved, save_figure
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from sknorm import NormMLPClassifier, make_norm_pipeline

args = example_parser(__doc__).parse_args()
start = time.perf_counter()

NORMS = ["batch", "layer"]
EPOCHS = 5 if args.quick else 30
DRAWS = 10 if args.quick else 50
BATCH = 16


def fit(norm, X_train, y_train):
    net = NormMLPClassifier(
        (32, 32),
        norm=norm,
        dropout=0.0,
        max_epochs=EPOCHS,
        early_stopping=False,  # curves over a fixed number of epochs
        batch_size=32,
        n_threads=1,
        random_state=0,
    )
    return make_norm_pipeline(net, "standard").fit(X_train, y_train)


def proba(module, X, *, training):
    """P(class 1) in training or evaluation mode, float32 (training: on a copy)."""
    if training:  # a training-mode pass updates batch norm's running statistics
        module = copy.deepcopy(module)
    module.train(training)
    with torch.no_grad():
        logits = module(torch.as_tensor(X, dtype=torch.float32))
    return torch.softmax(logits, dim=1)[:, 1].numpy().astype(np.float64)


def companions_spread(module, X, rng):
    """Training-mode P(class 1) of every row in DRAWS random batches of BATCH."""
    n = len(X)
    out = np.empty((DRAWS, n))
    for d in range(DRAWS):
        order = rng.permutation(n)
        for start in range(0, n - BATCH + 1, BATCH):
            rows = order[start : start + BATCH]
            out[d, rows] = proba(module, X[rows], training=True)
        rest = order[(n // BATCH) * BATCH :]  # left-overs: fill with other rows
        if rest.size:
            filler = rng.choice(np.setdiff1d(np.arange(n), rest), BATCH - rest.size)
            rows = np.concatenate([rest, filler])
            out[d, rest] = proba(module, X[rows], training=True)[: rest.size]
    return out


def batch_independence(pipe, X, rng):
    """Max |difference| of a row's prediction alone vs in batches, both ways."""
    alone = np.concatenate([pipe.predict_proba(X[i : i + 1]) for i in range(len(X))])
    worst = np.abs(pipe.predict_proba(X) - alone).max()
    module = pipe[-1].net_.module_
    Z = pipe[0].transform(X)
    alone32 = np.concatenate(
        [proba(module, Z[i : i + 1], training=False) for i in range(len(Z))]
    )
    worst32 = np.abs(proba(module, Z, training=False) - alone32).max()
    for _ in range(DRAWS):
        rows = rng.choice(len(X), size=rng.randint(2, len(X)), replace=False)
        worst = max(worst, np.abs(pipe.predict_proba(X[rows]) - alone[rows]).max())
        worst32 = max(
            worst32,
            np.abs(proba(module, Z[rows], training=False) - alone32[rows]).max(),
        )
    return worst, worst32


X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)
pipes = {norm: fit(norm, X_train, y_train) for norm in NORMS}

# %%
# 1. Running statistics against the training set's statistics
# ------------------------------------------------------------
bn_pipe = pipes["batch"]
block = bn_pipe[-1].net_.module_.hidden[0]
with torch.no_grad():
    pre = block.linear(torch.as_tensor(bn_pipe[0].transform(X_train)).float())
true_mean = pre.mean(0).numpy()
true_var = pre.var(0).numpy()
run_mean = block.norm.running_mean.numpy()
run_var = block.norm.running_var.numpy()
print("## 1. Batch norm, hidden layer 0: running statistics vs the training set\n")
print(
    f"units: {len(run_mean)}; max |running_mean - mean of Wx+b| = "
    f"{np.abs(run_mean - true_mean).max():.4f} (the means themselves span "
    f"{true_mean.min():.3f}..{true_mean.max():.3f}); "
    "median |running_var / var - 1| = "
    f"{np.median(np.abs(run_var / true_var - 1)):.3f}"
)

# %%
# 2-4. Training against evaluation mode, batch companions, batch independence
# ---------------------------------------------------------------------------
rng = np.random.RandomState(0)
spreads, evaluated, rows = {}, {}, []
for norm, pipe in pipes.items():
    module = pipe[-1].net_.module_
    Z_test = pipe[0].transform(X_test)
    evaluated[norm] = proba(module, Z_test, training=False)
    train_vs_eval = np.abs(proba(module, Z_test, training=True) - evaluated[norm]).max()
    draws = companions_spread(module, Z_test, rng)
    spreads[norm] = draws
    spread = (draws.max(0) - draws.min(0)).max()
    alone_vs_batch, alone_vs_batch32 = batch_independence(pipe, X_test, rng)
    rows.append(
        [norm]
        + [f"{v:.3g}" for v in (train_vs_eval, spread)]
        + [f"{v:.3g}" for v in (alone_vs_batch, alone_vs_batch32)]
        + [f"{pipe.score(X_test, y_test):.3f}"]
    )
print(
    "\n## 2-4. Largest differences of predicted probabilities "
    f"({len(X_test)} test rows)\n"
)
header = [
    "norm",
    "train vs eval mode",
    f"train mode: other rows of the batch redrawn ({DRAWS} draws of {BATCH})",
    "eval: alone vs in batches, predict_proba",
    "eval: alone vs in batches, float32 module",
    "test acc",
]
print_table(header, rows)

# %%
# The figure
# ----------
# Left: one point per unit of the first hidden layer, running statistic
# against the training set's. Right: the 12 test rows whose training-mode
# probability moves most under batch norm, each in ``DRAWS`` different batches.
fig, (ax_mean, ax_var, ax_rows) = plt.subplots(
    1,
    3,
    figsize=(16, 4.6),
    width_ratios=[1, 1, 1.7],
    layout="constrained",
)
ax_mean.scatter(true_mean, run_mean, s=14)
ax_var.scatter(true_var, run_var, s=14)
for ax, what in ((ax_mean, "mean"), (ax_var, "variance")):
    lo, hi = ax.get_xlim()
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle=":", label="y = x")
    ax.set_xlabel(f"{what} of Wx + b over the training set")
    ax.set_ylabel(f"batch norm's running {what}")
    ax.set_title(f"Hidden layer 0, one point per unit: {what}")
    ax.legend()
ax_var.set_xscale("log")
ax_var.set_yscale("log")
# The 12 test rows whose training-mode probability moves most under batch norm.
order = np.argsort(-(spreads["batch"].max(0) - spreads["batch"].min(0)))[:12]
for k, norm in enumerate(NORMS):
    for j, row in enumerate(order):
        ax_rows.scatter(
            np.full(DRAWS, j + (k - 0.5) * 0.3),
            spreads[norm][:, row],
            s=8,
            alpha=0.6,
            color=f"C{k}",
            label=f"{norm} norm, training mode" if j == 0 else None,
        )
ax_rows.scatter(
    np.arange(len(order)),
    evaluated["batch"][order],
    marker="x",
    s=40,
    color="black",
    label="batch norm, eval mode",
)
ax_rows.set_xticks(range(len(order)), [str(r) for r in order])
ax_rows.set_xlabel("test row (the 12 most batch-sensitive under batch norm)")
ax_rows.set_ylabel("P(benign)")
ax_rows.set_title(f"Same row, {DRAWS} different batches of {BATCH}")
ax_rows.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
fig.suptitle(
    "Batch norm at inference uses running statistics; "
    "in training mode a row's output depends on its batch"
)
report_saved([save_figure(fig, args.out / "train_vs_inference.png")], start)
