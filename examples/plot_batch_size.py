"""
Batch size: batch norm needs representative batch statistics
============================================================

Batch norm normalizes each unit with the mean and variance of the current
mini-batch. With 2, 4 or 8 rows those statistics are a poor, noisy estimate
of the population's: with 2 rows every unit's normalized value is just +1 or
-1. Training also accumulates running averages of the statistics for
inference, so a net trained on tiny batches learns under one distribution and
predicts under another. Layer norm normalizes each row over its own units, so
it does not care how many rows share the batch.

Data: scikit-learn's ``load_digits``, standard scaled; 1024 training rows, so
that every batch size here divides it (no ragged last batch), and the other
773 rows for validation. Network: two hidden layers of 64 ReLU units, Adam
with lr 1e-3, seed 0.

Same number of epochs for every batch size, not the same number of steps: every
run sees the same data the same number of times (the same compute, counted in
rows), which is how batch size is usually chosen in practice. The price is
that large batches take fewer steps at the same learning rate (512 rows: 2
steps per epoch), so every norm falls off at the right of the plot; compare
the norms *at the same batch size*, where they had the same steps and data.

The aside at the end trains a deeper net (four hidden layers of 64, 20
epochs, batch size 64, seeds 0 and 1) on the same rows and on 3 rows more,
which leaves a last batch of 3 rows in every epoch: the same small-batch
problem, once per epoch, at a batch size that looks safe.

Add norms to ``NORMS`` below (any norm name the estimators accept) or pass
``--norms none,batch,layer``. The script prints the validation accuracy and the
final training loss per batch size and norm, and saves ``batch_size.png``.

Run ``python examples/plot_batch_size.py [--out DIR] [--quick] [--norms ...]``.
With ``--quick`` or ``SKNORM_EXAMPLES_QUICK=1`` it runs a short version (3
batch sizes, 256 rows, 2 epochs); the documentation is built that way, so the
numbers on this page are the short run's. The full run's figures and numbers
(every norm included) are in :ref:`why-batch-size`.
"""

# %%
# Settings and data
# -----------------
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import example_parser, print_table, report_saved, save_figure
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sknorm import NormMLPClassifier, make_norm_pipeline
from sknorm.nn import MLP

#: The norms compared; "none" is the reference without a hidden norm.
NORMS = ["none", "batch", "layer"]

parser = example_parser(__doc__)
parser.add_argument(
    "--norms",
    default=",".join(NORMS),
    help="comma-separated hidden norms (default: %(default)s)",
)
args = parser.parse_args()
norms = [n.strip() for n in args.norms.split(",") if n.strip()]
for norm in norms:  # fail now, not after minutes of training
    try:
        MLP(2, 2, (64,), norm=norm)
    except ValueError as exc:
        parser.error(str(exc))
start = time.perf_counter()

BATCH_SIZES = [2, 16, 128] if args.quick else [2, 4, 8, 16, 32, 64, 128, 256, 512]
N_TRAIN = 256 if args.quick else 1024  # a multiple of every batch size
EPOCHS = 2 if args.quick else 10
ASIDE_BATCH_SIZE = 64
ASIDE_HIDDEN = (64, 64, 64, 64)
ASIDE_EPOCHS = 2 if args.quick else 20
ASIDE_SEEDS = (0,) if args.quick else (0, 1)

X, y = load_digits(return_X_y=True)
X_train, X_valid, y_train, y_valid = train_test_split(
    X, y, train_size=N_TRAIN, random_state=0, stratify=y
)
# Three rows kept out of validation for the aside.
X_extra, y_extra, X_valid, y_valid = X_valid[:3], y_valid[:3], X_valid[3:], y_valid[3:]


def make_net(norm, batch_size, hidden=(64, 64), epochs=EPOCHS, seed=0):
    return make_norm_pipeline(
        NormMLPClassifier(
            hidden,
            norm=norm,
            dropout=0.0,
            batch_size=batch_size,
            max_epochs=epochs,
            early_stopping=False,  # curves over a fixed number of epochs
            n_threads=1,  # small nets: one thread is fastest
            random_state=seed,
        ),
        "standard",
    )


