"""No silent half-models: a failed or interrupted fit leaves the estimator as
it was, and Ctrl-C (SIGINT) stops a fit, a search, a sweep and the command.

The SIGINT tests run a real process, wait until it is training, send the
signal and read what it did.
"""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from _presets import FAST
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

from sknorm import NormMLPClassifier, NormMLPRegressor
from sknorm.exceptions import TrainingDivergedError


class Raise(Callback):
    """Raise at the end of epoch ``at`` (counted over the net's whole history).

    (A callback that raises ``KeyboardInterrupt`` is how skorch's
    ``EarlyStopping`` ends training, not a Ctrl-C: the SIGINT tests below
    send the real signal.)
    """

    def __init__(self, at=2):
        self.at = at

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.at:
            raise RuntimeError("stopped by the test")


def test_a_failed_first_fit_leaves_the_estimator_unfitted(iris):
    X, y = iris
    clf = NormMLPClassifier(**FAST, callbacks=[Raise()])
    with pytest.raises(RuntimeError):
        clf.fit(X, y)
    assert not [k for k in vars(clf) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_a_diverged_fit_leaves_no_nan_model(cancer):
    X, y = cancer
    reg = NormMLPRegressor(
        norm="none", optimizer="sgd", lr=1e3, scale_target=False, random_state=0
    )
    with pytest.raises(TrainingDivergedError):
        reg.fit(X * 1e3, y * 1e3)
    with pytest.raises(NotFittedError):
        reg.predict(X)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_a_failed_continued_fit_keeps_the_previous_model(iris, method):
    X, y = iris
    at = FAST["max_epochs"] + 1  # the first epoch of the continued fit
    clf = NormMLPClassifier(**FAST, warm_start=True, callbacks=[Raise(at)])
    clf.fit(X, y)
    proba, n_iter = clf.predict_proba(X), clf.n_iter_
    with pytest.raises(RuntimeError):
        getattr(clf, method)(X, y)
    assert clf.n_iter_ == n_iter
    assert_array_equal(clf.predict_proba(X), proba)


def test_skorch_early_stopping_still_ends_a_fit_quietly(iris):
    # skorch's EarlyStopping raises KeyboardInterrupt to stop: not a Ctrl-C.
    X, y = iris
    clf = NormMLPClassifier(
        **{**FAST, "max_epochs": 200}, early_stopping=True, n_iter_no_change=2
    ).fit(X, y)
    assert clf.n_iter_ < 200


class SendSigint(Callback):
    """Send this process a SIGINT at the end of the second epoch."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            os.kill(os.getpid(), signal.SIGINT)


def test_a_process_that_ignores_sigint_keeps_ignoring_it_during_a_fit(iris):
    # nohup, or a shell's background job: the fit must not turn the ignored
    # signal into a KeyboardInterrupt, and the process keeps ignoring it after.
    X, y = iris
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        clf = NormMLPClassifier(**FAST, callbacks=[SendSigint()]).fit(X, y)
        assert clf.n_iter_ == FAST["max_epochs"]
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


# -- Ctrl-C in a real process --------------------------------------------------------
class Started(Callback):
    """Print a line once training is under way, so the test can interrupt."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            print("TRAINING", flush=True)


SETUP = """
import sys, numpy as np
sys.path.insert(0, {tests!r})
from test_interrupt import Started
from sklearn.datasets import load_breast_cancer
from sknorm import NormMLPClassifier, make_norm_pipeline, normalization_grid, sweep
X, y = load_breast_cancer(return_X_y=True)
net = NormMLPClassifier((32,), max_epochs=100_000, callbacks=[Started()])
"""

RUNS = {
    "fit": "net.fit(X, y)",
    "GridSearchCV": (
        "from sklearn.model_selection import GridSearchCV\n"
        "GridSearchCV(make_norm_pipeline(net), normalization_grid(), cv=2).fit(X, y)"
    ),
    "sweep": "sweep(X, y, cv=2, max_epochs=100_000, callbacks=[Started()])",
    # the packed engine's worker threads: the main thread takes the signal and
    # the workers stop at their next step
    "packed, 2 workers": (
        "from sknorm import PackedSearchCV\n"
        "from sknorm._search import reporting_progress\n"
        "with reporting_progress(lambda fits: print('TRAINING', flush=True)):\n"
        "    PackedSearchCV(make_norm_pipeline(NormMLPClassifier((32,), "
        "max_epochs=100_000)), normalization_grid(), cv=2, n_jobs=2).fit(X, y)"
    ),
}
#: One way of running, in the process that runs them all one after another:
#: it announces itself, trains until the test's Ctrl-C, and says what it got.
SCENARIO = """
print("SCENARIO {name}", flush=True)
try:
    {run}
    print("RESULT {name}: RETURNED NORMALLY", flush=True)
except KeyboardInterrupt:
    print("RESULT {name}: KEYBOARDINTERRUPT", [k for k in vars(net) if k.endswith("_")])
"""


def _sigint_live() -> None:
    """Ctrl-C as a terminal delivers it: a shell starts background jobs with
    SIGINT ignored, and a child inherits that (Python then installs no
    handler), so a test run from one would send a signal nobody hears."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(args, cwd, marker=None, timeout=300) -> subprocess.CompletedProcess:
    """Run ``args`` and send it a SIGINT once it prints ``TRAINING``: once, or
    (with ``marker``) once after each line that starts with ``marker``. Its
    ``stdout`` holds both streams, without the ``TRAINING`` lines."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_sigint_live,
    )
    watchdog = threading.Timer(timeout, proc.kill)  # a run that never stops
    watchdog.start()
    lines, armed = [], marker is None
    try:
        for line in proc.stdout:
            lines.append(line)
            if marker is not None and line.startswith(marker):
                armed = True
            elif armed and "TRAINING" in line:
                proc.send_signal(signal.SIGINT)
                armed = False
        proc.wait()
    finally:
        watchdog.cancel()
    out = "".join(line for line in lines if "TRAINING" not in line)
    return subprocess.CompletedProcess(args, proc.returncode, out, "")


