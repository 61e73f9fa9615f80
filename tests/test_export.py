import importlib.util
import json
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from _presets import FAST, SMALL_SWEEP, fast
from numpy.testing import assert_allclose
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_breast_cancer, load_diabetes, make_regression
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from sknorm import (
    NormMLPClassifier,
    NormMLPRegressor,
    TabularScaler,
    export,
    make_norm_pipeline,
    sweep,
    to_torch_module,
)
from sknorm._export import _quiet_torch_onnx


def _split(X, y):
    return X[:400], y[:400], X[400:], y[400:]


def _run_exported(path, X):
    return (
        torch.export.load(path)
        .module()(torch.as_tensor(X, dtype=torch.float32))
        .numpy()
    )


@pytest.mark.parametrize("scaling", ["none", "minmax", "standard", "robust"])
@pytest.mark.parametrize("norm", ["batch", "layer", "ghost", "batch_renorm"])
def test_classifier_export_matches_the_pipeline(tmp_path, scaling, norm):
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_norm_pipeline(NormMLPClassifier(**fast(norm=norm)), scaling=scaling)
    pipe.fit(X_train, y_train)
    path = export(pipe, tmp_path / "model.pt2")
    assert_allclose(_run_exported(path, X_test), pipe.predict_proba(X_test), atol=1e-4)


@pytest.mark.parametrize("embedding", ["scale", "periodic"])
def test_input_embeddings_export(tmp_path, embedding):
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    net = NormMLPClassifier(**FAST, input_embedding=embedding)
    pipe = make_norm_pipeline(net, scaling="standard").fit(X_train, y_train)
    path = export(pipe, tmp_path / "model.pt2")
    assert_allclose(_run_exported(path, X_test), pipe.predict_proba(X_test), atol=1e-4)


@pytest.mark.parametrize("targets", [1, 2])
def test_regressor_export_matches_the_pipeline(tmp_path, targets):
    if targets == 1:
        X, y = load_diabetes(return_X_y=True)
    else:
        X, y = make_regression(500, 8, n_targets=2, noise=1.0, random_state=0)
    X_train, y_train, X_test, _ = _split(X, y)
    pipe = make_norm_pipeline(NormMLPRegressor(**FAST), scaling="minmax").fit(
        X_train, y_train
    )
    out = _run_exported(export(pipe, tmp_path / "model.pt2"), X_test)
    expected = pipe.predict(X_test)
    assert out.shape == expected.shape
    assert_allclose(out, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())


def test_sklearn_scalers_and_clip_fold_too(tmp_path):
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_pipeline(
        RobustScaler(), MinMaxScaler(clip=True), NormMLPClassifier(**FAST)
    ).fit(X_train, y_train)
    out = _run_exported(export(pipe, tmp_path / "m.pt2"), X_test * 1.5)
    assert_allclose(out, pipe.predict_proba(X_test * 1.5), atol=1e-4)


def test_exported_model_runs_without_sknorm(tmp_path):
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_norm_pipeline(NormMLPClassifier(**fast(norm="batch_renorm"))).fit(
        X_train, y_train
    )
    path = export(pipe, tmp_path / "model.pt2")
    np.save(tmp_path / "X.npy", X_test.astype(np.float32))
    script = (
        "import sys; sys.modules['sknorm'] = None; sys.modules['sklearn'] = None\n"
        "import numpy as np, torch\n"
        f"m = torch.export.load({str(path)!r}).module()\n"
        f"X = torch.from_numpy(np.load({str(tmp_path / 'X.npy')!r}))\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, m(X).numpy())\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert_allclose(
        np.load(tmp_path / "out.npy"), pipe.predict_proba(X_test), atol=1e-4
    )


# torch's ONNX exporter warns about its own use of a deprecated pytree API.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_onnx_export(tmp_path):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_norm_pipeline(NormMLPClassifier(**FAST)).fit(X_train, y_train)
    # one file: nothing written beside it (torch's "<name>.onnx.data" was,
    # emptying a file of that name)
    (tmp_path / "model.onnx.data").write_text("the user's own")
    path = export(pipe, tmp_path / "model.onnx", format="onnx")
    assert (tmp_path / "model.onnx.data").read_text() == "the user's own"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["model.onnx", "model.onnx.data"]
    session = ort.InferenceSession(str(path))
    (out,) = session.run(None, {"X": X_test.astype(np.float32)})
    assert_allclose(out, pipe.predict_proba(X_test), atol=1e-4)


