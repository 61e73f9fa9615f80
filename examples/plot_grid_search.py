"""
The whole sweep: input scaling x hidden norm, cross-validated
=============================================================

Input scaling and hidden-layer norm are two hyperparameters of one pipeline
(``make_norm_pipeline``: ``InputScaler`` then the network), so one grid search
tries every combination. :func:`sknorm.sweep` runs exactly that, with
:class:`~sknorm.PackedSearchCV` (a drop-in for ``GridSearchCV`` that trains
every candidate x fold at once)::

    PackedSearchCV(make_norm_pipeline(NormMLPClassifier(...)),
                   normalization_grid(["none", "minmax", "standard"],
                                      ["none", "batch", "layer"]),
                   cv=StratifiedKFold(5, shuffle=True, random_state=0))

and records, in the same run, every candidate's training loss and its loss
on each fold's held-out rows per epoch, averaged over the folds.

Data: scikit-learn's breast cancer set (569 rows, 30 measurements on scales
from about 0.001 to about 4,000). Network: the default MLP (128, 128), Adam lr
1e-3, batch 128, 30 epochs, seed 0 (the README's settings).

The script prints the table of mean (and standard deviation over the folds)
CV accuracy per candidate and the loss curves' final values, and saves
``grid_search_heatmap.png`` and ``grid_search_curves.png``.

Run ``python examples/plot_grid_search.py [--out DIR] [--quick] [--n-jobs N]``.
With ``--quick`` or ``SKNORM_EXAMPLES_QUICK=1`` it runs a short version (half
the rows, 2 folds, 3 epochs); the documentation is built that way, so the
numbers on this page are the short run's. The full run's figures and numbers
are in :ref:`why-sweep`.
"""

# %%
# Run the sweep
# -------------
import time

from _common import example_parser, print_table, report_saved, save_figure
from sklearn.datasets import load_breast_cancer

from sknorm import sweep

parser = example_parser(__doc__)
parser.add_argument("--n-jobs", type=int, default=1, help="parallel fits")
args = parser.parse_args()
start = time.perf_counter()

SCALINGS = ["none", "minmax", "standard"]
NORMS = ["none", "batch", "layer"]
CV = 2 if args.quick else 5
EPOCHS = 3 if args.quick else 30

X, y = load_breast_cancer(return_X_y=True)
if args.quick:
    X, y = X[::2], y[::2]
result = sweep(
    X,
    y,
    scalings=SCALINGS,
    norms=NORMS,
    cv=CV,
    n_jobs=args.n_jobs,
    random_state=0,
    max_epochs=EPOCHS,
    early_stopping=False,  # curves over a fixed number of epochs
    n_threads=1,  # small nets: one thread per fit is fastest
)
print(repr(result))

# %%
# The table, best first
# ---------------------
# ``result.table`` has one row per candidate: the mean and the standard
# deviation of the score over the folds, the mean fit time and the rank.
print(f"Mean CV accuracy ({CV} folds, {EPOCHS} epochs), best first\n")
header = ["rank", "scaling", "norm", "mean accuracy", "std over folds", "fit s"]
rows = [
    (
        r.rank,
        r.scaling,
        r.norm,
        f"{r.mean_score:.4f}",
        f"{r.std_score:.4f}",
        f"{r.mean_fit_time:.2f}",
    )
    for r in result.table.itertuples()
]
print_table(header, rows)

# %%
# The loss curves' last values
# ----------------------------
# ``result.curves`` holds every candidate's training loss and held-out
# (validation) loss per epoch, from the packed run, averaged over the folds.
last = result.curves.sort_values("epoch").groupby(["scaling", "norm"]).last()
print(f"{result.loss} after the last epoch\n")
rows = []
for scaling in SCALINGS:
    for norm in NORMS:
        r = last.loc[(scaling, norm)]
        rows.append([scaling, norm, f"{r.train_loss:.4f}", f"{r.valid_loss:.4f}"])
print_table(["scaling", "norm", "train loss", "validation loss"], rows)

# %%
# The two figures
# ---------------
# ``result.plot()`` returns the heatmap (mean CV score, scaling x norm) and the
# curves (training and validation loss per epoch of every candidate).
heatmap, curves = result.plot()
heatmap.axes[0].set_title(
    f"breast cancer: mean {CV}-fold CV accuracy (± std), MLP (128, 128), "
    f"{EPOCHS} epochs"
)
curves.axes[0].set_title(
    f"breast cancer: {result.loss} per epoch (training / held-out rows, "
    f"mean of {CV} folds)"
)
paths = [
    save_figure(heatmap, args.out / "grid_search_heatmap.png"),
    save_figure(curves, args.out / "grid_search_curves.png"),
]
report_saved(paths, start)
