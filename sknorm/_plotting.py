"""Pictures of a sweep: the score heatmap and the training curves.

matplotlib is an optional extra (``pip install 'sknorm[report]'``): it is
imported inside the functions, never when sknorm is imported.
"""

from __future__ import annotations

import numpy as np

from ._norms import NORMS
from ._optional import import_optional
from ._pipeline import SWEEP_SCALINGS
from ._sweep import CANDIDATE_COLUMNS

__all__ = ["plot_curves", "plot_score_heatmap"]

_SCALING, _NORM = CANDIDATE_COLUMNS


def _pyplot():
    return import_optional("matplotlib.pyplot", "report", "Plotting")


def _ordered(values, known) -> list:
    """Distinct ``values`` in the order of ``known``, unknown ones after."""
    present = list(dict.fromkeys(values))
    return [v for v in known if v in present] + [v for v in present if v not in known]


def plot_score_heatmap(table, ax=None, *, scoring: str = "score"):
    """Mean cross-validation score by input scaling (rows) and hidden norm (columns).

    Each cell reads "mean ± std" over the folds; the colour is the mean and
    every cell with the highest mean (ties included, as ``rank`` 1 in the
    table) is in bold and framed (for a loss-like scoring such as
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
    plt = _pyplot()
    rows = _ordered(table[_SCALING], SWEEP_SCALINGS)
    cols = _ordered(table[_NORM], NORMS)
    mean = np.full((len(rows), len(cols)), np.nan)
    std = np.full_like(mean, np.nan)
    for _, row in table.iterrows():
        i, j = rows.index(row[_SCALING]), cols.index(row[_NORM])
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
    best = np.isclose(mean, high, rtol=0, atol=1e-12)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isnan(mean[i, j]):
                text, colour = "failed", "black"
            else:
                text = f"{mean[i, j]:.3f} ± {std[i, j]:.3f}"
                # viridis is dark at the low end, light at the high end
                colour = "white" if mean[i, j] <= middle and high > low else "black"
            weight = "bold" if best[i, j] else "normal"
            if best[i, j]:
                frame = plt.Rectangle(
                    (j - 0.48, i - 0.48), 0.96, 0.96, fill=False, lw=2, ec="red"
                )
                ax.add_patch(frame)
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
    """Training (solid) and validation (dashed) loss per epoch.

    On a new figure (``ax=None``): small multiples, one panel per norm with a
    colour per scaling and a shared y axis, so 35 candidates read as 7 panels
    of 5 lines. On a given ``ax``: every candidate in that one axes, a colour
    each.

    Parameters
    ----------
    curves : pandas.DataFrame
        :attr:`SweepResult.curves`: columns ``scaling``, ``norm``, ``epoch``,
        ``train_loss`` and ``valid_loss``.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None makes a new figure of panels.
    loss : str, default="loss"
        Name of the loss, for the y axis.
    log_scale : bool or None, default=None
        Logarithmic y axis; None chooses it when the losses span more than a
        factor of 20.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on, the first panel on a new figure (``ax.figure`` is
        the figure).
    """
    plt = _pyplot()
    if log_scale is None:
        log_scale = _spans_decades(curves[["train_loss", "valid_loss"]])
    if ax is None:
        return _panels(plt, curves, loss, log_scale)
    candidates = [
        (s, n)
        for s in _ordered(curves[_SCALING], SWEEP_SCALINGS)
        for n in _ordered(curves[_NORM], NORMS)
        if ((curves[_SCALING] == s) & (curves[_NORM] == n)).any()
    ]
    legend_columns = -(-len(candidates) // 14)  # at most 14 entries a column
    handles = []
    for (scaling, norm), colour in zip(
        candidates, _colours(plt, len(candidates)), strict=False
    ):
        part = curves[(curves[_SCALING] == scaling) & (curves[_NORM] == norm)]
        part = part.sort_values("epoch")
        (line,) = ax.plot(
            part["epoch"],
            part["train_loss"],
            color=colour,
            linestyle="-",
            label=f"{scaling} / {norm}",
        )
        ax.plot(part["epoch"], part["valid_loss"], color=colour, linestyle="--")
        handles.append(line)
    if log_scale:
        ax.set_yscale("log")
    _legend(plt, ax, handles, legend_columns)
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss + (" (log scale)" if log_scale else ""))
    ax.set_title("Training (solid) and validation (dashed) loss per epoch")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    return ax


def _panels(plt, curves, loss: str, log_scale: bool):
    """One panel per norm, a colour per scaling; the first panel."""
    norms = _ordered(curves[_NORM], NORMS)
    scalings = _ordered(curves[_SCALING], SWEEP_SCALINGS)
    ncols = min(len(norms), 4)
    nrows = -(-len(norms) // ncols)
    figure, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(3.4 * ncols + 2.0, 2.9 * nrows + 1.0),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    colours = dict(zip(scalings, _colours(plt, len(scalings)), strict=False))
    for ax, norm in zip(axes.flat, norms, strict=False):
        for scaling in scalings:
            part = curves[(curves[_SCALING] == scaling) & (curves[_NORM] == norm)]
            part = part.sort_values("epoch")
            style = {"color": colours[scaling]}
            ax.plot(part["epoch"], part["train_loss"], linestyle="-", **style)
            ax.plot(part["epoch"], part["valid_loss"], linestyle="--", **style)
        ax.set_title(f"norm: {norm}")
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        if log_scale:
            ax.set_yscale("log")
    for k, ax in enumerate(axes.flat[len(norms) :], start=len(norms)):
        ax.set_visible(False)
        axes.flat[k - ncols].xaxis.set_tick_params(labelbottom=True)
    handles = [plt.Line2D([], [], color=colours[s], label=s) for s in scalings]
    handles += [
        plt.Line2D([], [], color="black", linestyle="-", label="training"),
        plt.Line2D([], [], color="black", linestyle="--", label="validation"),
    ]
    figure.legend(handles=handles, title="scaling", loc="outside right upper")
    figure.supxlabel("epoch")
    figure.supylabel(loss + (" (log scale)" if log_scale else ""))
    figure.suptitle("Training (solid) and validation (dashed) loss per epoch")
    return axes.flat[0]


def _colours(plt, n: int):
    """``n`` distinct line colours: tab10, tab20, then samples of turbo."""
    if n <= 10:
        return plt.get_cmap("tab10").colors
    if n <= 20:
        return plt.get_cmap("tab20").colors
    return plt.get_cmap("turbo")(np.linspace(0.05, 0.95, n))


def _spans_decades(losses) -> bool:
    """Whether the positive, finite losses span more than a factor of 20."""
    values = losses.to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return bool(values.size > 0 and values.max() > 20 * values.min())


def _legend(plt, ax, handles, n_columns: int) -> None:
    """One legend (the constrained layout makes room only for ``ax.legend_``):
    a colour per candidate, then what the line styles mean."""
    styles = [
        plt.Line2D([], [], color="black", linestyle="-", label="training"),
        plt.Line2D([], [], color="black", linestyle="--", label="validation"),
    ]
    ax.legend(
        handles=handles + styles,
        title="scaling / norm",
        ncols=n_columns,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0,
    )
