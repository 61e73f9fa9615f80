import json
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from _presets import FAST, SMALL_SWEEP, fast
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from skorch.callbacks import EarlyStopping

from sknorm import (
    NORMS,
    SCALINGS,
    InputScaler,
    NormMLPClassifier,
    NormMLPRegressor,
    TabularScaler,
    load,
    make_norm_pipeline,
    save,
    sweep,
)


@pytest.fixture(scope="module")
def iris_pipe():
    X, y = load_iris(return_X_y=True)
    y = np.array(["setosa", "versicolor", "virginica"])[y]
    return make_norm_pipeline(NormMLPClassifier(**FAST)).fit(X, y), X


@pytest.mark.parametrize("dumps, loads", [(pickle.dumps, pickle.loads)])
def test_pickle_round_trip(iris_pipe, dumps, loads):
    pipe, X = iris_pipe
    again = loads(dumps(pipe))
    assert_array_equal(again.predict_proba(X), pipe.predict_proba(X))
    assert_array_equal(again.predict(X), pipe.predict(X))


def test_joblib_round_trip(iris_pipe, tmp_path):
    pipe, X = iris_pipe
    joblib.dump(pipe, tmp_path / "m.joblib")
    assert_array_equal(
        joblib.load(tmp_path / "m.joblib").predict_proba(X), pipe.predict_proba(X)
    )


@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("norm", [n for n in NORMS if n != "none"])
def test_safe_format_round_trip_classifier(tmp_path, scaling, norm):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    pipe = make_norm_pipeline(
        NormMLPClassifier(**fast(norm=norm)), scaling=scaling
    ).fit(X, y)
    again = load(save(pipe, tmp_path / "m.sknorm"))
    assert_array_equal(again.predict_proba(X), pipe.predict_proba(X))
    assert_array_equal(again["net"].classes_, pipe["net"].classes_)
    assert_array_equal(again["scale"].feature_names_in_, X.columns)
    assert (
        again["net"].history_[:, "train_loss"] == pipe["net"].history_[:, "train_loss"]
    )
    assert again.get_params()["net__norm"] == norm


@pytest.mark.parametrize("embedding", ["scale", "periodic"])
def test_safe_format_round_trip_with_an_input_embedding(tmp_path, embedding):
    X, y = load_breast_cancer(return_X_y=True)
    net = NormMLPClassifier(**FAST, input_embedding=embedding)
    pipe = make_norm_pipeline(net, scaling="robust_clip").fit(X, y)
    again = load(save(pipe, tmp_path / "m.sknorm"))
    assert_array_equal(again.predict_proba(X), pipe.predict_proba(X))
    assert again["net"].input_embedding == embedding


@pytest.mark.parametrize("y_2d", [False, True])
def test_safe_format_round_trip_regressor(tmp_path, y_2d):
    X, y = load_diabetes(return_X_y=True)
    y = np.c_[y, -y] if y_2d else y
    pipe = make_pipeline(
        StandardScaler(), MinMaxScaler(), NormMLPRegressor(**FAST)
    ).fit(X, y)
    again = load(save(pipe, tmp_path / "m.sknorm"))
    assert_array_equal(again.predict(X), pipe.predict(X))
    assert again.predict(X).shape == pipe.predict(X).shape


def test_safe_format_single_estimator_and_scaler(tmp_path):
    X, y = load_iris(return_X_y=True)
    clf = NormMLPClassifier(**FAST).fit(X, y)
    assert_array_equal(load(save(clf, tmp_path / "c")).predict(X), clf.predict(X))
    scaler = InputScaler("minmax", feature_range=(-1, 1)).fit(X)
    again = load(save(scaler, tmp_path / "s"))
    assert again.feature_range == (-1, 1)
    assert_array_equal(again.transform(X), scaler.transform(X))


