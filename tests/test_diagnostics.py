import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError

from sknorm import NormMLPClassifier, make_norm_pipeline
from sknorm.callbacks import STAT_NAMES, ActivationStats
from sknorm.diagnostics import (
    STAT_LABELS,
    activation_stats_frame,
    plot_activation_stats,
)

pd = pytest.importorskip("pandas")

EPOCHS = 3


@pytest.fixture(scope="module")
def fits():
    X, y = load_iris(return_X_y=True)
    out = {}
    for norm in ("none", "batch"):
        net = NormMLPClassifier(
            (6, 5),
            norm=norm,
            max_epochs=EPOCHS,
            batch_size=32,
            random_state=0,
            n_threads=1,
            callbacks=[ActivationStats(probe_size=40)],
        )
        out[norm] = make_norm_pipeline(net).fit(X, y)
    return out


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_frame_has_one_row_per_epoch_and_layer(fits):
    pipe = fits["batch"]
    frame = activation_stats_frame(pipe)
    assert frame.columns.tolist() == ["epoch", "layer", *STAT_NAMES]
    assert len(frame) == EPOCHS * 2
    assert frame["epoch"].tolist() == [1, 1, 2, 2, 3, 3]
    assert frame["layer"].tolist() == [0, 1] * EPOCHS
    records = [r for epoch in pipe[-1].history_[:, "act_stats"] for r in epoch]
    assert_allclose(
        frame[list(STAT_NAMES)].to_numpy(),
        [[r[s] for s in STAT_NAMES] for r in records],
    )


def test_frame_accepts_estimator_pipeline_and_skorch_net(fits):
    pipe = fits["none"]
    expected = activation_stats_frame(pipe)
    pd.testing.assert_frame_equal(activation_stats_frame(pipe[-1]), expected)
    pd.testing.assert_frame_equal(activation_stats_frame(pipe[-1].net_), expected)


def test_frame_errors(fits):
    with pytest.raises(NotFittedError):
        activation_stats_frame(NormMLPClassifier())
    with pytest.raises(ValueError, match="ActivationStats"):
        activation_stats_frame(fits["none"], key="other")
    with pytest.raises(TypeError, match="history"):
        activation_stats_frame(fits["none"][0])  # the scaler: fitted, no history


def test_plot_draws_one_labelled_panel_per_stat_and_layer(fits, plt):
    from matplotlib.figure import Figure

    fig = plot_activation_stats(fits, ["pre_std", "post_mean"])
    assert isinstance(fig, Figure)
    axes = np.array(fig.axes).reshape(2, 2)
    for r, stat in enumerate(["pre_std", "post_mean"]):
        for c in range(2):
            ax = axes[r, c]
            assert ax.get_title() == f"hidden layer {c}"
            assert ax.get_xlabel() == "epoch"
            assert ax.get_ylabel() == STAT_LABELS[stat]
            assert [line.get_label() for line in ax.get_lines()] == ["none", "batch"]
            assert_allclose(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    legend = axes[0, -1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["none", "batch"]


def test_plot_into_given_axes_and_errors(fits, plt):
    fig, axes = plt.subplots(1, 2)
    assert plot_activation_stats(fits, "post_std", ax=axes) is fig
    assert axes[1].get_ylabel() == STAT_LABELS["post_std"]
    with pytest.raises(ValueError, match="axes"):
        plot_activation_stats(fits, "post_std", ax=axes[0])
    fig = plot_activation_stats(fits, "pre_mean", layers=[1])
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "hidden layer 1"
    with pytest.raises(ValueError, match=r"layers \[7\] were not recorded"):
        plot_activation_stats(fits, "pre_mean", layers=[1, 7])
    with pytest.raises(ValueError, match="layers names none"):
        plot_activation_stats(fits, "pre_mean", layers=[])
    with pytest.raises(ValueError, match="stat"):
        plot_activation_stats(fits, "pre_var")
    with pytest.raises(TypeError, match="mapping"):
        plot_activation_stats(fits["none"])
