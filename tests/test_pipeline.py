import os

import numpy as np
import pytest
import torch
from _presets import FAST, fast
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import (
    GridSearchCV,
    ParameterGrid,
    RandomizedSearchCV,
    cross_validate,
)
from skorch.callbacks import Callback

from sknorm import (
    LEARNED_SCALINGS,
    NORMS,
    SCALINGS,
    SWEEP_SCALINGS,
    InputScaler,
    NormMLPClassifier,
    NormMLPRegressor,
    TabularScaler,
    make_norm_pipeline,
    normalization_grid,
)
from sknorm._pipeline import candidate_scaling


class RecordThreads(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("torch_threads", torch.get_num_threads())


def test_make_norm_pipeline_steps():
    net = NormMLPClassifier()
    pipe = make_norm_pipeline(net, scaling="minmax")
    assert [name for name, _ in pipe.steps] == ["scale", "net"]
    assert isinstance(pipe["scale"], TabularScaler) and pipe["scale"].method == "minmax"
    assert pipe["net"] is net
    strict = make_norm_pipeline(net, scaling="robust", tabular=False)
    assert (
        isinstance(strict["scale"], InputScaler) and strict["scale"].method == "robust"
    )
    with pytest.raises(ValueError, match="Unknown scaling 'zscore'"):
        make_norm_pipeline(net, scaling="zscore")


def test_normalization_grid():
    assert normalization_grid() == [
        {
            "scale__method": ["none", "minmax", "standard"],
            "net__input_embedding": ["none"],
            "net__norm": ["none", "batch", "layer"],
        },
        {
            "scale__method": ["robust_clip"],
            "net__input_embedding": ["periodic"],
            "net__norm": ["none", "batch", "layer"],
        },
    ]
    assert normalization_grid(["none", "minmax", "standard"]) == {
        "scale__method": ["none", "minmax", "standard"],
        "net__norm": ["none", "batch", "layer"],
    }
    grid = normalization_grid("standard", ["layer"], norm_position=["before", "after"])
    assert grid == {
        "scale__method": ["standard"],
        "net__norm": ["layer"],
        "net__norm_position": ["before", "after"],
    }


def test_learned_scalings_set_the_scaler_and_the_input_embedding_together():
    grid = normalization_grid(["minmax", "plr", "learned_scale"], ["batch"], lr=[0.1])
    assert grid == [
        {
            "scale__method": ["minmax"],
            "net__input_embedding": ["none"],
            "net__norm": ["batch"],
            "net__lr": [0.1],
        },
        {
            "scale__method": ["robust_clip"],
            "net__input_embedding": ["periodic"],
            "net__norm": ["batch"],
            "net__lr": [0.1],
        },
        {
            "scale__method": ["robust_clip"],
            "net__input_embedding": ["scale"],
            "net__norm": ["batch"],
            "net__lr": [0.1],
        },
    ]
    assert len(normalization_grid(["plr"], ["batch"])) == 1
    for params in ParameterGrid(grid):
        name = candidate_scaling(params, "scale__method", "net__input_embedding")
        expected = {"periodic": "plr", "scale": "learned_scale", "none": "minmax"}
        assert name == expected[params["net__input_embedding"]]
    assert candidate_scaling({"scale__method": "robust_clip"}, "scale__method", "e")
    assert SWEEP_SCALINGS == (*SCALINGS, *LEARNED_SCALINGS)


def test_learned_scalings_train_in_a_grid_search(cancer):
    X, y = cancer
    search = GridSearchCV(
        make_norm_pipeline(NormMLPClassifier(**fast(max_epochs=3))),
        normalization_grid(["standard", "plr", "learned_scale"], ["batch"]),
        cv=2,
        error_score="raise",
    ).fit(X, y)
    embeddings = [p["net__input_embedding"] for p in search.cv_results_["params"]]
    assert embeddings == ["none", "periodic", "scale"]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scalings": ["plr"], "input_embedding": ["none"]}, "do not also sweep it"),
        ({"scalings": ["minmax", "l2"]}, r"Unknown scalings \['l2'\]"),
        ({"norms": ["weight"]}, r"Unknown norms \['weight'\]"),
        ({"norms": []}, "at least one"),
        ({"lr": []}, "lr must list at least one value"),
        # a repeat would be trained, ranked and averaged (ensemble) twice
        (
            {"scalings": ["standard", "standard", "plr"]},
            r"scalings lists \['standard'\] more than once",
        ),
        ({"norms": ["layer", "none", "layer"]}, r"norms lists \['layer'\] more"),
    ],
)
def test_normalization_grid_rejects_bad_names(kwargs, match):
    with pytest.raises(ValueError, match=match):
        normalization_grid(**kwargs)