def test_loaded_model_can_keep_training(tmp_path, iris_pipe):
    pipe, X = iris_pipe
    again = load(save(pipe, tmp_path / "m"))
    again.set_params(net__warm_start=True).fit(X, pipe.predict(X))
    assert again["net"].n_iter_ == 6


def test_object_parameters_are_dropped_with_a_warning(tmp_path):
    X, y = load_iris(return_X_y=True)
    clf = NormMLPClassifier(
        **FAST, callbacks=[EarlyStopping(monitor="train_loss")]
    ).fit(X, y)
    with pytest.warns(
        UserWarning, match=r"\['callbacks'\] are saved as their defaults"
    ):
        path = save(clf, tmp_path / "m")
    assert load(path).callbacks is None


def test_tampered_file_is_refused_and_runs_nothing(tmp_path, iris_pipe):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.sknorm"
    torch.save({"format": "sknorm-safe", "payload": Evil()}, path)
    with pytest.raises(ValueError, match="not a safe sknorm model file"):
        load(path)
    assert not marker.exists()
    # A plain pickle of a real model is refused as well.
    pipe, _ = iris_pipe
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(pipe))
    with pytest.raises(ValueError, match="not a safe sknorm model file"):
        load(tmp_path / "model.pkl")


def test_tensors_sharing_one_storage_are_refused(tmp_path, iris_pipe):
    # a crafted file whose tensors are views of one storage: each passes the
    # per-tensor size check, but the model built from them would allocate
    # each anew (memory many times the file's size)
    pipe, _ = iris_pipe
    path = save(pipe, tmp_path / "model.sknorm")
    payload = torch.load(path, weights_only=True)
    tensors = payload["tensors"]
    shared = torch.zeros(max(t.numel() for t in tensors.values()))
    for key, t in tensors.items():
        if t.dtype == torch.float32:
            tensors[key] = shared[: t.numel()].view(t.shape)
    torch.save(payload, tmp_path / "crafted.sknorm")
    with pytest.raises(ValueError, match="its tensors share storage"):
        load(tmp_path / "crafted.sknorm")
    load(path)  # what save writes passes


def test_an_unwritable_target_is_an_os_error_naming_it(tmp_path, iris_pipe):
    pipe, _ = iris_pipe
    # (an OSError naming the path, where torch's writer raised a RuntimeError)
    with pytest.raises(OSError, match=r"^/proc/self/model\.sknorm cannot be written"):
        save(pipe, "/proc/self/model.sknorm")


def test_shape_mismatch_is_named(tmp_path, iris_pipe):
    pipe, _ = iris_pipe
    path = save(pipe, tmp_path / "m")
    payload = torch.load(path, weights_only=True)
    net = json.loads(payload["config"])["steps"][-1][1]
    payload["tensors"][net["module"]["hidden.0.linear.weight"]] = torch.zeros(3, 3)
    torch.save(payload, path)
    with pytest.raises(
        ValueError, match=r"hidden.0.linear.weight: file \(3, 3\), model \(16, 4\)"
    ):
        load(path)


def test_versions_are_checked(tmp_path, iris_pipe):
    pipe, X = iris_pipe
    path = save(pipe, tmp_path / "m")
    payload = torch.load(path, weights_only=True)
    payload["sknorm_version"] = "0.0.1"
    torch.save(payload, path)
    with pytest.warns(UserWarning, match="written by sknorm 0.0.1"):
        assert_array_equal(load(path).predict(X), pipe.predict(X))
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(ValueError, match="file format 99"):
        load(path)


def test_other_steps_are_refused(tmp_path):
    from sklearn.decomposition import PCA

    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(PCA(2), NormMLPClassifier(**FAST)).fit(X, y)
    with pytest.raises(TypeError, match="got a PCA step"):
        save(pipe, tmp_path / "m")


def test_no_warning_for_plain_models(tmp_path, iris_pipe):
    pipe, _ = iris_pipe
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(save(pipe, tmp_path / "m"))


