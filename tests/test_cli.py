"""The ``sknorm sweep`` command: in-process, as ``python -m sknorm``, and its errors."""

import os
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_iris

from sknorm import __version__
from sknorm._pipeline import DEFAULT_NORMS, DEFAULT_SCALINGS
from sknorm._sweep import TABLE_COLUMNS
from sknorm.cli import REPORT_PACKAGES, main

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

# never the user's own sknorm-report/: the README's first command writes one
pytestmark = pytest.mark.usefixtures("in_empty_folder")

TINY = ["--cv", "2", "--epochs", "2", "--hidden", "8", "--no-progress"]
TINY += ["--n-jobs", "1"]
REPORT_FILES = {"results.csv", "curves.csv", "heatmap.png", "curves.png", "report.md"}


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    data = load_iris(as_frame=True)
    frame = data.frame.assign(species=data.target_names[data.target])
    path = tmp_path_factory.mktemp("data") / "iris.csv"
    frame.drop(columns="target").to_csv(path, index=False)
    return path


def test_cli_default_data_writes_the_report(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["sweep", *TINY, "--scalings", "standard", "--norms", "none,layer"]
    assert main([*args, "--out", str(out)]) == 0

    stdout = capsys.readouterr().out
    assert "breast cancer" in stdout
    assert "mean accuracy" in stdout and "Best: scaling=standard" in stdout
    assert {p.name for p in out.iterdir()} == REPORT_FILES

    table = pd.read_csv(out / "results.csv")
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert len(table) == 2
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "](heatmap.png)" in report and "](curves.png)" in report
    assert "load_breast_cancer" in report
    assert "sknorm sweep --cv 2" in report  # the command line
    assert f"sknorm {__version__}" in report
    assert "Best candidate:** scaling=standard" in report
    assert "| rank | scaling | norm | mean accuracy |" in report
    assert "From the search's own run, averaged over the 2 folds" in report


def test_cli_report_says_where_the_grid_engines_curves_come_from(tmp_path):
    out = tmp_path / "report"
    args = ["sweep", *TINY, "--scalings", "standard", "--norms", "none"]
    assert main([*args, "--engine", "grid", "--out", str(out)]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Each candidate fit once more on 80% of the data" in report
    assert "search's own run" not in report


def test_cli_csv_from_a_sklearn_dataset(iris_csv, tmp_path, capsys):
    out = tmp_path / "report"
    args = ["sweep", "--csv", str(iris_csv), "--target", "species", *TINY]
    args.remove("--no-progress")
    args += ["--scalings", "minmax", "--norms", "batch", "--no-curves"]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "150 samples x 4 features" in captured.out
    # the progress bar: 2 folds (no refit: the command writes no model)
    assert "2/2" in captured.err

    assert {p.name for p in out.iterdir()} == {
        "results.csv",
        "heatmap.png",
        "report.md",
    }
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "iris.csv" in report and "`species`" in report
    assert "curves.png" not in report


def test_cli_python_m_sknorm(tmp_path, run_python):
    csv = tmp_path / "diabetes.csv"
    load_diabetes(as_frame=True).frame.head(120).to_csv(csv, index=False)
    out = tmp_path / "report"
    args = ["sweep", "--csv", str(csv), "--target", "target", *TINY]
    args += ["--scalings", "standard", "--norms", "layer", "--out", str(out)]
    proc = run_python("-m", "sknorm", *args, env={"OMP_NUM_THREADS": "1"}, timeout=300)
    assert "mean r2" in proc.stdout
    assert {p.name for p in out.iterdir()} == REPORT_FILES
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "python -m sknorm sweep" in report
    assert "regression" in report


# -- errors: exit status 2 and one line on stderr that names the problem ----------
def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "target", "expected"),
    [
        ("a,b,y\n1,2,0\n3,4,1\n", "label", "'label' not found"),
        ("", "y", "is empty"),
        ("a,b,y\n", "y", "no data rows"),
        ("a,y\n1,0\n3,0\n", "y", "only one class"),
    ],
    ids=["missing-target", "empty-file", "header-only", "one-class"],
)
def test_cli_bad_csv_is_a_one_line_error(tmp_path, capsys, content, target, expected):
    csv = _write(tmp_path / "data.csv", content)
    status = main(["sweep", "--csv", str(csv), "--target", target, *TINY])
    assert status == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert expected in lines[0]
    assert lines[0].startswith("sknorm sweep: error: ")
    assert "Traceback" not in captured.err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without cuda")
