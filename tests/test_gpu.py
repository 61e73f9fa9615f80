"""The CUDA path. Skipped where no GPU is present (CI); run on a GPU machine.

The engine's CUDA tests are in test_packed.py (their names say "gpu"); all of
them: ``pytest tests/test_gpu.py tests/test_packed.py tests/test_benchmarks.py
-k "gpu or cuda"``. On a machine whose torch_geometric calls the deprecated
``torch.jit.script`` when skorch imports it, add ``-W "ignore:`torch.jit.script`
is deprecated:DeprecationWarning"`` (the suite turns deprecation warnings into
errors).
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone
from skorch.callbacks import Callback

from sknorm import (
    NormMLPClassifier,
    NormMLPRegressor,
    PackedSearchCV,
    make_norm_pipeline,
    sweep,
)

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"
)

#: Wider and longer than tests/_presets.FAST: these tests check the accuracy
#: reached on the GPU, not only that training runs.
ON_CUDA = {
    "hidden_layer_sizes": (64, 64),
    "max_epochs": 5,
    "random_state": 0,
    "device": "cuda",
}


class RecordBatchDevices(Callback):
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.train_data = X

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        net.history.record_batch("batch_device", str(batch[0].device))


@pytest.mark.parametrize("norm", ["batch", "layer", "ghost", "batch_renorm"])
def test_fit_and_predict_on_cuda(cancer, norm):
    X, y = cancer
    recorder = RecordBatchDevices()
    clf = NormMLPClassifier(**ON_CUDA, norm=norm, callbacks=[("devices", recorder)])
    pipe = make_norm_pipeline(clf).fit(X, y)
    net = pipe["net"].net_
    assert next(net.module_.parameters()).is_cuda
    # The training data went to the GPU once, before the loop: every batch is a
    # slice of a CUDA tensor.
    data = dict(net.callbacks_)["devices"].train_data  # an ArrayDataset
    assert data.X.is_cuda and data.y.is_cuda
    devices = {b["batch_device"] for b in net.history[0]["batches"]}
    assert devices == {"cuda:0"}
    proba = pipe.predict_proba(X)
    assert isinstance(proba, np.ndarray) and proba.shape == (len(X), 2)
    assert pipe.score(X, y) > 0.9


def test_cuda_predictions_match_cpu_weights(cancer):
    X, y = cancer
    pipe = make_norm_pipeline(NormMLPRegressor(**ON_CUDA)).fit(X, y.astype(float))
    gpu = pipe.predict(X)
    pipe["net"].net_.module_.cpu()
    pipe["net"].net_.set_params(device="cpu")
    assert_allclose(pipe.predict(X), gpu, rtol=1e-4, atol=1e-4)


def test_pickled_gpu_model_loads_on_a_cpu_only_machine(tmp_path, cancer, run_python):
    X, y = cancer
    pipe = make_norm_pipeline(NormMLPClassifier(**ON_CUDA)).fit(X, y)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(pipe))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", pipe.predict_proba(X))
    script = (
        "import pickle, warnings, numpy as np, torch\n"
        "assert not torch.cuda.is_available()\n"
        "warnings.simplefilter('ignore')\n"
        f"pipe = pickle.loads(open({str(path)!r}, 'rb').read())\n"
        f"X = np.load({str(tmp_path / 'X.npy')!r})\n"
        f"expected = np.load({str(tmp_path / 'expected.npy')!r})\n"
        "np.testing.assert_allclose(pipe.predict_proba(X), expected, atol=1e-4)\n"
        "print('ok')\n"
    )
    out = run_python("-c", script, env={"CUDA_VISIBLE_DEVICES": ""}, timeout=300)
    assert "ok" in out.stdout


def test_packed_search_on_cuda_scores_as_on_the_cpu(diabetes):
    # one stack on the GPU; each member shuffled and dropped out by its own
    # CPU generator, so its scores are the CPU run's up to the GPU's rounding
    X, y = diabetes
    net = NormMLPRegressor((16, 16), max_epochs=5, dropout=0.1, random_state=0)
    grid = {"scale__method": ["none", "standard"], "net__norm": ["none", "layer"]}
    searches = {}
    for device in ("cpu", "cuda"):
        pipe = make_norm_pipeline(clone(net).set_params(device=device))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback to the grid
            searches[device] = PackedSearchCV(pipe, grid, cv=3).fit(X, y)
    cpu, gpu = searches["cpu"], searches["cuda"]
    assert gpu.packed_
    for key in ("split0_test_score", "split2_test_score", "mean_test_score"):
        assert_allclose(gpu.cv_results_[key], cpu.cv_results_[key], atol=1e-3)
    # the refit is the best candidate's own fit, on the GPU
    assert next(gpu.best_estimator_[-1].net_.module_.parameters()).is_cuda
    assert gpu.best_estimator_.predict(X[:5]).shape == (5,)


def test_sweep_on_cuda_returns_a_model_that_predicts(cancer):
    X, y = cancer
    result = sweep(
        X,
        y,
        scalings=("minmax", "standard"),
        norms=("none", "batch"),
        cv=3,
        ensemble=2,
        max_epochs=5,
        device="cuda",
    )
    assert result.search.packed_
    assert len(result.curves) > 0
    proba = result.model.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.isfinite(proba).all()
    assert result.model.score(X, y) > 0.9


def test_the_command_sweeps_on_cuda(tmp_path, capsys):
    from sknorm.cli import main

    out = tmp_path / "report"
    args = ["sweep", "--device", "cuda", "--cv", "2", "--epochs", "2", "--out"]
    assert main([*args, str(out), "--hidden", "8", "--no-progress"]) == 0
    assert "packed engine on cuda" in (out / "report.md").read_text()
