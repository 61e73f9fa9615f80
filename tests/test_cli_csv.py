"""``sknorm sweep --csv`` on CSV files as they come: separators, encodings,
index columns, text, dates and blanks, the task it chooses, and the report's
column section."""

import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sknorm.cli import _kinds, _load_data, _scalings, build_parser, main

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

# never the user's own sknorm-report/: the README's first command writes one
pytestmark = pytest.mark.usefixtures("in_empty_folder")

LOANS = Path(__file__).resolve().parents[1] / "examples" / "data" / "loans.csv"
TINY = ["--cv", "2", "--epochs", "1", "--hidden", "4", "--no-progress"]
TINY += ["--n-jobs", "1", "--scalings", "standard", "--norms", "none", "--no-curves"]


def _load(*args):
    """What the command reads: ``X, y, description, left_out``."""
    return _load_data(build_parser().parse_args(["sweep", *map(str, args)]))


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def _error(capsys, *args):
    """The one line the command prints on stderr when it exits with status 2."""
    assert main(["sweep", *map(str, args), *TINY]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sknorm sweep: error: ")
    return lines[0]


# -- the file that ships with the project ------------------------------------------
def test_loans_csv_is_what_its_script_writes(tmp_path):
    script = runpy.run_path(str(LOANS.with_name("make_loans_csv.py")))
    written = script["write_loans_csv"](tmp_path / "loans.csv")
    assert written.read_bytes() == LOANS.read_bytes()


def test_cli_sweeps_loans_csv_from_raw(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["sweep", "--csv", LOANS, "--target", "default", *TINY, "--out", out]
    args[args.index("none")] = "none,layer"
    assert main([str(a) for a in args]) == 0
    captured = capsys.readouterr()
    assert "row numbers (0..599): read as the index" in captured.err
    assert "600 samples x 8 features" in captured.out
    assert "Columns: 3 numeric, 4 category, 1 date; not used: 'Unnamed: 0'" in (
        captured.out
    )
    assert "Task: classification (y holds 2 distinct text labels)" in captured.out
    assert "Best: scaling=standard" in captured.out
    report = (out / "report.md").read_text(encoding="utf-8")
    columns = report.split("## Columns")[1]
    assert "| age | numeric | 4.7% | blanks filled with the median (48)" in columns
    assert "| employed | category | 6.3% | one-hot, 3 categories kept" in columns
    assert "| has\\_phone | category | 0.0% | one-hot, 2 categories kept |" in columns
    assert "| job | category | 5.8% | one-hot, 19 categories kept" in columns
    assert "21 rarer ones share one infrequent column (job\\_" in columns
    assert "| opened | date | 4.7% |" in columns
    assert "became days, year, month, day, weekday; scaled (standard)" in columns
    assert "- Unnamed: 0: not used (row numbers, an index)" in columns


# -- reading -------------------------------------------------------------------------
def test_csv_types_text_dates_booleans_and_blanks(tmp_path):
    csv = _write(
        tmp_path / "d.csv",
        "size,city,when,ok,y\n1.5,Lyon,2021-03-04,True,a\n,Paris,,,b\n"
        "2,,2022-01-31T10:00,False,a\n",
    )
    X, y, _, left_out = _load("--csv", csv, "--target", "y")
    assert X["size"].dtype == np.float64
    assert isinstance(X["city"].dtype, pd.CategoricalDtype)
    assert pd.api.types.is_datetime64_any_dtype(X["when"])
    assert X["when"].isna().tolist() == [False, True, False]
    assert X["ok"].tolist()[::2] == [True, False]
    assert y.tolist() == ["a", "b", "a"] and left_out == []


@pytest.mark.parametrize(
    ("text", "args", "separator"),
    [
        ("a;b;y\n1,5;2;x\n3;4;z\n", ["--decimal", ","], "';'"),
        ("a\tb\ty\n1\t2\tx\n3\t4\tz\n", [], "'\\t'"),
        ("a|b|y\n1|2|x\n3|4|z\n", ["--sep", "|"], "'|'"),
        ("a,b,y\n1,2,x\n3,4,z\n", [], None),
    ],
    ids=["sniffed-semicolon", "sniffed-tab", "given", "comma"],
)
def test_csv_separator(tmp_path, text, args, separator):
    csv = _write(tmp_path / "d.csv", text)
    X, y, description, _ = _load("--csv", csv, "--target", "y", *args)
    assert list(X.columns) == ["a", "b"] and y.tolist() == ["x", "z"]
    assert pd.api.types.is_numeric_dtype(X["a"])
    assert (f"(separator {separator})" in description) == (separator is not None)


def test_csv_encoding(tmp_path, capsys):
    csv = _write(tmp_path / "d.csv", "ville,n,y\ncafé,1,a\nnoël,2,b\n", "latin-1")
    line = _error(capsys, "--csv", csv, "--target", "y")
    assert "as utf-8-sig text" in line and "--encoding latin-1" in line
    X, _, _, _ = _load("--csv", csv, "--target", "y", "--encoding", "latin-1")
    assert X["ville"].tolist() == ["café", "noël"]


def test_csv_drop(tmp_path, capsys):
    csv = _write(tmp_path / "d.csv", "id,name,a,y\n1,p,2,x\n2,q,3,z\n")
    X, _, _, left_out = _load("--csv", csv, "--target", "y", "--drop", "id, name")
    assert list(X.columns) == ["a"]
    assert left_out == [("id", "--drop"), ("name", "--drop")]
    line = _error(capsys, "--csv", csv, "--target", "y", "--drop", "id,nope,zip")
    assert "--drop names columns not in" in line
    assert "'nope', 'zip'" in line and "'id'," not in line.split(";")[0]


def test_csv_unnamed_index_is_dropped_with_a_note(tmp_path, capsys):
    frame = pd.DataFrame({"a": [0.5, 1.5, 2.5], "y": ["x", "z", "x"]})
    frame.to_csv(tmp_path / "d.csv")  # index=True: a leading nameless column
    X, _, _, left_out = _load("--csv", tmp_path / "d.csv", "--target", "y")
    assert list(X.columns) == ["a"]
    assert left_out == [("Unnamed: 0", "row numbers, an index")]
    assert "note: the first column of" in capsys.readouterr().err


def test_csv_unnamed_column_of_values_is_kept(tmp_path):
    csv = _write(tmp_path / "d.csv", ",a,y\n0.5,1,x\n0.7,2,z\n")
    X, _, _, left_out = _load("--csv", csv, "--target", "y")
    assert list(X.columns) == ["Unnamed: 0", "a"] and left_out == []


# -- errors: one line naming the column ------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b,a,y\n1,2,3,x\n4,5,6,z\n", "duplicate column names in"),
        ("a,notes,y\n1,,x\n2,,z\n", "Column 'notes' is blank in every row"),
        ("a,code,y\n1,7,x\n2,B12,z\n", "Column 'code' mixes numbers and text (e.g. 7"),
        ("a,b,y\n1,2,x\n3,4,\n", "y ('y') is blank in 1 of 2 rows"),
        ("a,b,y\n1,inf,x\n3,4,z\n", "Column 'b' contains infinity"),
    ],
    ids=["duplicates", "all-blank", "mixed", "blank-target", "infinity"],
)
def test_csv_bad_column_is_a_one_line_error(tmp_path, capsys, text, expected):
    csv = _write(tmp_path / "d.csv", text)
    assert expected in _error(capsys, "--csv", csv, "--target", "y")


