"""
From Keras: what a norm over a size-1 axis computes
===================================================

A Keras tutorial on normalization layers builds its two ``Sequential`` models
with ``input_shape=(1, d)``, so every tensor inside them has the shape
``(n, 1, units)``, and normalizes with ``BatchNormalization(axis=1)`` and
``LayerNormalization(axis=1)``. Axis 1 is the axis of size 1, so in today's
Keras:

* the layer norm normalizes each single value by itself: ``x - mean(x)`` is 0,
  so every output equals beta, whatever the input, and no gradient reaches the
  layers below it;
* the batch norm keeps one mean and one variance for axis 1's only index,
  computed over the batch *and* all the units: one scalar statistic shared by
  every unit, instead of one per unit.

This example measures both in torch, with the same arithmetic (``epsilon=1e-3``
as in Keras; no Keras or TensorFlow needed), and compares them with sknorm's
norms, which always normalize per unit (batch norm) or per row over the units
(layer norm) of a 2-D ``(n, units)`` input: the estimators take a 2-D ``X``, so
the size-1 axis cannot be built with them.

Run ``python examples/plot_keras.py [--out DIR] [--quick]``; it prints the
measurements and saves ``keras_axis.png``. With ``--quick`` or
``SKNORM_EXAMPLES_QUICK=1`` it trains for fewer epochs; the documentation is
built that way. The page :doc:`/user_guide/from_keras` writes the tutorial's
models with sknorm.
"""

# %%
# The hidden layer's pre-activations, shaped as in the tutorial
# ---------------------------------------------------------------
# Breast cancer, standard scaled, through a freshly initialized
# ``Linear(30, 16)``: the tensor a hidden norm receives. The tutorial's
# ``input_shape=(1, d)`` adds an axis of size 1: ``(n, 1, 16)``.
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from _common import example_parser, print_table, report_saved, save_figure
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn import functional as F

from sknorm import NormMLPClassifier

args = example_parser(__doc__).parse_args()
start = time.perf_counter()

EPS = 1e-3  # Keras' epsilon for both layers
UNITS = 16
EPOCHS = 10 if args.quick else 40

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)
scaler = StandardScaler().fit(X_train)
Z_train = torch.as_tensor(scaler.transform(X_train), dtype=torch.float32)
Z_test = torch.as_tensor(scaler.transform(X_test), dtype=torch.float32)

torch.manual_seed(0)
dense = nn.Linear(X.shape[1], UNITS)
with torch.no_grad():
    h = dense(Z_train)  # (n, units): what sknorm's norms see
h3 = h[:, None, :]  # (n, 1, units): what the tutorial's norms see
print(f"hidden pre-activations: {tuple(h.shape)}; the tutorial's: {tuple(h3.shape)}")


# %%
# Layer norm along the size-1 axis
# --------------------------------
# ``LayerNormalization(axis=1)`` on ``(n, 1, units)`` computes, for each row and
# unit, the mean and variance over axis 1: over one value. Its gamma and beta
# have axis 1's shape, ``(1,)``. In torch: move axis 1 last and normalize over
# it.
def layer_norm_axis1(x, gamma, beta):
    """Keras' ``LayerNormalization(axis=1, epsilon=1e-3)`` on ``(n, 1, units)``."""
    out = F.layer_norm(x.transpose(1, 2), (1,), gamma, beta, EPS)
    return out.transpose(1, 2)


gamma = torch.tensor([1.7], requires_grad=True)
beta = torch.tensor([0.25], requires_grad=True)
x = h3.clone().requires_grad_(True)
out = layer_norm_axis1(x, gamma, beta)
out.sum().backward()
print(f"output values: {torch.unique(out.detach()).tolist()} (beta = {beta.item()})")
print(f"every output == beta: {bool(torch.all(out == beta))}")
print(f"largest |gradient| reaching the layer below: {x.grad.abs().max().item()}")

# sknorm's layer norm: over the units of each row, on the 2-D tensor.
ln = nn.LayerNorm(UNITS, eps=EPS)
with torch.no_grad():
    per_row = ln(h)
row_std = per_row.std(1, unbiased=False)
print(
    "sknorm's layer norm: per-row mean over the units "
    f"{per_row.mean(1).abs().max():.1e} (max |.|), per-row std "
    f"{row_std.min():.3f}..{row_std.max():.3f}"
)

# %%
# Batch norm along the size-1 axis
# --------------------------------
# ``BatchNormalization(axis=1)`` keeps statistics per index of axis 1: one
# index, so one mean and one variance over the batch and all the units. That
# is ``BatchNorm1d(1)`` on ``(n, 1, units)`` in torch. sknorm's batch norm is
# ``BatchNorm1d(units)`` on ``(n, units)``: a mean and a variance per unit.
tutorial_bn = nn.BatchNorm1d(1, eps=EPS, momentum=0.01).train()
sknorm_bn = nn.BatchNorm1d(UNITS, eps=EPS, momentum=0.01).train()
with torch.no_grad():
    by_tutorial = tutorial_bn(h3)[:, 0, :]
    by_sknorm = sknorm_bn(h)