def test_export_errors(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    quantile = make_norm_pipeline(NormMLPClassifier(**FAST), scaling="quantile").fit(
        X, y
    )
    with pytest.raises(ValueError, match="'quantile' scaling is not an affine map"):
        export(quantile, tmp_path / "q.pt2")
    with pytest.raises(ValueError, match="format must be one of"):
        export(quantile, tmp_path / "q.bin", format="pickle")
    with pytest.raises(TypeError, match="NormMLPClassifier or NormMLPRegressor"):
        export(make_pipeline(MinMaxScaler()).fit(X), tmp_path / "x.pt2")
    # the other format's suffix is a mistake, not a choice: nothing written
    standard = make_norm_pipeline(NormMLPClassifier(**FAST)).fit(X, y)
    with pytest.raises(ValueError, match=r"ends in \.pt2, but format='onnx'"):
        export(standard, tmp_path / "m.pt2", format="onnx")
    with pytest.raises(ValueError, match=r"ends in \.onnx, but format='torch_exp"):
        export(standard, tmp_path / "m.ONNX")
    with pytest.raises(ValueError, match=r"ends in \.sknorm, the file sknorm\.save"):
        export(standard, tmp_path / "m.sknorm")
    assert not list(tmp_path.iterdir())


def test_onnx_export_keeps_torchs_own_log_lines_quiet():
    # without torchvision, torch's ONNX op registry logs four "torchvision is
    # not installed. Skipping torchvision::nms" lines on first use: muted
    # inside the export, and the logger's level put back after it
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    before = registry.level
    with _quiet_torch_onnx():
        assert not registry.isEnabledFor(logging.WARNING)
    assert registry.level == before


@pytest.mark.parametrize(
    "scaler",
    [
        StandardScaler(with_mean=False),
        StandardScaler(with_std=False),
        RobustScaler(with_centering=False),
        RobustScaler(with_scaling=False),
    ],
    ids=["std-no-mean", "std-no-std", "robust-no-center", "robust-no-scale"],
)
def test_partial_scalers_fold_too(tmp_path, scaler):
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_pipeline(scaler, NormMLPClassifier(**FAST)).fit(X_train, y_train)
    out = _run_exported(export(pipe, tmp_path / "m.pt2"), X_test)
    assert_allclose(out, pipe.predict_proba(X_test), atol=1e-4)


# -- ONNX export of mixed tables (skl2onnx + torch) ---------------------------


def _mixed(n, seed, unseen=False):
    """Numbers with blanks, text with blanks, booleans, dates with blanks."""
    rng = np.random.default_rng(seed)
    cities = ["Paris", "Lyon", "Nice", "Lille", "Brest", None]
    seconds = rng.integers(-30 * 365 * 86400, 40 * 365 * 86400, n)
    X = pd.DataFrame(
        {
            "age": np.where(rng.random(n) < 0.15, np.nan, rng.normal(40, 10, n)),
            "city": rng.choice(cities, n, p=[0.35, 0.25, 0.15, 0.1, 0.05, 0.1]),
            "member": rng.random(n) < 0.5,
            "joined": pd.to_datetime(seconds, unit="s").as_unit("ns"),
        }
    )
    X.loc[rng.random(n) < 0.1, "joined"] = pd.NaT
    X.loc[:3, "joined"] = pd.to_datetime(  # leap days, before 1970, times
        ["2000-02-29", "1968-02-29 23:59", "1969-12-31 00:01", "2024-03-01 12:30"],
        format="ISO8601",
    )
    if unseen:
        X.loc[4:8, "city"] = "Tokyo"
    y = X["age"].fillna(40) / 10 + X["member"] + 0.1 * rng.normal(size=n)
    return X, y.to_numpy()


def _onnx_feed(kinds, frame):
    """The raw columns as the exported model takes them (the user guide's)."""
    feed = {}
    for name, kind in kinds.items():
        column = frame[name]
        if kind == "category":  # str(value), "" for a blank
            values = column.astype(object).map(lambda v: "" if pd.isna(v) else str(v))
            values = values.to_numpy(dtype=object)
        elif kind == "date":  # seconds since 1970-01-01 UTC, NaN for a blank
            since = pd.to_datetime(column, utc=True) - pd.Timestamp(0, tz="UTC")
            values = since.dt.total_seconds().to_numpy()
        else:  # a number, NaN for a blank
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        feed[name] = values.reshape(-1, 1)
    return feed


def _onnx_run(path, frame):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path))
    kinds = json.loads(session.get_modelmeta().custom_metadata_map["column_kinds"])
    (out,) = session.run(None, _onnx_feed(kinds, frame))
    return session, kinds, out


