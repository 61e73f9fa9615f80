"""Pictures of a sweep: the score heatmap and the training curves.

matplotlib is an optional extra (``pip install 'sknorm[report]'``): it is
imported inside the functions, never when sknorm is imported.
"""

from __future__ import annotations

from ._norms import NORMS
from ._scalers import SCALINGS

__all__ = ["plot_curves", "plot_score_heatmap"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the test env
        raise ImportError(
            "Plotting needs matplotlib, which is not installed; install it with "
            "`pip install 'sknorm[report]'`."
        ) from exc
    return plt


def _ordered(values, known) -> list:
    """Distinct ``values`` in the order of ``known``, unknown ones after."""
    present = list(dict.fromkeys(values))
    return [v for v in known if v in present] + [v for v in present if v not in known]


def plot_score_heatmap(table, ax=None, *, scoring: str = "score"):
    """Mean cross-validation score by input scaling (rows) and hidden norm (columns).

    Each cell reads "mean ± std" over the folds; the colour is the mean and the
    highest mean is in bold (for a loss-like scoring such as
    "neg_log_loss", higher is still better).

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`SweepResult.table`: columns ``scaling``, ``norm``, ``mean_score``
        and ``std_score``.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None makes a new figure.
    scoring : str, default="score"
        Name of the score, for the title and the colour bar.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on (``ax.figure`` is the figure).
    """
    import numpy as np

    plt = _pyplot()
    rows = _ordered(table["scaling"], SCALINGS)
    cols = _ordered(table["norm"], tuple(NORMS))
    mean = np.full((len(rows), len(cols)), np.nan)
    std = np.full_like(mean, np.nan)
    for _, row in table.iterrows():
        i, j = rows.index(row["scaling"]), cols.index(row["norm"])
        mean[i, j], std[i, j] = row["mean_score"], row["std_score"]

    if ax is None:
        _, ax = plt.subplots(
            figsize=(1.9 * len(cols) + 3.2, 1.1 * len(rows) + 2.2),
            layout="constrained",
        )
    image = ax.imshow(np.ma.masked_invalid(mean), cmap="viridis", aspect="auto")
    colorbar = ax.figure.colorbar(image, ax=ax)
    colorbar.set_label(f"mean CV {scoring}")
    low, high = np.nanmin(mean), np.nanmax(mean)
    middle = (low + high) / 2
    best = np.unravel_index(np.nanargmax(mean), mean.shape)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isnan(mean[i, j]):
                text, colour = "failed", "black"
            else:
                text = f"{mean[i, j]:.3f} ± {std[i, j]:.3f}"
                # viridis is dark at the low end, light at the high end
                colour = "white" if mean[i, j] <= middle and high > low else "black"
            weight = "bold" if (i, j) == best else "normal"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                color=colour,
                fontsize=11,
                fontweight=weight,
            )
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("hidden-layer norm")
    ax.set_ylabel("input scaling")
    ax.set_title(f"Mean CV {scoring} (± std over folds)")
    return ax


def plot_curves(curves, ax=None, *, loss: str = "loss", log_scale: bool | None = None):
    """Training (solid) and validation (dashed) loss per epoch, one colour each.

    Parameters
    ----------
    curves : pandas.DataFrame
        :attr:`SweepResult.curves`: columns ``scaling``, ``norm``, ``epoch``,
        ``train_loss`` and ``valid_loss``.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None makes a new figure.
    loss : str, default="loss"
        Name of the loss, for the y axis.
    log_scale : bool or None, default=None
        Logarithmic y axis; None chooses it when the losses span more than a
        factor of 20.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on (``ax.figure`` is the figure).
    """
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    candidates = [
        (s, n)
        for s in _ordered(curves["scaling"], SCALINGS)
        for n in _ordered(curves["norm"], tuple(NORMS))
        if ((curves["scaling"] == s) & (curves["norm"] == n)).any()
    ]
    legend_columns = -(-len(candidates) // 14)  # at most 14 entries a column
    if ax is None:
        _, ax = plt.subplots(
            figsize=(8 + 2.2 * legend_columns, 5.5), layout="constrained"
        )
    if len(candidates) <= 10:
        colours = plt.get_cmap("tab10").colors
    elif len(candidates) <= 20:
        colours = plt.get_cmap("tab20").colors
    else:
        colours = plt.get_cmap("turbo")(np.linspace(0.05, 0.95, len(candidates)))
    handles = []
    for k, (scaling, norm) in enumerate(candidates):
        part = curves[(curves["scaling"] == scaling) & (curves["norm"] == norm)]
        part = part.sort_values("epoch")
        colour = colours[k]
        (line,) = ax.plot(
            part["epoch"],
            part["train_loss"],
            color=colour,
            linestyle="-",
            label=f"{scaling} / {norm}",
        )
        ax.plot(part["epoch"], part["valid_loss"], color=colour, linestyle="--")
        handles.append(line)
    values = curves[["train_loss", "valid_loss"]].to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if log_scale is None:
        log_scale = values.size > 0 and values.max() > 20 * values.min()
    if log_scale:
        ax.set_yscale("log")
    styles = [
        Line2D([], [], color="black", linestyle="-", label="training"),
        Line2D([], [], color="black", linestyle="--", label="validation"),
    ]
    # One legend (the constrained layout makes room only for ``ax.legend_``):
    # a colour per candidate, then what the line styles mean.
    ax.legend(
        handles=handles + styles,
        title="scaling / norm",
        ncols=legend_columns,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0,
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss + (" (log scale)" if log_scale else ""))
    ax.set_title("Training (solid) and validation (dashed) loss per epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    return ax