print(
    f"statistics kept: tutorial {tuple(tutorial_bn.running_mean.shape)}, "
    f"sknorm {tuple(sknorm_bn.running_mean.shape)}\n"
)
rows = []
for name, values in (
    ("before the norm", h),
    ("tutorial: axis=1 of (n, 1, units)", by_tutorial),
    ("sknorm: per unit of (n, units)", by_sknorm),
):
    means, stds = values.mean(0), values.std(0, unbiased=False)
    rows.append(
        [
            name,
            f"{means.min():.3f}..{means.max():.3f}",
            f"{stds.min():.3f}..{stds.max():.3f}",
        ]
    )
print_table(["batch norm", "per-unit mean over rows", "per-unit std over rows"], rows)

# %%
# Training: the tutorial's layer norm cannot learn
# ------------------------------------------------
# The same network three ways: ``Linear -> ReLU -> norm`` twice (Keras'
# ``Dense(activation="relu")`` then the norm, sknorm's ``norm_position="after"``)
# and a linear output, Keras' Glorot-uniform initialization and zero biases,
# Adam lr 1e-3 with Keras' ``epsilon=1e-7``, batch 32, a fixed number of epochs
# on all the training rows. First with the tutorial's layer norm over the
# size-1 axis, written in torch; then sknorm's estimator with ``norm="layer"``
# and with ``norm="batch"``, ``norm_defaults="keras"`` (which sets that
# initialization and Adam's epsilon).


class SizeOneLayerNorm(nn.Module):
    """The tutorial's ``LayerNormalization(axis=1)`` on ``(n, 1, units)``."""

    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1))
        self.beta = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return layer_norm_axis1(x, self.gamma, self.beta)


torch.manual_seed(0)
tutorial_net = nn.Sequential(
    nn.Linear(X.shape[1], UNITS),
    nn.ReLU(),
    SizeOneLayerNorm(),
    nn.Linear(UNITS, UNITS),
    nn.ReLU(),
    SizeOneLayerNorm(),
    nn.Linear(UNITS, 2),
)
for layer in tutorial_net:  # Keras Dense's init: Glorot-uniform, zero bias
    if isinstance(layer, nn.Linear):
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
optimizer = torch.optim.Adam(tutorial_net.parameters(), lr=1e-3, eps=1e-7)
y_fit = torch.as_tensor(y_train)
tutorial_loss = []
for _ in range(EPOCHS):
    order = torch.randperm(len(Z_train))
    total = 0.0
    for i in range(0, len(order), 32):
        rows_ = order[i : i + 32]
        loss = F.cross_entropy(
            tutorial_net(Z_train[rows_, None, :])[:, 0], y_fit[rows_]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(rows_)
    tutorial_loss.append(total / len(order))
with torch.no_grad():
    predicted = tutorial_net(Z_test[:, None, :])[:, 0].argmax(1).numpy()
    constant = torch.unique(tutorial_net(Z_test[:, None, :]), dim=0).shape[0] == 1

fits = {}
for norm in ("layer", "batch"):
    fits[norm] = NormMLPClassifier(
        (UNITS, UNITS),
        norm=norm,
        dropout=0.0,
        norm_position="after",
        norm_defaults="keras",
        batch_size=32,
        max_epochs=EPOCHS,
        early_stopping=False,  # Keras' fit(epochs=...): every epoch, all rows
        n_threads=1,
        random_state=0,
    ).fit(scaler.transform(X_train), y_train)

majority = max(np.mean(y_test), 1 - np.mean(y_test))
rows = [
    [
        "tutorial: LayerNormalization(axis=1), size-1 axis",
        f"{tutorial_loss[0]:.4f}",
        f"{tutorial_loss[-1]:.4f}",
        f"{np.mean(predicted == y_test):.3f}",
    ]
]
for norm, est in fits.items():
    loss = est.history_[:, "train_loss"]
    rows.append(
        [
            f'sknorm: norm="{norm}", norm_defaults="keras"',
            f"{loss[0]:.4f}",
            f"{loss[-1]:.4f}",
            f"{est.score(scaler.transform(X_test), y_test):.3f}",
        ]
    )
print(f"{EPOCHS} epochs; the majority class is {majority:.3f} of the test rows\n")
print_table(["network", "loss ep 1", "final loss", "test acc"], rows)
print(f"the tutorial network gives one output for every test row: {constant}")

# %%
# The three rows of evidence in one figure: per-unit statistics after each
# batch norm, and the training loss of the three networks.
fig, (ax_bn, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
units = np.arange(UNITS)
ax_bn.plot(units, h.mean(0), "o", color="grey", label="before the norm")
ax_bn.plot(units, by_tutorial.mean(0), "s", label="tutorial: one statistic (axis=1)")
ax_bn.plot(units, by_sknorm.mean(0), "^", label="sknorm: per unit")
ax_bn.axhline(0, color="black", linewidth=0.8)
ax_bn.set_xlabel("hidden unit")
ax_bn.set_ylabel("mean over the batch")
ax_bn.set_title("Batch norm: each unit's mean after normalizing")
ax_bn.legend(fontsize="small")
epochs = np.arange(1, EPOCHS + 1)
ax_loss.plot(epochs, tutorial_loss, marker=".", label="tutorial layer norm (axis=1)")
for norm, est in fits.items():
    ax_loss.plot(
        epochs, est.history_[:, "train_loss"], marker=".", label=f'sknorm "{norm}"'
    )
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("training loss (cross-entropy)")
ax_loss.set_title("Training: output == beta cannot learn")
ax_loss.legend(fontsize="small")
fig.suptitle("breast cancer: norms over a size-1 axis against sknorm's")
report_saved([save_figure(fig, args.out / "keras_axis.png")], start)
