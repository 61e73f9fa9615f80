"""Fixtures shared by every test module.

* Data: ``iris``, ``cancer``, ``digits`` and ``diabetes`` give ``(X, y)`` as
  scikit-learn loads them, once per session. The arrays are read-only, so a
  test that needs to change them must copy first (``X.copy()``); a module that
  wants them in another form (scaled, string labels, a subset) derives its own
  fixture from these.
* ``run_python``: runs a Python command line in a fresh interpreter and fails
  the test, showing its output, when it exits non-zero.
* Presets are plain constants in ``_presets.py`` (``from _presets import FAST,
  fast``): tests is not a package, and this file puts its folder on
  ``sys.path`` so that the import works under pytest's ``prepend`` and
  ``importlib`` import modes and in every pytest-xdist worker.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

# pytest-xdist runs one process per core: give each one torch thread so the
# workers do not oversubscribe the machine (the estimators read OMP_NUM_THREADS).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"


def _read_only(loader):
    X, y = loader(return_X_y=True)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


@pytest.fixture(scope="session")
def iris():
    """150 x 4, three classes (integer labels)."""
    return _read_only(load_iris)


@pytest.fixture(scope="session")
def cancer():
    """569 x 30 on scales from ~0.001 to ~4,000, two classes."""
    return _read_only(load_breast_cancer)


@pytest.fixture(scope="session")
def digits():
    """1797 x 64 (8x8 images), ten classes."""
    return _read_only(load_digits)


@pytest.fixture(scope="session")
def diabetes():
    """442 x 10, a real-valued target."""
    return _read_only(load_diabetes)


@pytest.fixture(scope="session")
def run_python():
    """``run_python(*args, env=None, timeout=180)``: ``python *args``, checked.

    ``env`` adds to (or overrides) this process's environment. Returns the
    ``CompletedProcess`` with text ``stdout`` and ``stderr``.
    """

    def run(*args, env=None, timeout=180):
        proc = subprocess.run(
            [sys.executable, *map(str, args)],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    return run


@pytest.fixture
def in_empty_folder(tmp_path_factory, monkeypatch):
    """Run in an empty folder of the test's own: the command's default report
    folder (``sknorm-report``) is then never one a user's earlier run left in
    the working directory (the command refuses to replace it)."""
    folder = tmp_path_factory.mktemp("cwd")  # apart from the test's tmp_path
    monkeypatch.chdir(folder)
    return folder