@pytest.mark.parametrize(
    "kind, scaling, max_categories",
    [("classifier", "standard", 4), ("regressor", "robust_clip", 20)],
)
def test_mixed_table_exports_whole_to_onnx(tmp_path, kind, scaling, max_categories):
    # max_categories=4: the rare cities and the unseen "Tokyo" share the
    # infrequent column; 20: no infrequent column, "Tokyo" is all zeros.
    pytest.importorskip("skl2onnx")
    X, y = _mixed(240, seed=0)
    X_test, _ = _mixed(60, seed=1, unseen=True)
    if kind == "classifier":
        net, y = NormMLPClassifier(**fast(norm="batch")), (y > np.median(y))
    else:
        net = NormMLPRegressor(**fast(norm="layer"))
    pipe = make_norm_pipeline(net, scaling=scaling)
    pipe.set_params(scale__max_categories=max_categories).fit(X, y)
    path = export(pipe, tmp_path / "m.onnx", format="onnx")
    session, kinds, out = _onnx_run(path, X_test)
    assert kinds == pipe[0].column_kinds_
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("age", "tensor(double)"),
        ("city", "tensor(string)"),
        ("member", "tensor(string)"),
        ("joined", "tensor(double)"),
    ]
    expected = (
        pipe.predict_proba(X_test) if kind == "classifier" else pipe.predict(X_test)
    )
    assert out.shape == expected.shape
    assert_allclose(out, expected, rtol=0, atol=1e-5)


def test_onnx_inputs_are_named_exactly_as_the_columns(tmp_path):
    # skl2onnx rewrites names that are not identifiers ("mean radius" ->
    # "mean_radius"; "a b" beside "a_b" -> "a_b1"): the model takes each
    # column by its own name, as its column_kinds metadata and the docs say,
    # an ensemble's too
    pytest.importorskip("skl2onnx")
    X, y = _mixed(120, seed=0)
    X.columns = ["mean radius", "a b", "a_b", "revenu €"]
    pipe = make_norm_pipeline(NormMLPRegressor(**FAST)).fit(X, y)
    session, kinds, out = _onnx_run(export(pipe, tmp_path / "m.onnx", format="onnx"), X)
    assert [i.name for i in session.get_inputs()] == list(X.columns) == list(kinds)
    assert_allclose(out, pipe.predict(X), rtol=0, atol=1e-5)
    voting = VotingRegressor(
        [("a", FrozenEstimator(pipe)), ("b", FrozenEstimator(pipe))]
    )
    path = export(voting.fit(X, y), tmp_path / "v.onnx", format="onnx")
    session, _, out = _onnx_run(path, X)
    assert [i.name for i in session.get_inputs()] == list(X.columns)
    assert_allclose(out, pipe.predict(X), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "scaling, params",
    [
        ("none", {"max_categories": 3}),
        ("minmax", {"min_frequency": 20, "missing_indicators": False}),
        ("standard", {"min_frequency": 0.1}),
        ("robust", {"max_categories": 3, "missing_indicators": False}),
        ("robust_clip", {"max_categories": 3}),
        ("ple", {"min_frequency": 20}),
    ],
)
def test_tabular_scaler_converts_to_onnx_exactly(scaling, params):
    # The preprocessing alone, through skl2onnx with sknorm's converter: the
    # same float64 operations as TabularScaler.transform.
    skl2onnx = pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from sknorm._export import _onnx_input_types, _skl2onnx

    X, _ = _mixed(200, seed=2)
    X_test, _ = _mixed(50, seed=3, unseen=True)
    if scaling == "none":  # dates need a scaling
        X, X_test = X.drop(columns="joined"), X_test.drop(columns="joined")
    if scaling == "robust":  # dates with a time zone: their UTC parts
        for frame in (X, X_test):
            frame["joined"] = frame["joined"].dt.tz_localize("Asia/Kolkata")
    scaler = TabularScaler(scaling, **params).fit(X)
    _skl2onnx()
    model = skl2onnx.convert_sklearn(
        Pipeline([("scale", scaler)]),
        initial_types=_onnx_input_types(scaler),
        target_opset={"": 20, "ai.onnx.ml": 3},
    )
    session = ort.InferenceSession(model.SerializeToString())
    (out,) = session.run(None, _onnx_feed(scaler.column_kinds_, X_test))
    assert_allclose(out, scaler.transform(X_test), rtol=1e-15, atol=1e-12)