def test_csv_decimal_commas_get_a_hint(tmp_path, capsys):
    # in a comma-separated file (a ";" file reads them as numbers, below)
    csv = _write(tmp_path / "d.csv", 'a,b,y\n"1,5",2,x\n3,4,z\n')
    line = _error(capsys, "--csv", csv, "--target", "y")
    assert "Column 'a' mixes numbers and text" in line
    assert line.endswith("(decimal commas? give --decimal ,)")


def test_csv_columns_of_decimal_commas_are_numbers_with_a_note(tmp_path, capsys):
    # ";" between fields and "," in every number, as European spreadsheets
    # write them: numbers (the target too), each column noted
    csv = _write(tmp_path / "d.csv", "a;b;y\n0,942;x;1,5\n-1,397;z;2\n")
    X, y, _, _ = _load("--csv", csv, "--target", "y")
    assert X["a"].tolist() == [0.942, -1.397] and y.tolist() == [1.5, 2.0]
    assert X["b"].dtype == "category"
    err = capsys.readouterr().err
    assert "note: column 'a' holds numbers with decimal commas (0,942)" in err
    assert "column 'y'" in err and "column 'b'" not in err
    # "," between fields: a quoted "1,234" is text (likely a thousand), as before
    csv = _write(tmp_path / "c.csv", 'a,n,y\n"1,234",1,x\n"2,5",2,z\n')
    X, _, _, _ = _load("--csv", csv, "--target", "y")
    assert X["a"].dtype == "category"


def test_csv_identifier_column_gets_a_note(tmp_path, capsys):
    rows = "".join(f"cust{i:04d},{i % 7},{'xz'[i % 2]}\n" for i in range(30))
    csv = _write(tmp_path / "d.csv", "id,a,y\n" + rows)
    _load("--csv", csv, "--target", "y")
    err = capsys.readouterr().err
    assert "note: column 'id' holds a different value in every row: an ident" in err
    assert "(cust0000, ...)" in err
    assert "--drop id" in err and "column 'a'" not in err
    _load("--csv", csv, "--target", "y", "--drop", "id")
    assert "identifier" not in capsys.readouterr().err
    # money, percents and local dates: notes, and still text (categories)
    csv = _write(
        tmp_path / "m.csv",
        'price,share,day,y\n"$1,234.50",12.3%,31/12/2024,x\n$99,5 %,01/02/2023,z\n',
    )
    X, _, _, _ = _load("--csv", csv, "--target", "y")
    err = capsys.readouterr().err
    assert "column 'price' holds numbers written with signs" in err
    assert "column 'share' holds numbers written with signs" in err
    assert "column 'day' holds dates, not written as ISO 8601" in err
    assert (X.dtypes == "category").all()