def test_grid_search_3x3_regression_end_to_end(diabetes):
    X, y = diabetes
    net = NormMLPRegressor((32, 32), max_epochs=30, random_state=0)
    grid = normalization_grid(["none", "minmax", "standard"])
    search = GridSearchCV(make_norm_pipeline(net), grid, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 9
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_score_ > 0.4


def test_randomized_search_takes_the_grid(cancer):
    X, y = cancer
    grid = normalization_grid(["none", "minmax", "standard"])
    search = RandomizedSearchCV(
        make_norm_pipeline(NormMLPClassifier(**FAST)),
        grid,
        n_iter=3,
        cv=2,
        random_state=0,
    ).fit(X, y)
    drawn = search.cv_results_["params"]
    assert len({tuple(sorted(p.items())) for p in drawn}) == 3  # without repeats
    for params in drawn:
        assert all(params[key] in grid[key] for key in grid)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_parallel_workers_use_one_torch_thread_per_core(cancer):
    """With n_jobs=2 on joblib's process workers, each fit gets cores // 2 threads."""
    X, y = cancer
    net = NormMLPClassifier(**FAST, callbacks=[RecordThreads()])
    out = cross_validate(
        make_norm_pipeline(net), X, y, cv=2, n_jobs=2, return_estimator=True
    )
    cores = len(os.sched_getaffinity(0))
    for pipe in out["estimator"]:
        threads = set(pipe["net"].history_[:, "torch_threads"])
        assert threads == {max(cores // 2, 1)} or threads == {1}


def test_a_diverging_candidate_gets_nan_and_the_search_finishes(diabetes):
    X, y = diabetes
    X = X * 1e3
    pipe = make_norm_pipeline(
        NormMLPRegressor(
            norm="none",
            optimizer="sgd",
            scale_target=False,
            max_epochs=5,
            random_state=0,
        ),
        scaling="none",
    )
    good = {
        "net__lr": [1e-3],
        "scale__method": ["standard"],
        "net__scale_target": [True],
    }
    grid = [{"net__lr": [1e3]}, good]
    with pytest.warns(FitFailedWarning, match="Training diverged"):
        search = GridSearchCV(pipe, grid, cv=2, error_score=np.nan).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isnan(scores[0]) and np.isfinite(scores[1])
    assert search.best_params_ == {k: v[0] for k, v in good.items()}


@pytest.mark.parametrize("n_threads", [1, None])
def test_search_results_are_bitwise_identical_across_n_jobs(
    n_threads, monkeypatch, cancer
):
    """Same seeds and the same thread count: identical whichever n_jobs.

    (The thread count matters: float32 GEMM sums in a different order on 1 and 2
    threads. Small nets like this one get one thread by default both in this
    process and in joblib's workers; for wide nets fix ``n_threads``.)
    """
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # the default policy here
    X, y = cancer[0][:300], cancer[1][:300]
    pipe = make_norm_pipeline(NormMLPClassifier(**fast(n_threads=n_threads)))
    grid = normalization_grid(["minmax", "standard"], ["batch", "layer"])
    serial = GridSearchCV(pipe, grid, cv=3, n_jobs=1).fit(X, y)
    parallel = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
    for key in [k for k in serial.cv_results_ if k.startswith("split")]:
        np.testing.assert_array_equal(
            serial.cv_results_[key], parallel.cv_results_[key]
        )
    np.testing.assert_array_equal(serial.predict_proba(X), parallel.predict_proba(X))


def test_the_whole_family_of_norms_in_one_grid(cancer):
    """Every norm and every scaling through GridSearchCV on real data."""
    X, y = cancer
    # 6 epochs at lr 1e-2 (best 0.968) learn as well as 15 at 1e-3 (0.965)
    # in half the time: 98 fits
    pipe = make_norm_pipeline(
        NormMLPClassifier((16, 16), max_epochs=6, lr=1e-2, random_state=0)
    )
    grid = normalization_grid(scalings=SCALINGS, norms=list(NORMS))
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=1, error_score="raise").fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == len(SCALINGS) * len(NORMS) == 49
    assert set(results["param_net__norm"]) == set(NORMS)
    assert np.isfinite(results["mean_test_score"]).all()
    assert search.best_score_ > 0.95