def test_ctrl_c_raises_keyboard_interrupt_and_leaves_nothing_fitted(tmp_path):
    """Each way of training in ``RUNS``, one after another in one process (one
    start-up instead of four), gets a Ctrl-C once it trains."""
    tests = os.path.dirname(os.path.abspath(__file__))
    script = SETUP.format(tests=tests) + "".join(
        SCENARIO.format(name=where, run=textwrap.indent(run, "    ").strip())
        for where, run in RUNS.items()
    )
    done = _interrupt([sys.executable, "-c", script], tmp_path, marker="SCENARIO")
    for where in RUNS:
        assert f"RESULT {where}: KEYBOARDINTERRUPT []" in done.stdout, done.stdout
    assert "RETURNED NORMALLY" not in done.stdout, done.stdout


def test_ctrl_c_stops_the_command_with_exit_130_and_no_report(tmp_path):
    tests = os.path.dirname(os.path.abspath(__file__))
    # The command's net gets the Started callback through a tiny wrapper.
    script = (
        f"import sys; sys.path.insert(0, {tests!r})\n"
        "from test_interrupt import Started\n"
        "import sknorm._sweep as s\n"
        "make = s.NormMLPClassifier\n"
        "s.NormMLPClassifier = lambda **k: make(**k, callbacks=[Started()])\n"
        "from sknorm.cli import main\n"
        "sys.exit(main(['sweep', '--epochs', '100000', '--cv', '2', '--n-jobs', '1',"
        " '--no-progress', '--out', 'report']))\n"
    )
    done = _interrupt([sys.executable, "-c", script], cwd=tmp_path)
    assert done.returncode == 130, done.stdout
    last = done.stdout.strip().splitlines()[-1]
    assert last.endswith("interrupted; no report was written"), done.stdout
    assert "Traceback" not in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_the_command_starts_is_one_line_and_exit_130(tmp_path):
    # the console script's module imports sknorm (torch, scikit-learn: about
    # two seconds) inside its main, so a Ctrl-C then is caught too; here the
    # import of sknorm waits until the signal comes
    script = (
        "import importlib.abc, sys, time\n"
        "class Slow(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'sknorm':\n"
        "            print('TRAINING', flush=True)\n"
        "            time.sleep(120)\n"
        "sys.meta_path.insert(0, Slow())\n"
        "import _sknorm_cli\n"
        "sys.exit(_sknorm_cli.main(['sweep', '--out', 'report']))\n"
    )
    done = _interrupt([sys.executable, "-c", script], cwd=tmp_path, timeout=100)
    assert done.returncode == 130, done.stdout
    assert done.stdout.strip() == (
        "sknorm: interrupted while starting; nothing was written"
    ), done.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_console_script_runs_the_command(run_python):
    out = run_python("-c", "import _sknorm_cli; _sknorm_cli.main(['--version'])")
    assert out.stdout.startswith("sknorm ")
