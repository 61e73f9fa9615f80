"""The sweep's figures: what the heatmap marks."""

import pandas as pd
import pytest

pytest.importorskip("matplotlib")
import matplotlib.patches as patches

from sknorm._plotting import plot_score_heatmap


def test_the_heatmap_marks_every_tie_for_the_best():
    table = pd.DataFrame(
        {
            "scaling": ["standard", "standard", "minmax", "minmax"],
            "norm": ["none", "layer", "none", "layer"],
            "mean_score": [0.9771, 0.9771, 0.97, 0.96],
            "std_score": [0.01] * 4,
            "mean_fit_time": [1.0] * 4,
            "rank": [1, 1, 3, 4],
        }
    )
    ax = plot_score_heatmap(table, scoring="accuracy")
    frames = [p for p in ax.patches if isinstance(p, patches.Rectangle)]
    assert len(frames) == 2
    bold = [t.get_text() for t in ax.texts if t.get_fontweight() == "bold"]
    assert bold == ["0.977 ± 0.010", "0.977 ± 0.010"]


def test_curves_are_small_multiples_that_stay_readable_at_35_candidates():
    from sknorm import NORMS, SCALINGS
    from sknorm._plotting import plot_curves

    rows = [
        (s, n, epoch, 1.0 / epoch, 1.2 / epoch)
        for s in SCALINGS[:5]
        for n in NORMS
        for epoch in range(1, 6)
    ]
    curves = pd.DataFrame(
        rows, columns=["scaling", "norm", "epoch", "train_loss", "valid_loss"]
    )
    figure = plot_curves(curves, loss="log loss").figure
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [f"norm: {n}" for n in NORMS]
    assert all(len(ax.lines) == 2 * 5 for ax in panels)  # 5 scalings, 2 styles
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        *SCALINGS[:5],
        "training",
        "validation",
    ]