def test_csv_names_with_spaces_around_them_are_read_without(tmp_path):
    csv = _write(tmp_path / "d.csv", "a , b, t \n1,2,x\n3,4,z\n")
    for target in ("t", " t "):
        X, y, _, _ = _load("--csv", csv, "--target", target, "--drop", " b")
        assert list(X.columns) == ["a"] and y.tolist() == ["x", "z"]


def test_csv_duplicate_names_are_named_with_their_places(tmp_path, capsys):
    csv = _write(tmp_path / "d.csv", "a,b,a,y,b\n1,2,3,x,4\n")
    line = _error(capsys, "--csv", csv, "--target", "y")
    assert "'a' (columns 1, 3), 'b' (columns 2, 5)" in line


# -- the task ------------------------------------------------------------------------
def _run(capsys, csv, *args):
    out = csv.parent / "report"
    assert main(["sweep", "--csv", str(csv), *args, *TINY, "--out", str(out)]) == 0
    return capsys.readouterr(), (out / "report.md").read_text(encoding="utf-8")


def test_cli_default_scalings_leave_none_out_for_a_date(tmp_path, capsys):
    csv = _write(tmp_path / "d.csv", "a,when,y\n1,2020-01-02,x\n2,2021-05-06,z\n")
    args = build_parser().parse_args(["sweep", "--csv", str(csv), "--target", "y"])
    X, _, _, _ = _load_data(args)
    assert _scalings(args, _kinds(X)) == ["minmax", "standard", "plr"]
    assert "scaling 'none' left out: date column 'when'" in capsys.readouterr().err
    args.scalings = ["none"]
    assert _scalings(args, _kinds(X)) == ["none"]  # asked for: the sweep refuses
    tiny = [*TINY[: TINY.index("--scalings")], "--scalings", "none"]
    assert main(["sweep", "--csv", str(csv), "--target", "y", *tiny]) == 2
    line = capsys.readouterr().err.strip()
    assert "Date column 'when' must be scaled, but scalings include 'none'" in line


def test_cli_integer_price_is_a_regression(tmp_path, capsys):
    rng = np.random.RandomState(0)
    price = np.r_[np.arange(1500, 2532), rng.randint(1500, 2532, size=68)] * 100
    frame = pd.DataFrame({"rooms": rng.randint(1, 6, size=1100), "price": price})
    frame.to_csv(tmp_path / "houses.csv", index=False)
    captured, report = _run(capsys, tmp_path / "houses.csv", "--target", "price")
    line = "Task: regression (y has 1,032 distinct whole-number values, more than 20)"
    assert line in captured.out
    assert "mean r2" in captured.out
    assert "- **Task:** regression (y has 1,032 distinct" in report


def _zero_one(tmp_path):
    """Float 0./1. labels, and columns whose names are Markdown."""
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "# heading": rng.normal(size=40),
            "![x](http://h/p.png)": rng.choice(["a", "b"], size=40),
            "label": np.tile([0.0, 1.0], 20),
        }
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    return tmp_path / "d.csv"


def test_cli_float_zero_one_is_a_classification(tmp_path, capsys):
    captured, report = _run(capsys, _zero_one(tmp_path), "--target", "label")
    assert "Task: classification (y has 2 distinct whole-number values" in (
        captured.out
    )
    assert "mean accuracy" in captured.out
    assert "| \\# heading | numeric |" in report
    assert "| \\!\\[x\\]\\(http://h/p\\.png\\) | category |" in report
    assert "![x](" not in report and "\n# heading" not in report


def test_cli_task_override(tmp_path, capsys):
    csv = _zero_one(tmp_path)
    captured, report = _run(capsys, csv, "--target", "label", "--task", "regression")
    assert "Task: regression (--task regression)" in captured.out
    assert "mean r2" in captured.out
    assert "task='regression' was given" in report


def test_cli_many_classes_warn_in_one_line(tmp_path, capsys):
    rows = "".join(f"{i},c{i // 2}\n" for i in range(120))
    csv = _write(tmp_path / "d.csv", "a,y\n" + rows)
    captured, _ = _run(capsys, csv, "--target", "y")
    warning = [line for line in captured.err.splitlines() if "60 classes" in line]
    assert warning == [
        "sknorm sweep: warning: y has 60 classes with 2.0 rows each on average: "
        "too few to learn most of them. If y is a quantity, use task='regression'."
    ]