# torch's ONNX exporter warns about its own use of a deprecated pytree API.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_non_affine_input_scaling_exports_to_onnx(tmp_path):
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    pipe = make_norm_pipeline(NormMLPClassifier(**FAST), scaling="ple", tabular=False)
    pipe.fit(X_train, y_train)
    session = ort.InferenceSession(
        str(export(pipe, tmp_path / "m.onnx", format="onnx"))
    )
    (out,) = session.run(None, {"X": X_test.astype(np.float32)})
    assert_allclose(out, pipe.predict_proba(X_test), atol=1e-4)


class _Doubler(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return 2 * np.asarray(X)


def test_what_cannot_export_is_named(tmp_path):
    pytest.importorskip("skl2onnx")
    X, y = _mixed(80, seed=4)
    y = y > np.median(y)
    quantile = make_norm_pipeline(NormMLPClassifier(**FAST), scaling="quantile")
    with pytest.raises(ValueError, match=r"'quantile' scaling .* step 'scale'"):
        export(quantile.fit(X, y), tmp_path / "q.onnx", format="onnx")
    mixed = make_norm_pipeline(NormMLPClassifier(**FAST)).fit(X, y)
    with pytest.raises(ValueError, match="format='onnx'"):
        export(mixed, tmp_path / "m.pt2")
    blanks = make_norm_pipeline(NormMLPClassifier(**FAST)).fit(X[["age"]], y)
    with pytest.raises(ValueError, match="missing-value indicators"):
        export(blanks, tmp_path / "b.pt2")  # numbers, but a blanks column too
    doubled = make_pipeline(
        StandardScaler(), _Doubler(), NormMLPClassifier(**FAST)
    ).fit(X[["age"]].fillna(0), y)
    with pytest.raises(ValueError, match=r"step '_doubler' \(_Doubler\)"):
        export(doubled, tmp_path / "d.onnx", format="onnx")
    imputed = make_pipeline(
        SimpleImputer(add_indicator=True), NormMLPClassifier(**FAST)
    ).fit(X[["age"]], y)
    with pytest.raises(ValueError, match=r"'simpleimputer'.*add_indicator"):
        export(imputed, tmp_path / "i.onnx", format="onnx")
    later = make_pipeline(
        StandardScaler(), TabularScaler(), NormMLPClassifier(**FAST)
    ).fit(X[["age"]], y)
    with pytest.raises(ValueError, match=r"'tabularscaler'.*first step"):
        export(later, tmp_path / "t.onnx", format="onnx")
    named = make_norm_pipeline(NormMLPClassifier(**FAST)).fit(
        X.rename(columns={"city": "output"}), y
    )
    with pytest.raises(ValueError, match="column named 'output'"):
        export(named, tmp_path / "o.onnx", format="onnx")


# -- ensembles: sweep()'s VotingClassifier / VotingRegressor ------------------


def _sweep_ensemble(X, y, scalings, weights):
    """A sweep's ensemble of two pipelines, reweighted (3:1) after the fit."""
    result = sweep(X, y, scalings=scalings, **SMALL_SWEEP)
    result.ensemble.weights = weights  # read when predicting
    return result.ensemble


def _ensemble_output(model, X):
    return model.predict_proba(X) if hasattr(model, "classes_") else model.predict(X)


@pytest.fixture(scope="module", params=["classifier", "regressor"])
def folding_ensemble(request):
    """A sweep's ensemble whose members fold (affine scalings, numbers)."""
    if request.param == "classifier":
        X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    else:
        X_train, y_train, X_test, _ = _split(*load_diabetes(return_X_y=True))
    model = _sweep_ensemble(X_train, y_train, ["standard", "minmax"], [3, 1])
    return model, X_test


def test_ensemble_exports_as_the_weighted_average(tmp_path, folding_ensemble):
    model, X_test = folding_ensemble
    expected = _ensemble_output(model, X_test)
    module = to_torch_module(model)
    out = module(torch.as_tensor(X_test, dtype=torch.float32)).detach().numpy()
    assert out.shape == expected.shape
    tolerance = {"rtol": 1e-4, "atol": 1e-4 * np.abs(expected).max()}
    assert_allclose(out, expected, **tolerance)
    out = _run_exported(export(model, tmp_path / "e.pt2"), X_test)
    assert_allclose(out, expected, **tolerance)


# torch's ONNX exporter warns about its own use of a deprecated pytree API.
@pytest.mark.filterwarnings("ignore::FutureWarning")
# The same module as above; a regressor's ONNX average: the mixed-table test.
@pytest.mark.parametrize("folding_ensemble", ["classifier"], indirect=True)
def test_folding_ensemble_exports_to_onnx(tmp_path, folding_ensemble):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    model, X_test = folding_ensemble
    session = ort.InferenceSession(
        str(export(model, tmp_path / "e.onnx", format="onnx"))
    )
    (out,) = session.run(None, {"X": X_test.astype(np.float32)})
    expected = _ensemble_output(model, X_test)
    assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


# torch's ONNX exporter warns about its own use of a deprecated pytree API.
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_mixed_table_ensemble_exports_to_onnx_as_one_graph(tmp_path, kind):
    # Members that do not fold (text, dates, blanks; robust_clip): each one's
    # preprocessing and network, joined over the same column inputs.
    pytest.importorskip("skl2onnx")
    X, y = _mixed(160, seed=5)
    X_test, _ = _mixed(40, seed=6, unseen=True)
    if kind == "classifier":
        y = np.where(y > np.median(y), "high", "low")
    model = _sweep_ensemble(X, y, ["standard", "robust_clip"], [1, 3])
    with pytest.raises(ValueError, match="format='onnx'"):
        export(model, tmp_path / "m.pt2")
    path = export(model, tmp_path / "m.onnx", format="onnx")
    session, kinds, out = _onnx_run(path, X_test)
    assert kinds == model.estimators_[0][0].column_kinds_
    assert [i.name for i in session.get_inputs()] == list(X.columns)
    assert [o.name for o in session.get_outputs()] == ["output"]
    expected = _ensemble_output(model, X_test)
    assert out.shape == expected.shape
    assert_allclose(out, expected, rtol=0, atol=1e-5 * max(1, np.abs(expected).max()))


# torch's ONNX exporter warns about its own use of a deprecated pytree API.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_bare_network_and_onnx_only_pipeline_join(tmp_path):
    # One member is the network alone (torch's ONNX), the other needs
    # skl2onnx ("ple"): both take the float32 matrix X.
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    X_train, y_train, X_test, _ = _split(*load_breast_cancer(return_X_y=True))
    bare = NormMLPClassifier(**FAST).fit(X_train, y_train)
    ple = make_norm_pipeline(NormMLPClassifier(**FAST), scaling="ple", tabular=False)
    members = [("bare", bare), ("ple", ple.fit(X_train, y_train))]
    model = VotingClassifier(
        [(name, FrozenEstimator(m)) for name, m in members],
        voting="soft",
        weights=[1, 2],
    ).fit(X_train, y_train)
    session = ort.InferenceSession(
        str(export(model, tmp_path / "j.onnx", format="onnx"))
    )
    (out,) = session.run(None, {"X": X_test.astype(np.float32)})
    assert_allclose(out, model.predict_proba(X_test), atol=1e-5)


def test_what_in_an_ensemble_cannot_export_is_named(tmp_path):
    X_train, y_train, _, _ = _split(*load_breast_cancer(return_X_y=True))
    plain = make_norm_pipeline(NormMLPClassifier(**FAST)).fit(X_train, y_train)
    quantile = make_norm_pipeline(NormMLPClassifier(**FAST), scaling="quantile")
    quantile.fit(X_train, y_train)
    members = [("plain", FrozenEstimator(plain)), ("q", FrozenEstimator(quantile))]
    soft = VotingClassifier(members, voting="soft").fit(X_train, y_train)
    with pytest.raises(ValueError, match=r"member 'q'.*'quantile' scaling"):
        to_torch_module(soft)
    with pytest.raises(ValueError, match=r"member 'q'.*'quantile' scaling"):
        export(soft, tmp_path / "q.pt2")
    if importlib.util.find_spec("skl2onnx"):
        with pytest.raises(ValueError, match=r"member 'q'.*'quantile' scaling"):
            export(soft, tmp_path / "q.onnx", format="onnx")
    hard = VotingClassifier(members[:1], voting="hard").fit(X_train, y_train)
    with pytest.raises(ValueError, match="voting='hard'"):
        to_torch_module(hard)
    with pytest.raises(ValueError, match="voting='hard'"):
        export(hard, tmp_path / "h.onnx", format="onnx")
    other = VotingRegressor(
        [("linear", make_pipeline(StandardScaler(), LinearRegression()))]
    ).fit(X_train, y_train)
    with pytest.raises(TypeError, match=r"member 'linear'.*got LinearRegression"):
        export(other, tmp_path / "l.pt2")


# torch's ONNX exporter warns about its own use of a deprecated pytree API.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_ensemble_members_with_other_onnx_inputs_are_named(tmp_path):
    # One member reads the columns (a TabularScaler), the other a matrix X.
    pytest.importorskip("skl2onnx")
    X, y = _mixed(80, seed=7)
    X = X[["age"]].fillna(40.0)
    y = y > np.median(y)
    columns = make_norm_pipeline(NormMLPClassifier(**FAST), scaling="robust_clip")
    matrix = make_norm_pipeline(
        NormMLPClassifier(**FAST), scaling="robust_clip", tabular=False
    )
    members = [("columns", columns.fit(X, y)), ("matrix", matrix.fit(X, y))]
    model = VotingClassifier(
        [(name, FrozenEstimator(pipe)) for name, pipe in members], voting="soft"
    ).fit(X, y)
    with pytest.raises(ValueError, match="member 'matrix' takes other ONNX inputs"):
        export(model, tmp_path / "m.onnx", format="onnx")


def test_export_names_what_to_pass_and_refuses_bad_paths_before_writing(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    result = sweep(X, y, cv=2, scalings=["standard"], norms=["none"], **fast())
    for call in (to_torch_module, lambda m: export(m, tmp_path / "m.pt2")):
        with pytest.raises(TypeError, match=r"not the SweepResult: pass result\."):
            call(result)
        with pytest.raises(TypeError, match=r"got None"):
            call(None)
    with pytest.raises(IsADirectoryError, match=r"is a folder; .*model\.onnx"):
        export(result.model, tmp_path, format="onnx")
    with pytest.raises(FileNotFoundError, match=r"folder .*nope does not exist"):
        export(result.model, tmp_path / "nope" / "m.pt2")
    assert list(tmp_path.iterdir()) == []
    assert export(result.model, tmp_path / "m.pt2").exists()


def _dates_as_categories():
    """A table whose column of dates is a pandas Categorical, and its model."""
    rng = np.random.default_rng(0)
    days = pd.to_datetime(["2020-01-01", "2021-06-15"])
    X = pd.DataFrame(
        {"a": rng.normal(size=80), "when": pd.Categorical(rng.choice(days, 80))}
    )
    y = np.where(X["when"] == days[0], "early", "late")
    return make_norm_pipeline(NormMLPClassifier(**FAST)).fit(X, y), X


def test_a_categorical_of_dates_is_fed_as_its_values_print(tmp_path):
    # str(value) of the column's Timestamps ("2020-01-01 00:00:00"): the keys
    # were numpy's "2020-01-01T00:00:00.000000", so every row read as unseen
    ort = pytest.importorskip("onnxruntime")
    pipe, X = _dates_as_categories()
    path = export(pipe, tmp_path / "m.onnx", format="onnx")
    session = ort.InferenceSession(str(path))
    when = np.array([[str(v)] for v in X["when"]], dtype=object)
    (out,) = session.run(None, {"a": X[["a"]].to_numpy(), "when": when})
    assert_allclose(out, pipe.predict_proba(X), atol=1e-5)