def test_cli_device_this_torch_cannot_use_is_a_one_line_error(capsys):
    # --device goes to every network (tests/test_gpu.py runs it on a GPU)
    assert main(["sweep", "--device", "cuda", *TINY]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "device='cuda': this torch cannot use a cuda device" in lines[0]


def test_cli_missing_file_is_a_one_line_error(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert main(["sweep", "--csv", str(missing), "--target", "y", *TINY]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "not found" in lines[0] and "nope.csv" in lines[0]


def test_cli_csv_needs_a_target(iris_csv, capsys):
    assert main(["sweep", "--csv", str(iris_csv), *TINY]) == 2
    assert "--target" in capsys.readouterr().err


@pytest.mark.parametrize("package", REPORT_PACKAGES)
def test_cli_without_the_report_extra_is_a_one_line_error(
    package, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    out = tmp_path / "report"
    assert main(["sweep", *TINY, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"sknorm sweep: error: sknorm sweep needs {package}")
    assert "pip install 'sknorm[report]'" in lines[0]
    assert not out.exists()  # failed before any fit


def test_cli_sweeps_the_learned_scalings(tmp_path, capsys):
    args = ["sweep", *TINY, "--scalings", "plr,learned_scale", "--norms", "batch"]
    assert main([*args, "--no-curves", "--out", str(tmp_path / "r")]) == 0
    table = pd.read_csv(tmp_path / "r" / "results.csv")
    assert sorted(table["scaling"]) == ["learned_scale", "plr"]


def test_cli_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--norms", "batch,weird"])
    assert exc.value.code == 2
    assert "weird" in capsys.readouterr().err


def test_cli_help_names_the_default_grid(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps to the terminal
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {','.join(DEFAULT_SCALINGS)}, without none" in text
    assert f"(default: {','.join(DEFAULT_NORMS)})" in text
    assert "(default: None)" not in text  # data-dependent defaults say what they do


# -- the output place and failed candidates -----------------------------------------
ONE = ["sweep", *TINY, "--scalings", "standard", "--norms", "layer", "--no-curves"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_cli_refuses_a_file_as_out_before_any_fit(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sknorm.cli.sweep", lambda *a, **k: pytest.fail("fitted"))
    (tmp_path / "taken").write_text("mine")
    assert main([*ONE, "--out", str(tmp_path / "taken")]) == 2
    assert "is a file, not a folder" in _error(capsys)
    assert (tmp_path / "taken").read_text() == "mine"
    assert main([*ONE, "--out", str(tmp_path / "taken" / "report")]) == 2
    assert "goes through" in (line := _error(capsys)) and "which is a file" in line


def test_cli_never_overwrites_a_report_without_force(tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "curves.png").write_text("stale")
    assert main([*ONE, "--out", str(out)]) == 2
    assert "exists; pass --force" in _error(capsys)
    assert (out / "curves.png").read_text() == "stale"
    assert main([*ONE, "--out", str(out), "--force"]) == 0
    # replaced whole: nothing of the older run stays beside the new report
    assert {p.name for p in out.iterdir()} == {
        "results.csv",
        "heatmap.png",
        "report.md",
    }
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no staging left


def test_cli_force_replaces_only_a_report_folder(tmp_path, capsys, monkeypatch):
    # a folder that holds anything but an earlier report's files (a project,
    # the CSV itself) is never replaced, nor the current folder
    monkeypatch.setattr("sknorm.cli.sweep", lambda *a, **k: pytest.fail("fitted"))
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "important.py").write_text("precious")
    (project / "report.md").write_text("old")
    assert main([*ONE, "--out", str(project), "--force"]) == 2
    line = _error(capsys)
    assert "--force replaces only a report folder" in line and "'src'" in line
    assert (project / "src" / "important.py").read_text() == "precious"
    # the --csv file's folder, even when the file is named like a report's
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"a": range(8), "t": ["x", "z"] * 4}).to_csv(
        data / "results.csv", index=False
    )
    args = ["sweep", "--csv", str(data / "results.csv"), "--target", "t"]
    assert main([*args, "--out", str(data), "--force"]) == 2
    assert "holds the --csv file" in _error(capsys)
    assert len((data / "results.csv").read_text().splitlines()) == 9
    # what an OS leaves in a folder it shows does not make it another's
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("old")
    (report / ".DS_Store").write_bytes(b"\0")
    monkeypatch.setattr("sknorm.cli.sweep", lambda *a, **k: pytest.fail("fitted"))
    with pytest.raises(pytest.fail.Exception, match="fitted"):  # checks passed
        main([*ONE, "--out", str(report), "--force"])
    monkeypatch.chdir(project / "src")
    for here in (".", ".."):
        assert main([*ONE, "--out", here, "--force"]) == 2
        assert "is the current folder (or holds it)" in _error(capsys)
    assert (project / "src" / "important.py").read_text() == "precious"


def test_cli_an_unwritable_place_is_found_before_any_fit(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root writes anywhere
        pytest.skip("running as root: no unwritable folder to try")
    assert main([*ONE, "--out", str(locked / "report")]) == 2
    assert "cannot write the report" in _error(capsys)


def test_cli_every_candidate_failing_is_one_line_and_no_report(tmp_path, capsys):
    # group norm needs 8 groups of 2+ units; a hidden width of 10 has not.
    out = tmp_path / "report"
    args = ["sweep", *TINY, "--scalings", "standard", "--norms", "group"]
    assert main([*args, "--hidden", "10", "--out", str(out)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "fits failed" in line and "groups=8" in line
    assert not out.exists()


def test_cli_report_says_why_a_candidate_failed(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["sweep", *TINY, "--scalings", "standard", "--norms", "group,layer"]
    assert main([*args, "--hidden", "10", "--out", str(out), "--no-curves"]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Failed candidates" in report
    assert "norm group: ValueError: norm='group' splits" in report
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert any("2 fits failed out of a total of 4. The report says" in e for e in err)
    assert len(err) <= 3  # one line per warning, no tracebacks


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"sknorm {__version__} (scikit-learn") and "\n" not in out


def test_cli_scoring_lr_and_early_stopping_reach_the_sweep(tmp_path, monkeypatch):
    seen = {}

    def fake_sweep(X, y, **kwargs):
        seen.update(kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr("sknorm.cli.sweep", fake_sweep)
    args = [*ONE, "--scoring", "balanced_accuracy", "--lr", "0.01", "--early-stopping"]
    assert main([*args, "--out", str(tmp_path / "r")]) == 2
    assert seen["scoring"] == "balanced_accuracy" and seen["lr"] == 0.01
    assert seen["early_stopping"] is True and seen["engine"] == "packed"
    with pytest.raises(SystemExit):
        main([*ONE, "--scoring", "nope"])


def test_cli_ensemble_prints_and_reports_the_average(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["sweep", *TINY, "--norms", "none,layer", "--no-curves"]
    assert main([*args, "--ensemble", "2", "--out", str(out)]) == 0
    assert "Ensemble: average of " in capsys.readouterr().out
    assert "**Ensemble:**" in (out / "report.md").read_text()


def test_cli_scores_the_three_best_averaged_unless_told_not_to(tmp_path, capsys):
    args = ["sweep", *TINY, "--scalings", "standard", "--norms", "none,batch,layer"]
    args += ["--no-curves"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    line = next(
        x for x in capsys.readouterr().out.splitlines() if x.startswith("Ensemble:")
    )
    assert line.count("/") == 3  # three scaling/norm pairs
    assert main([*args, "--ensemble", "0", "--out", str(tmp_path / "b")]) == 0
    assert "Ensemble:" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*args, "--ensemble", "1"])


def test_cli_report_without_curves_when_none_could_be_fitted(tmp_path, capsys):
    # 9 rows, 3 classes: the grid engine's curve fits cannot hold out 20% of
    # each class; the report is written without curves, not a crash
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.randn(9, 2), columns=["a", "b"])
    frame["t"] = np.repeat(["x", "y", "z"], 3)
    frame.to_csv(tmp_path / "nine.csv", index=False)
    out = tmp_path / "report"
    args = ["sweep", "--csv", str(tmp_path / "nine.csv"), "--target", "t"]
    args += ["--engine", "grid", "--cv", "2", "--epochs", "1", "--hidden", "4"]
    args += ["--no-progress", "--n-jobs", "1", "--scalings", "standard"]
    assert main([*args, "--norms", "none", "--out", str(out)]) == 0
    assert "warning: No training curves" in capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == {
        "results.csv",
        "heatmap.png",
        "report.md",
    }
    assert "curves.png" not in (out / "report.md").read_text()
