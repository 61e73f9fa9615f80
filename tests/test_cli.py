"""The ``sknorm sweep`` command: in-process, as ``python -m sknorm``, and its errors."""

import sys

import pytest
from sklearn.datasets import load_diabetes, load_iris

from sknorm import __version__
from sknorm._sweep import TABLE_COLUMNS
from sknorm.cli import REPORT_PACKAGES, main

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

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


def test_cli_csv_from_a_sklearn_dataset(iris_csv, tmp_path, capsys):
    out = tmp_path / "report"
    args = ["sweep", "--csv", str(iris_csv), "--target", "species", *TINY]
    args.remove("--no-progress")
    args += ["--scalings", "minmax", "--norms", "batch", "--no-curves"]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "150 samples x 4 features" in captured.out
    assert "3/3" in captured.err  # the progress bar: 2 folds + the refit

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


def test_cli_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--norms", "batch,weird"])
    assert exc.value.code == 2
    assert "weird" in capsys.readouterr().err