def test_every_fitted_attribute_is_kept_or_refused(tmp_path):
    # save() asks the estimator for its fitted state: an attribute added by a
    # later version is kept without a change here, or refused, never dropped.
    X, y = load_diabetes(return_X_y=True)
    reg = NormMLPRegressor(**FAST).fit(X, y)
    reg.new_statistic_ = np.arange(3.0)
    again = load(save(reg, tmp_path / "m"))
    assert_array_equal(again.new_statistic_, reg.new_statistic_)
    assert_array_equal(again.predict(X), reg.predict(X))
    reg.unstorable_ = object()
    with pytest.raises(TypeError, match="cannot store a object"):
        save(reg, tmp_path / "m2")


# -- ensembles: sweep()'s VotingClassifier / VotingRegressor ----------------------


@pytest.fixture(scope="module")
def sweep_ensemble():
    """A sweep's ensemble (soft-voting, members frozen) on string labels."""
    X, y = load_iris(return_X_y=True)
    y = np.array(["setosa", "versicolor", "virginica"])[y]
    result = sweep(X, y, scalings=["standard", "minmax"], **SMALL_SWEEP)
    assert isinstance(result.ensemble, VotingClassifier)
    return result.ensemble, X, y


@pytest.fixture(scope="module")
def weighted_regressor():
    """A VotingRegressor over frozen pipelines, unequal weights, on a DataFrame."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    pipes = [
        make_norm_pipeline(NormMLPRegressor(**fast(norm=norm)), scaling=scaling)
        for scaling, norm in [("standard", "batch"), ("robust_clip", "layer")]
    ]
    members = [(f"m{i}", FrozenEstimator(p.fit(X, y))) for i, p in enumerate(pipes)]
    return VotingRegressor(members, weights=[3, 1]).fit(X, y), X, y


def _assert_same_ensemble(again, model, X, y):
    assert type(again) is type(model)
    assert again.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    assert (again.voting if hasattr(model, "voting") else None) == getattr(
        model, "voting", None
    )
    assert again.weights == model.weights
    assert_array_equal(again.predict(X), model.predict(X))
    assert again.score(X, y) == model.score(X, y)
    assert list(again.named_estimators_) == list(model.named_estimators_)
    # as fit leaves them: the frozen members themselves, in order
    assert again.estimators_ == [est for _, est in again.estimators]
    assert list(again.named_estimators_.values()) == again.estimators_
    assert all(isinstance(est, FrozenEstimator) for est in again.estimators_)
    assert again.n_features_in_ == model.n_features_in_
    if hasattr(model, "feature_names_in_"):
        assert_array_equal(again.feature_names_in_, model.feature_names_in_)
    else:
        assert not hasattr(again, "feature_names_in_")


def test_sweep_ensemble_round_trip(tmp_path, sweep_ensemble):
    model, X, y = sweep_ensemble
    again = load(save(model, tmp_path / "e.sknorm"))
    _assert_same_ensemble(again, model, X, y)
    assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert_array_equal(again.classes_, model.classes_)
    assert_array_equal(again.le_.classes_, model.le_.classes_)
    assert_array_equal(again.transform(X), model.transform(X))


def test_weighted_regressor_round_trip(tmp_path, weighted_regressor):
    model, X, y = weighted_regressor
    again = load(save(model, tmp_path / "r.sknorm"))
    _assert_same_ensemble(again, model, X, y)
    assert again.weights == [3, 1]


@pytest.mark.parametrize("which", ["sweep_ensemble", "weighted_regressor"])
def test_loaded_ensemble_fit_keeps_its_members(tmp_path, which, request):
    model, X, y = request.getfixturevalue(which)
    again = load(save(model, tmp_path / "e.sknorm"))
    members = list(again.estimators_)
    before = again.predict(X)
    again.fit(X[::-1], y[::-1])  # FrozenEstimator: fit keeps each member
    assert all(a is b for a, b in zip(again.estimators_, members, strict=True))
    assert_array_equal(again.predict(X), before)


def test_hard_voting_over_unfrozen_members_round_trips(tmp_path, iris_pipe):
    # A VotingClassifier fitted the ordinary way: clones of the members,
    # trained on the encoded labels; kept as such (not frozen).
    _, X = iris_pipe
    y = np.array(["a", "b", "c"])[load_iris(return_X_y=True)[1]]
    votes = VotingClassifier(
        [
            ("one", make_norm_pipeline(NormMLPClassifier(**FAST))),
            ("two", NormMLPClassifier(**FAST)),
        ],
        voting="hard",
    ).fit(X, y)
    again = load(save(votes, tmp_path / "h.sknorm"))
    assert again.voting == "hard"
    assert_array_equal(again.predict(X), votes.predict(X))
    assert not any(isinstance(est, FrozenEstimator) for est in again.estimators_)
    template = again.named_estimators["one"]  # unfitted, as fit leaves it
    assert template is not again.named_estimators_["one"]
    with pytest.raises(NotFittedError):
        template.predict(X)
    assert_array_equal(again.fit(X, y).classes_, votes.classes_)  # refits


def test_ensembles_of_other_models_are_refused_by_name(tmp_path, iris_pipe):
    from sklearn.decomposition import PCA

    pipe, X = iris_pipe
    y = pipe.predict(X)
    logistic = VotingClassifier(
        [("net", FrozenEstimator(pipe)), ("baseline", DummyClassifier())],
        voting="soft",
    ).fit(X, y)
    with pytest.raises(TypeError, match="member 'baseline' is a DummyClassifier"):
        save(logistic, tmp_path / "l")
    reduced = make_pipeline(PCA(2), NormMLPClassifier(**FAST)).fit(X, y)
    with_pca = VotingClassifier([("pca", FrozenEstimator(reduced))]).fit(X, y)
    with pytest.raises(TypeError, match=r"member 'pca'.*got a PCA step"):
        save(with_pca, tmp_path / "p")
    dropped = VotingClassifier(
        [("a", FrozenEstimator(pipe)), ("b", "drop")], voting="soft"
    ).fit(X, y)
    with pytest.raises(TypeError, match="member 'b' is dropped"):
        save(dropped, tmp_path / "d")
    with pytest.raises(NotFittedError):
        save(VotingClassifier([("a", FrozenEstimator(pipe))]), tmp_path / "u")
    assert not any(tmp_path.iterdir())


def _nested(config):
    config["members"][0]["model"] = json.loads(json.dumps(config))


# (what, how the voting file's configuration is changed, a word of the error)
CRAFTED_ENSEMBLES = [
    (
        "a class not allowed",
        lambda c: c.update({"class": "StackingClassifier"}),
        "'StackingClassifier' is not allowed",
    ),
    (
        "more weights than members",
        lambda c: c["params"].update(weights=[1, 2, 3]),
        "2 members and weights [1, 2, 3]",
    ),
    (
        "weights that are not numbers",
        lambda c: c["params"].update(weights=["a", "b"]),
        "weights ['a', 'b']",
    ),
    ("missing classes", lambda c: c.pop("classes"), "classes are missing"),
    (
        "classes of another count",
        lambda c: c.update(classes={"__array__": ["x"], "kind": "U", "shape": [1]}),
        "1 classes, its member",
    ),
    ("classes that are not labels", lambda c: c.update(classes=3), "not a list"),
    ("no members", lambda c: c.update(members=[]), "has no members"),
    (
        "members named alike",
        lambda c: c["members"][1].update(name=c["members"][0]["name"]),
        "unique",
    ),
    ("a member named by a number", lambda c: c["members"][0].update(name=7), "7"),
    ("an unknown voting", lambda c: c["params"].update(voting="loud"), "voting"),
    (
        "an unknown kind of member",
        lambda c: c["members"][0]["model"].update(kind="forest"),
        "a model of kind 'forest'",
    ),
    ("an ensemble inside an ensemble", _nested, "a model of kind 'voting'"),
    (
        "a member's step not allowed",
        lambda c: c["members"][0]["model"]["steps"][0][1].update({"class": "Popen"}),
        "'Popen' is not allowed",
    ),
    (
        "a kind this sknorm does not know",
        lambda c: c.update(kind="stack"),
        "unknown kind of model 'stack'",
    ),
]


@pytest.mark.parametrize(
    "edit, word",
    [c[1:] for c in CRAFTED_ENSEMBLES],
    ids=[c[0] for c in CRAFTED_ENSEMBLES],
)
def test_crafted_ensemble_files_are_refused(tmp_path, sweep_ensemble, edit, word):
    path = save(sweep_ensemble[0], tmp_path / "e.sknorm")
    payload = torch.load(path, weights_only=True)
    config = _config(payload)
    edit(config)
    _set_config(payload, config)
    torch.save(payload, path)
    with pytest.raises(ValueError, match="damaged sknorm model file") as info:
        load(path)
    assert word in str(info.value)


# -- crafted and damaged files ---------------------------------------------------
# Each case edits a real file's payload (the dict torch.save wrote) and is
# loaded in a subprocess whose address space is capped at 2.5 GB: a file that
# made load() build or copy gigabytes would fail there with a MemoryError or an
# allocator error instead of the ValueError asserted.
def _config(payload) -> dict:
    return json.loads(payload["config"])


def _set_config(payload, config) -> None:
    payload["config"] = json.dumps(config)


def _net(config) -> dict:
    return config["steps"][-1][1]


def _edit_params(**params):
    def edit(payload):
        config = _config(payload)
        _net(config)["params"].update(params)
        _set_config(payload, config)

    return edit


def _edit_fitted(fn):
    def edit(payload):
        config = _config(payload)
        fn(_net(config)["fitted"])
        _set_config(payload, config)

    return edit


def _zero_stride_weight(payload):
    key = _net(_config(payload))["module"]["hidden.0.linear.weight"]
    payload["tensors"][key] = torch.zeros(1).expand(10**9 * 4).view(10**9, 4)


def _first_tensor(entry):
    if isinstance(entry, dict):
        if "__tensor__" in entry:
            return entry["__tensor__"]
        entry = list(entry.values())
    if isinstance(entry, list):
        return next((k for k in map(_first_tensor, entry) if k), None)
    return None


def _zero_stride_fitted_array(payload):
    # The first fitted array of the scaling step (its imputer's medians, say).
    key = _first_tensor(_config(payload)["steps"][0])
    payload["tensors"][key] = torch.zeros(1, dtype=torch.float64).expand(10**9)


def _deep_json(payload):
    payload["config"] = "[" * 100_000 + "]" * 100_000


def _declared_array(**entry):
    def edit(payload):
        _edit_fitted(lambda f: f.update(fake_=entry))(payload)

    return edit


# (what, how the payload is changed, a word of the error)
CRAFTED = [
    (
        "a width of 10**9",
        _edit_params(hidden_layer_sizes={"__tuple__": [10**9]}),
        "do not fit",
    ),
    (
        "a negative width",
        _edit_params(hidden_layer_sizes={"__tuple__": [-5]}),
        "positive",
    ),
    ("a zero-stride weight of 10**9 rows", _zero_stride_weight, "bytes of data"),
    ("a zero-stride fitted array", _zero_stride_fitted_array, "bytes of data"),
    ("JSON nested 100,000 deep", _deep_json, "damaged"),
    (
        "a string dtype of 200 MB a value",
        _declared_array(__array__=["a"], kind="<U200000000", shape=[1]),
        "holds 1 items",
    ),
    (
        "a scalar of a string dtype",
        _declared_array(__scalar__="a", dtype="<U200000000"),
        "unsupported dtype",
    ),
    (
        "an array shape of 10**9 over 1 item",
        _declared_array(__array__=["a"], kind="U", shape=[10**9]),
        "holds 1 items",
    ),
    (
        "a class not allowed",
        _declared_array(__object__="Popen", state={}),
        "not allowed",
    ),
    ("an unknown entry", _declared_array(__code__="print(1)"), "unknown entry"),
    (
        "a missing fitted attribute",
        _edit_fitted(lambda f: f.pop("classes_")),
        "classes_",
    ),
    ("unknown callbacks", _edit_params(callbacks=["rm -rf"]), "damaged"),
    (
        "an unknown norm option",
        _edit_params(norm_params={"__dict__": [["x", 1]]}),
        "unknown option",
    ),
    ("a missing tensor", lambda p: p["tensors"].clear(), "damaged"),
    ("tensors that are not a mapping", lambda p: p.update(tensors=[1, 2]), "damaged"),
    (
        "a configuration that is not JSON",
        lambda p: p.update(config="{not json"),
        "damaged",
    ),
]


def _crafted_file(iris_pipe, tmp_path, edit, name) -> str:
    payload = torch.load(save(iris_pipe[0], tmp_path / "m"), weights_only=True)
    edit(payload)
    path = tmp_path / f"{name}.sknorm"
    torch.save(payload, path)
    return str(path)


def _load_in_a_small_process(paths, run_python) -> list[str]:
    script = (
        "import resource, sys, warnings\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2_500_000_000, 2_500_000_000))\n"
        "warnings.simplefilter('ignore')\n"
        "from sknorm import load\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        load(path)\n"
        "        print('LOADED')\n"
        "    except BaseException as exc:\n"
        "        print(type(exc).__name__, str(exc).replace(chr(10), ' '))\n"
        "print('peak_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    return run_python("-c", script, *paths, timeout=300).stdout.splitlines()


def test_crafted_files_give_one_value_error_within_bounded_memory(
    iris_pipe, tmp_path, run_python
):
    paths = [
        _crafted_file(iris_pipe, tmp_path, edit, f"case{i}")
        for i, (_, edit, _) in enumerate(CRAFTED)
    ]
    empty = tmp_path / "empty.sknorm"
    empty.write_bytes(b"")
    whole = (tmp_path / "case0.sknorm").read_bytes()
    truncated = tmp_path / "truncated.sknorm"
    truncated.write_bytes(whole[:-1])
    cases = [
        *CRAFTED,
        ("an empty file", None, "not a safe"),
        ("one byte short", None, "not a safe"),
    ]
    lines = _load_in_a_small_process([*paths, str(empty), str(truncated)], run_python)
    *outcomes, peak = lines
    for (what, _, word), line in zip(cases, outcomes, strict=True):
        assert line.startswith("ValueError"), f"{what}: {line}"
        assert word in line, f"{what}: {line}"
    assert int(peak.split()[1]) < 1_500_000, peak  # kB: well under the cap


@pytest.fixture(scope="module")
def tiny_sweep():
    X, y = load_iris(return_X_y=True)
    return sweep(X, y, cv=2, scalings=["standard"], norms=["none"], **fast())


def test_save_names_what_to_pass_instead_of_a_result_a_search_or_none(
    tmp_path, tiny_sweep
):
    path = tmp_path / "m.sknorm"
    with pytest.raises(TypeError, match=r"not the SweepResult: pass result\.model"):
        save(tiny_sweep, path)
    with pytest.raises(TypeError, match=r"pass its best_estimator_"):
        save(tiny_sweep.search, path)
    with pytest.raises(TypeError, match=r"got None.*refit=False"):
        save(None, path)
    assert not path.exists()
    assert load(save(tiny_sweep.model, path)).predict(np.zeros((1, 4))).shape == (1,)


def test_save_refuses_a_folder_or_a_missing_folder_before_writing(tmp_path, iris_pipe):
    pipe, _ = iris_pipe
    with pytest.raises(IsADirectoryError, match=r"is a folder; .*model\.sknorm"):
        save(pipe, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"folder .*nope does not exist"):
        save(pipe, tmp_path / "nope" / "m.sknorm")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_an_unfitted_model_naming_its_step(tmp_path, iris_pipe):
    pipe, _ = iris_pipe
    half = make_norm_pipeline(NormMLPClassifier(**FAST))
    half.steps[0] = ("scale", pipe[0])  # a fitted scaler, an unfitted network
    unfitted = [
        (make_norm_pipeline(NormMLPClassifier(**FAST)), "TabularScaler"),
        (half, "NormMLPClassifier"),
        (TabularScaler(), "TabularScaler"),
        (InputScaler(), "InputScaler"),
    ]
    for model, step in unfitted:
        with pytest.raises(NotFittedError, match=f"fitted model; its {step} is not"):
            save(model, tmp_path / "m.sknorm")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_network_whose_parameters_changed_since_fit(tmp_path):
    # set_params after fit: predict still uses the trained network, but a
    # file rebuilds the network from the parameters (wrong predictions for
    # activation, "damaged file" for a shape): refused, naming them
    X, y = load_iris(return_X_y=True)
    pipe = make_norm_pipeline(NormMLPClassifier(**fast(norm="layer"))).fit(X, y)
    for change in ({"activation": "tanh"}, {"hidden_layer_sizes": (5,)}):
        changed = (
            clone(pipe)
            .fit(X, y)
            .set_params(**{f"net__{k}": v for k, v in change.items()})
        )
        with pytest.raises(ValueError, match=f"{next(iter(change))} changed"):
            save(changed, tmp_path / "m.sknorm")
    assert list(tmp_path.iterdir()) == []
    # set back: saved, and loads with the same predictions
    pipe.set_params(net__activation="tanh").set_params(net__activation="relu")
    again = load(save(pipe, tmp_path / "m.sknorm"))
    assert_array_equal(again.predict_proba(X), pipe.predict_proba(X))


def test_load_says_why_a_file_is_not_one_it_reads(tmp_path, iris_pipe):
    pipe, _ = iris_pipe
    joblib.dump(pipe, tmp_path / "m.joblib")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("101\n")
    good = save(pipe, tmp_path / "m.sknorm").read_bytes()
    (tmp_path / "cut.sknorm").write_bytes(good[: len(good) // 2])
    reasons = {
        "m.joblib": "pickle or joblib file, say), which may run code",
        "empty": "it is empty or cut short",
        "notes.txt": "neither a file torch.save wrote nor a pickle",
        "cut.sknorm": "it is damaged",
    }
    for name, reason in reasons.items():
        with pytest.raises(ValueError, match="not a safe sknorm model file") as info:
            load(tmp_path / name)
        assert reason in str(info.value), name
        assert "weights_only" not in str(info.value)  # torch's unsafe advice


def test_a_categorical_of_dates_round_trips(tmp_path):
    # its categories are a datetime64 array (stored as int64 counts); it was
    # a TypeError that did not say where
    import pandas as pd

    rng = np.random.default_rng(0)
    days = pd.to_datetime(["2020-01-01", "2021-06-15"])
    X = pd.DataFrame(
        {"a": rng.normal(size=80), "when": pd.Categorical(rng.choice(days, 80))}
    )
    y = np.where(X["when"] == days[0], "early", "late")
    pipe = make_norm_pipeline(NormMLPClassifier(**FAST)).fit(X, y)
    loaded = load(save(pipe, tmp_path / "m.sknorm"))
    assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


@pytest.mark.parametrize("name", ["model.onnx", "model.PT2"])
def test_save_refuses_the_suffixes_export_writes(tmp_path, iris_pipe, name):
    pipe, _ = iris_pipe
    with pytest.raises(ValueError, match=r"sknorm\.save writes its own safe format"):
        save(pipe, tmp_path / name)
    assert not list(tmp_path.iterdir())