# %%
# Every batch size, every norm
# ----------------------------
scores, losses = {}, {}
for batch_size in BATCH_SIZES:
    for norm in norms:
        pipe = make_net(norm, batch_size).fit(X_train, y_train)
        scores[norm, batch_size] = pipe.score(X_valid, y_valid)
        losses[norm, batch_size] = pipe[-1].history_[-1, "train_loss"]


def print_by_batch_size(title, values, fmt):
    print(f"\n{title}\n")
    rows = [
        [batch_size, N_TRAIN // batch_size]
        + [format(values[norm, batch_size], fmt) for norm in norms]
        for batch_size in BATCH_SIZES
    ]
    print_table(["batch size", "steps/epoch", *norms], rows)


print_by_batch_size(
    f"Validation accuracy ({len(X_valid)} rows, {EPOCHS} epochs)", scores, ".3f"
)
print_by_batch_size("Training loss at the last epoch", losses, ".4f")

# %%
# Compare the norms at the same batch size: there they had the same steps and
# the same data.
fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
for norm in norms:
    ax_acc.plot(
        BATCH_SIZES, [scores[norm, b] for b in BATCH_SIZES], marker="o", label=norm
    )
    ax_loss.plot(
        BATCH_SIZES, [losses[norm, b] for b in BATCH_SIZES], marker="o", label=norm
    )
for ax in (ax_acc, ax_loss):
    ax.set_xscale("log", base=2)
    ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
    ax.set_xlabel("batch size (rows)")
    ax.grid(True, alpha=0.3)
    ax.legend(title="hidden norm")
ax_acc.set_ylabel("validation accuracy")
ax_acc.set_title("Validation accuracy after the last epoch")
ax_loss.set_yscale("log")
ax_loss.set_ylabel("training loss, last epoch (log scale)")
ax_loss.set_title("Training loss (computed in training mode)")
fig.suptitle(
    f"digits, {N_TRAIN} training rows, MLP (64, 64), Adam lr 1e-3, "
    f"{EPOCHS} epochs at every batch size"
)
path = save_figure(fig, args.out / "batch_size.png")

# %%
# Aside: a ragged last batch
# --------------------------
# Batch size 64 on the training rows and on 3 rows more, which leaves a last
# batch of 3 rows in every epoch. sknorm merges a last batch of fewer than half
# a batch into the one before it, so batch norm never normalizes over 3 rows.
aside_norms = [n for n in ("batch", "layer") if n in norms]
print(
    f"Batch size {ASIDE_BATCH_SIZE}, MLP {ASIDE_HIDDEN}, {ASIDE_EPOCHS} epochs, "
    f"seeds {list(ASIDE_SEEDS)}\n"
)
rows = []
X_more = np.concatenate([X_train, X_extra])
y_more = np.concatenate([y_train, y_extra])
for norm in aside_norms:
    for X_fit, y_fit in ((X_train, y_train), (X_more, y_more)):
        aside_losses, aside_accs = [], []
        for seed in ASIDE_SEEDS:
            pipe = make_net(
                norm, ASIDE_BATCH_SIZE, ASIDE_HIDDEN, ASIDE_EPOCHS, seed
            ).fit(X_fit, y_fit)
            aside_losses.append(pipe[-1].history_[-1, "train_loss"])
            aside_accs.append(pipe.score(X_valid, y_valid))
        last = len(X_fit) % ASIDE_BATCH_SIZE or ASIDE_BATCH_SIZE
        rows.append(
            [
                norm,
                len(X_fit),
                last,
                " / ".join(f"{v:.4f}" for v in aside_losses),
                " / ".join(f"{v:.3f}" for v in aside_accs),
            ]
        )
if rows:
    header = ["norm", "rows", "last batch", "final training loss", "validation acc"]
    print_table(header, rows)
    print("(one value per seed)")
report_saved([path], start)
