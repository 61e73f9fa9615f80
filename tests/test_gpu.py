"""The CUDA path. Skipped where no GPU is present (CI); run on a GPU machine."""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from skorch.callbacks import Callback

from sknorm import NormMLPClassifier, NormMLPRegressor, make_norm_pipeline

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
    assert dict(net.callbacks_)["devices"].train_data.is_cuda
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
