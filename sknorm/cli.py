"""The ``sknorm`` command: ``sknorm sweep`` runs the normalization sweep.

It cross-validates every input scaling x hidden norm combination on a CSV file
(or on scikit-learn's breast cancer data), prints the task it chose and the
table, and writes a report directory: ``results.csv``, ``curves.csv``,
``heatmap.png``, ``curves.png`` and ``report.md``. A CSV is read as it comes:
the separator sniffed, a pandas index column dropped, text columns as
categories, ISO dates as dates, blanks as missing values. Needs the ``report``
extra (``pip install 'sknorm[report]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import re
import shlex
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import skorch
import torch
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import get_scorer_names

from ._norms import NORMS
from ._optional import import_optional
from ._pipeline import DEFAULT_NORMS, DEFAULT_SCALINGS, SCALE_STEP, SWEEP_SCALINGS
from ._plotting import plot_curves, plot_score_heatmap
from ._sweep import (
    CANDIDATE_COLUMNS,
    ENGINES,
    TABLE_COLUMNS,
    TASKS,
    _check_target,
    _resolve_task,
    sweep,
)
from ._tabular import COLUMN_KINDS, TabularScaler, column_kind
from ._version import __version__

__all__ = ["main"]

DEFAULT_OUT = "sknorm-report"
#: What the command needs beyond sknorm's own dependencies: the report extra.
REPORT_PACKAGES = ("matplotlib", "tqdm")
#: Separators the sniffer chooses from, and how much of the file it reads.
SEPARATORS = ",;\t|"
SNIFF_CHARS = 64 * 1024
#: The default encoding: UTF-8, with or without the byte-order mark Excel writes.
DEFAULT_ENCODING = "utf-8-sig"
#: The command's network defaults: small enough for the default 4 x 3 x 5-fold
#: sweep on the breast cancer data to take seconds on two cores.
DEFAULT_EPOCHS = 30
DEFAULT_HIDDEN = (64, 64)
DEFAULT_BATCH_SIZE = 64


class InputError(Exception):
    """A problem with the command's input, reported as one line (exit status 2)."""


# -- arguments ---------------------------------------------------------------------
def _names(allowed: Sequence[str]):
    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in allowed]
        if not values or unknown:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {', '.join(allowed)}; got {text!r}"
            )
        return list(dict.fromkeys(values))

    return parse


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, e.g. 64,64; got {text!r}"
        )
    return sizes


def _ensemble_size(text: str) -> int | str:
    """0 (no ensemble), an integer >= 2, or "auto" (sweep's default)."""
    text = text.strip()
    if text == "auto":
        return text
    return 0 if text == "0" else _at_least(2)(text)


def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, got {text!r}"
            )
        return value

    return parse


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``sknorm`` command."""
    parser = argparse.ArgumentParser(
        prog=prog or "sknorm",
        description="Input scaling and hidden-layer normalization for "
        "scikit-learn MLPs.",
        formatter_class=argparse.RawTextHelpFormatter,  # the version on one line
    )
    parser.add_argument("--version", action="version", version=_versions())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = commands.add_parser(
        "sweep",
        help="cross-validate every input scaling x hidden norm combination",
        description="Cross-validate every input scaling x hidden-layer norm "
        "combination of an MLP, print the scores and write a report (results.csv, "
        "heatmap.png, curves.png, curves.csv, report.md). Without --csv it uses "
        "scikit-learn's breast cancer data set.",
        formatter_class=_DefaultsFormatter,
    )
    _add_data_arguments(command.add_argument_group("data"))
    _add_sweep_arguments(command.add_argument_group("sweep"))
    _add_run_arguments(command.add_argument_group("run"))
    return parser


def _columns(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected column names; got {text!r}")
    return list(dict.fromkeys(names))


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's "(default: ...)" after each option, except where the default
    is None: those options' help says what happens without them (a default
    that depends on the data), which "(default: None)" would contradict."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None:
            return action.help or ""
        return super()._get_help_string(action)


def _add_data_arguments(group) -> None:
    group.add_argument("--csv", metavar="PATH", type=Path, help="CSV file to load")
    group.add_argument(
        "--target",
        metavar="COLUMN",
        help="the CSV's target column; every other column is a feature (numbers, "
        "text as categories, ISO dates as dates, blanks as missing values)",
    )
    group.add_argument(
        "--task",
        choices=TASKS,
        default="auto",
        help="the task; auto: text and boolean targets are classes, and numbers "
        "are when they are whole with few distinct values (see sknorm.sweep)",
    )
    group.add_argument(
        "--sep",
        metavar="CHAR",
        help="the CSV's separator (default: sniffed from the first lines)",
    )
    group.add_argument(
        "--decimal", default=".", metavar="CHAR", help="the CSV's decimal mark"
    )
    group.add_argument(
        "--encoding", default=DEFAULT_ENCODING, help="the CSV's text encoding"
    )
    group.add_argument(
        "--drop",
        type=_columns,
        metavar="COLUMNS",
        help="comma-separated columns to leave out, e.g. id,name",
    )


def _scorer(text: str) -> str:
    if text not in get_scorer_names():
        raise argparse.ArgumentTypeError(
            f"unknown scorer {text!r}; scikit-learn's names include accuracy, "
            "balanced_accuracy, f1, roc_auc, neg_log_loss, r2, "
            "neg_mean_absolute_error"
        )
    return text


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _add_sweep_arguments(group) -> None:
    group.add_argument(
        "--scoring",
        type=_scorer,
        default=None,
        help="a scikit-learn scorer name (default: accuracy or r2)",
    )
    group.add_argument("--lr", type=_positive, default=1e-3, help="learning rate")
    group.add_argument(
        "--ensemble",
        type=_ensemble_size,
        default="auto",
        metavar="K",
        help="score the average of the K best candidates on the same folds "
        "(packed engine only; default 'auto', as sweep(): 3 on the packed engine, "
        "none on the grid one; 0: none)",
    )
    group.add_argument(
        "--early-stopping",
        action="store_true",
        help="hold out 10%% of each fold's training rows and keep the best epoch, "
        "--epochs at most (the estimators' default recipe; without it every "
        "candidate trains exactly --epochs epochs, on all its rows)",
    )
    group.add_argument(
        "--scalings",
        type=_names(SWEEP_SCALINGS),
        default=None,
        metavar="LIST",
        help=f"input scalings to try, from {','.join(SWEEP_SCALINGS)} (default: "
        f"{','.join(DEFAULT_SCALINGS)}, without none when there is a date column, "
        "which must be scaled)",
    )
    group.add_argument(
        "--norms",
        type=_names(NORMS),
        default=",".join(DEFAULT_NORMS),
        metavar="LIST",
        help=f"hidden-layer norms to try, from {','.join(NORMS)}",
    )
    group.add_argument("--cv", type=_at_least(2), default=5, help="number of CV folds")
    group.add_argument(
        "--epochs", type=_at_least(1), default=DEFAULT_EPOCHS, help="epochs per fit"
    )
    group.add_argument(
        "--hidden",
        type=_sizes,
        default=",".join(map(str, DEFAULT_HIDDEN)),
        metavar="SIZES",
        help="hidden layer widths, e.g. 128,128",
    )
    group.add_argument(
        "--batch-size", type=_at_least(2), default=DEFAULT_BATCH_SIZE, help="batch size"
    )
    group.add_argument("--seed", type=int, default=0, help="random seed")


def _add_run_arguments(group) -> None:
    group.add_argument(
        "--engine",
        choices=ENGINES,
        default="packed",
        help="packed: every candidate and fold trained at once (falls back to "
        "grid, with a note, when it cannot pack); grid: one fit after another",
    )
    group.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="grid engine: parallel fits (default 1, in this process, as in "
        "scikit-learn; -1: one per core); packed engine: worker threads, each "
        "training a share of the members (default: every core, when the run is "
        "big enough to pay)",
    )
    group.add_argument(
        "--device",
        default="cpu",
        help="where the networks train: cpu (default), or cuda for a GPU, where "
        "the packed engine trains every candidate and fold as one stack",
    )
    group.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the fits (grid engine) or the groups of members (packed engine) "
        "on the Dask scheduler at ADDRESS (e.g. tcp://host:8786)",
    )
    group.add_argument(
        "--out", type=Path, default=Path(DEFAULT_OUT), help="report folder"
    )
    group.add_argument(
        "--force",
        action="store_true",
        help="replace the report folder when it exists and holds only an earlier "
        "report's files (it is never overwritten otherwise)",
    )
    group.add_argument(
        "--no-progress", action="store_true", help="do not show the progress bar"
    )
    group.add_argument(
        "--no-curves",
        action="store_true",
        help="skip the training curves (with --engine grid they cost one extra "
        "fit per candidate; the packed engine records them in its run)",
    )


# -- data --------------------------------------------------------------------------
def _listing(names, limit: int = 8) -> str:
    names = [repr(str(n)) for n in names]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _sample(path: Path, encoding: str) -> str:
    """The file's first complete lines, up to :data:`SNIFF_CHARS` characters."""
    if not path.exists():
        raise InputError(f"CSV file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a CSV file")
    try:
        with path.open(encoding=encoding, newline="") as file:
            sample = file.read(SNIFF_CHARS)
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        raise InputError(_decode_error(path, encoding, exc)) from None
    if not sample.strip():
        raise InputError(f"CSV file {path} is empty")
    complete = sample[: sample.rfind("\n") + 1]
    return complete or sample


def _decode_error(path: Path, encoding: str, exc: UnicodeDecodeError) -> str:
    return (
        f"cannot read {path} as {encoding} text ({exc.reason} at byte "
        f"{exc.start}); give its encoding, e.g. --encoding latin-1"
    )


def _sniff(sample: str) -> str:
    """The separator of the sample's lines, from :data:`SEPARATORS`; "," if unclear."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        return ","


def _check_header(names: list[str], path: Path) -> None:
    """An InputError naming every column name used twice or more."""
    places: dict[str, list[int]] = {}
    for number, name in enumerate(names, start=1):
        if name.strip():
            places.setdefault(name, []).append(number)
    repeated = [
        f"{name!r} (columns {', '.join(map(str, numbers))})"
        for name, numbers in places.items()
        if len(numbers) > 1
    ]
    if repeated:
        raise InputError(
            f"duplicate column names in {path}: {', '.join(repeated)}; rename them"
        )


def _read_csv(path: Path, sep: str | None, encoding: str, decimal: str):
    """``(frame, separator, header)``: the CSV file read as text and values."""
    sample = _sample(path, encoding)
    sep = sep or _sniff(sample)
    header = next(csv.reader(io.StringIO(sample), delimiter=sep), [])
    _check_header([name.strip() for name in header], path)
    try:
        frame = pd.read_csv(
            path, sep=sep, encoding=encoding, decimal=decimal, skipinitialspace=True
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"CSV file {path} is empty") from None
    except UnicodeDecodeError as exc:
        raise InputError(_decode_error(path, encoding, exc)) from None
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc
        raise InputError(f"cannot read CSV file {path}: {reason}") from None
    # names as written but for spaces around them (" t " is t: _check_header
    # refused names that only they tell apart)
    frame.columns = [name.strip() if isinstance(name, str) else name for name in frame]
    return frame, sep, header


def _is_row_numbers(column) -> bool:
    """Whether ``column`` holds a distinct whole number per row: an index."""
    return bool(
        pd.api.types.is_integer_dtype(column)
        and column.notna().all()
        and column.is_unique
        and (column >= 0).all()
    )


def _drop_index(frame, header: list[str], path: Path):
    """``frame`` without a leading nameless column of row numbers, which is the
    index pandas writes (``to_csv`` with ``index=True``), and the note saying so."""
    first = frame.columns[0]
    nameless = bool(header) and not header[0].strip()
    if not nameless or frame.shape[1] < 2 or not _is_row_numbers(frame[first]):
        return frame, []
    note = (
        f"the first column of {path} has no name and holds row numbers "
        f"({frame[first].min()}..{frame[first].max()}): read as the index, not "
        "used as a feature"
    )
    print(f"note: {note}", file=sys.stderr)
    return frame.drop(columns=[first]), [(str(first), "row numbers, an index")]


def _drop_columns(frame, drop: list[str], target: str, path: Path):
    """``frame`` without the ``--drop`` columns, each of which must exist."""
    unknown = [name for name in drop if name not in frame.columns]
    if unknown:
        raise InputError(
            f"--drop names columns not in {path}: {_listing(unknown)}; its "
            f"columns are {_listing(frame.columns)}"
        )
    if target in drop:
        raise InputError(f"--drop names the target column {target!r}")
    return frame.drop(columns=drop), [(name, "--drop") for name in drop]


def _split_target(frame, target: str, path: Path):
    """``X, y``: every other column and the target column."""
    if target not in frame.columns:
        raise InputError(
            f"target column {target!r} not found in {path}; its columns are "
            f"{_listing(frame.columns)}"
        )
    if frame.empty:
        raise InputError(f"CSV file {path} has a header but no data rows")
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise InputError(f"CSV file {path} has no feature columns besides {target!r}")
    return X, frame[target]


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _decimal_commas(name: str, column):
    """A text column whose every value is a number written with a decimal
    comma ("0,942", as a CSV with ";" between fields has them) as numbers,
    with a note; None for any other column."""
    if pd.api.types.infer_dtype(column, skipna=True) != "string":
        return None
    text = column.dropna().astype(str)
    numbers = pd.to_numeric(text.str.replace(",", ".", regex=False), "coerce")
    if not text.size or numbers.isna().any() or not text.str.contains(",").any():
        return None
    print(
        f"note: column {name!r} holds numbers with decimal commas "
        f"({text.iloc[0]}): read as numbers (--decimal , says so for every column)",
        file=sys.stderr,
    )
    return pd.to_numeric(column.str.replace(",", ".", regex=False), errors="coerce")


def _typed(name: str, column, commas: bool = False):
    """A text column as what its values are: dates when every non-blank value is
    an ISO 8601 date, else categories; numbers mixed with text are an error.
    ``commas``: numbers may have decimal commas (not where "," separates the
    fields: there a quoted "1,234" is more likely a thousand)."""
    if pd.api.types.infer_dtype(column, skipna=True) != "string":
        return column
    if commas and (numbers := _decimal_commas(name, column)) is not None:
        return numbers  # "0,5" beside "1" too
    text = column.dropna()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().any():  # pandas reads a column of numbers only as numbers
        mixed = text.astype(object).where(numbers.isna(), numbers.map(_number))
        try:
            column_kind(name, mixed)
        except (ValueError, TypeError) as exc:
            commas = pd.to_numeric(text.str.replace(",", "."), errors="coerce")
            hint = " (decimal commas? give --decimal ,)" if commas.notna().all() else ""
            raise InputError(f"{exc}{hint}") from None
    dates = pd.to_datetime(column, format="ISO8601", errors="coerce", utc=True)
    if dates.notna().sum() == text.size:
        return dates
    return column.astype("category")


#: Text around numbers that a spreadsheet writes: currency signs, percent
#: and thousands separators ("$1,234.56", "12.3 %").
_UNITS = re.compile(r"[\s$€£¥%,]")
#: Day-first or month-first dates ("31/12/2024", "12-31-24"), not ISO 8601.
_LOCAL_DATE = re.compile(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}$")


def _note_odd_text(X, min_rows: int = 20) -> None:
    """A note for each text column that is likely something else, each encoded
    as text (categories) all the same: a different value in every row (of at
    least ``min_rows``: an identifier, whose few kept categories one-hot
    encode single rows), numbers with currency or percent signs, dates that
    are not ISO 8601."""
    for name in X.columns:
        column = X[name]
        if column.dtype != "category":
            continue
        text = column.dropna().astype(str)
        if text.empty:
            continue
        first = text.iloc[0]
        stripped = text.str.replace(_UNITS, "", regex=True)
        if pd.to_numeric(stripped, errors="coerce").notna().all():
            what = "numbers written with signs or separators"
            way = f"write them as plain numbers, or --drop {name}"
        elif text.str.match(_LOCAL_DATE).all():
            what = "dates, not written as ISO 8601 (2024-12-31)"
            way = f"write them as YYYY-MM-DD, or --drop {name}"
        elif len(text) >= min_rows and text.nunique() == len(text):
            what = "a different value in every row: an identifier?"
            way = f"--drop {name} leaves it out"
        else:
            continue
        print(
            f"note: column {name!r} holds {what} ({first}, ...); it is encoded as "
            f"text: {way}",
            file=sys.stderr,
        )


def _load_csv(args):
    """``X, y, description, notes``: the ``--csv`` file, ready for the sweep."""
    path, target = args.csv, args.target.strip()
    frame, sep, header = _read_csv(path, args.sep, args.encoding, args.decimal)
    frame, notes = _drop_index(frame, header, path)
    drop = [name.strip() for name in args.drop or []]
    frame, dropped = _drop_columns(frame, drop, target, path)
    X, y = _split_target(frame, target, path)
    commas = sep != "," and args.decimal == "."
    numbers = _decimal_commas(target, y) if commas else None
    y = y if numbers is None else numbers
    X = pd.DataFrame({name: _typed(str(name), X[name], commas) for name in X})
    _note_odd_text(X)
    separator = "" if sep == "," else f" (separator {sep!r})"
    description = (
        f"{_code(str(path))}{separator}, target column {_code(target)}: "
        f"{X.shape[0]} samples x {X.shape[1]} features"
    )
    return X, y, description, notes + dropped


def _load_default():
    data = load_breast_cancer(as_frame=True)
    y = data.target.map(dict(enumerate(data.target_names))).rename("diagnosis")
    description = (
        "breast cancer (scikit-learn `load_breast_cancer`): "
        f"{data.data.shape[0]} samples x {data.data.shape[1]} features, "
        f"target `diagnosis` ({' / '.join(data.target_names)})"
    )
    return data.data, y, description


def _load_data(args):
    """``X, y, description, notes``: the ``--csv`` file or the breast cancer
    data; the notes are ``(column, why)`` for the columns left out."""
    if args.csv is None:
        if args.target is not None:
            raise InputError("--target needs --csv")
        return (*_load_default(), [])
    if args.target is None:
        raise InputError("--csv needs --target COLUMN")
    return _load_csv(args)


# -- output ------------------------------------------------------------------------
#: What Markdown reads as markup, anywhere on a line (a backslash makes it text).
_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")


def _md(text: str) -> str:
    """``text`` as literal Markdown: every markup character escaped, so that a
    column named ``# heading`` or ``![x](http://h/p.png)`` stays text."""
    return _MARKUP.sub(r"\\\1", " ".join(str(text).split()))


def _code(text: str) -> str:
    """``text`` as a Markdown code span, whatever backticks it holds."""
    text = " ".join(str(text).split())
    runs = re.findall(r"`+", text)
    fence = "`" * (max(map(len, runs), default=0) + 1)
    pad = " " if text[:1] in "` " or text[-1:] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _display_table(table, scoring: str):
    """The result table with readable headers and rounded numbers, as strings."""
    rank_first = ["rank", *(c for c in TABLE_COLUMNS if c != "rank")]
    return table.assign(
        mean_score=table["mean_score"].map("{:.4f}".format),
        std_score=table["std_score"].map("{:.4f}".format),
        mean_fit_time=table["mean_fit_time"].map("{:.2f}".format),
    )[rank_first].rename(
        columns={
            "mean_score": f"mean {scoring}",
            "std_score": "std",
            "mean_fit_time": "fit time (s)",
        }
    )


#: Left-aligned in the printed and markdown tables; numbers go right.
_TEXT_COLUMNS = CANDIDATE_COLUMNS


def _text_table(frame) -> str:
    """Fixed-width table: names left-aligned, numbers right-aligned."""
    cells = [list(map(str, frame.columns))]
    cells += [[str(v) for v in row] for row in frame.to_numpy()]
    widths = [max(len(row[j]) for row in cells) for j in range(len(frame.columns))]
    left = [c in _TEXT_COLUMNS for c in frame.columns]
    lines = [
        "  ".join(
            cell.ljust(w) if is_left else cell.rjust(w)
            for cell, w, is_left in zip(row, widths, left, strict=True)
        ).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def _markdown_table(frame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = (
        "|"
        + "|".join(":---" if c in _TEXT_COLUMNS else "---:" for c in frame.columns)
        + "|"
    )
    rows = ["| " + " | ".join(map(str, r)) + " |" for r in frame.to_numpy()]
    return "\n".join([header, rule, *rows])


def _blanks(scaler, name: str, kind: str) -> str:
    """How the blanks of a numeric or date column are filled, or ""."""
    if scaler.missing_share_[name] == 0:
        return ""
    impute = scaler.transformer_.named_transformers_["numeric"]["impute"]
    column = f"{name}_days" if kind == "date" else name
    median = impute.statistics_[list(impute.feature_names_in_).index(column)]
    if kind == "date":
        median = str(np.datetime64("1970-01-01", "D") + round(float(median)))
    else:
        median = f"{median:,.6g}"
    marked = ", marked in a 0/1 column" if scaler.missing_indicators else ""
    return f"blanks filled with the median ({median}){marked}; "


def _category_treatment(encoder, name: str) -> str:
    """Categories kept, and the infrequent group when there is one."""
    index = list(encoder.feature_names_in_).index(name)
    categories = list(encoder.categories_[index])
    infrequent = encoder.infrequent_categories_[index]
    infrequent = [] if infrequent is None else list(infrequent)
    text = f"one-hot, {len(categories) - len(infrequent)} categories kept"
    if any(pd.isna(c) for c in categories):
        text += " (a blank is a category)"
    if infrequent:
        examples = ", ".join(_md(c) for c in infrequent[:5])
        more = ", ..." if len(infrequent) > 5 else ""
        text += (
            f"; {len(infrequent)} rarer ones share one infrequent column "
            f"({examples}{more}), as do values first seen at predict"
        )
    return text


def _treatment(scaler, name: str, kind: str) -> str:
    """How the fitted :class:`TabularScaler` turns column ``name`` into inputs."""
    scaled = "not scaled" if scaler.method == "none" else f"scaled ({scaler.method})"
    if kind == "numeric":
        return _blanks(scaler, name, kind) + scaled
    if kind == "date":
        parts = ", ".join(scaler.date_parts_[name])
        return f"{_blanks(scaler, name, kind)}became {parts}; {scaled}"
    encoder = scaler.transformer_.named_transformers_["categories"]
    return _category_treatment(encoder, name)


def _best_scaler(result, X, y):
    """The best candidate's scaling step fitted on all the rows: what the
    report's Columns section reads. (The command writes no model, so the
    sweep refits no network: only this step is fitted again.)"""
    pipe = clone(result.search.estimator).set_params(**result.best_params)
    return pipe[:-1].fit(X, y).named_steps[SCALE_STEP]


def _columns_section(scaler, left_out) -> list[str]:
    """Report lines: how the best pipeline's scaler treated each column."""
    if not isinstance(scaler, TabularScaler):
        return []
    lines = [
        "## Columns",
        "",
        "How the best pipeline turns each column into network inputs, fitted on "
        "all the rows (inside each CV fold, on that fold's training rows).",
        "",
        "| column | kind | missing | treatment |",
        "|:---|:---|---:|:---|",
    ]
    for name, kind in scaler.column_kinds_.items():
        share = f"{scaler.missing_share_[name]:.1%}"
        treatment = _treatment(scaler, name, kind)
        lines.append(f"| {_md(name)} | {kind} | {share} | {treatment} |")
    lines += ["", *(f"- {_md(name)}: not used ({why})" for name, why in left_out)]
    return [*lines, ""] if left_out else lines


def _best_line(result) -> str:
    best = result.table.iloc[0]
    return (
        f"scaling={best['scaling']}, norm={best['norm']} "
        f"({result.scoring} {best['mean_score']:.4f} ± {best['std_score']:.4f})"
    )


def _versions() -> str:
    return (
        f"sknorm {__version__} (scikit-learn {sklearn.__version__}, "
        f"skorch {skorch.__version__}, torch {torch.__version__}, "
        f"Python {sys.version.split()[0]})"
    )


def _failures_section(result) -> list[str]:
    """Why each failed candidate failed (its first failed fold)."""
    if not result.failures:
        return []
    lines = ["## Failed candidates", ""]
    lines += [
        f"- scaling {_md(scaling)}, norm {_md(norm)}: {_md(error)}"
        for (scaling, norm), error in result.failures.items()
    ]
    return [*lines, ""]


def _report(
    result, *, out: Path, description, left_out, command, settings, elapsed, scaler
) -> str:
    cv = result.search.cv
    lines = [
        "# sknorm normalization sweep",
        "",
        f"- **Data set:** {description}",
        f"- **Task:** {result.task} ({_md(result.task_reason)}) with "
        f"`{type(result.search.estimator[-1]).__name__}`, {settings}",
        f"- **Cross-validation:** `{cv!r}`, scoring {result.scoring}",
        f"- **Command:** {_code(command)}",
        f"- **Version:** {_versions()}",
        f"- **Run time:** {elapsed:.1f} s",
        f"- **Best candidate:** {_best_line(result)}",
        *(
            [f"- **Ensemble:** {_ensemble_line(result)}"]
            if result.ensemble_score is not None
            else []
        ),
        "",
        "## Scores",
        "",
        f"Mean and standard deviation of the {result.scoring} over the "
        f"{cv.get_n_splits()} CV folds, best first; fit time is the mean per fold.",
        "",
        _markdown_table(_display_table(result.table, result.scoring)),
        "",
        "![Mean CV score by input scaling and hidden norm](heatmap.png)",
        "",
        *_columns_section(scaler, left_out),
        *_failures_section(result),
    ]
    if result._has_curves():
        if getattr(result.search, "packed_", False):  # from the search's own run
            how = (
                f"From the search's own run, averaged over the {cv.get_n_splits()} "
                f"folds: each candidate's {result.loss} on its training rows "
                "during every epoch (solid) and on the fold's held-out rows after "
                "it, in evaluation mode (dashed)."
            )
        else:
            how = (
                "Each candidate fit once more on 80% of the data; "
                f"{result.loss} on that training part (solid) and on the held-out "
                "20% (dashed) after every epoch, in evaluation mode."
            )
        lines += [
            "## Training curves",
            "",
            how + " Data: `curves.csv`.",
            "",
            "![Training and validation loss per epoch](curves.png)",
            "",
        ]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return "report.md"


def _pyplot():
    """matplotlib.pyplot, on the Agg backend unless it is already in use."""
    matplotlib = import_optional("matplotlib", "report", "sknorm sweep")
    if "matplotlib.pyplot" not in sys.modules:
        # A file-writing command: no window. When pyplot is already in use (main()
        # called from a session), keep its backend; savefig writes PNGs anyway.
        matplotlib.use("Agg")
    return import_optional("matplotlib.pyplot", "report", "sknorm sweep")


#: What a report folder holds: all that ``--force`` will replace.
REPORT_FILES = ("results.csv", "curves.csv", "heatmap.png", "curves.png", "report.md")


#: What an operating system leaves in a folder it shows (``--force`` replaces
#: a report folder that holds them too).
_OS_FILES = (".DS_Store", "Thumbs.db", "desktop.ini")


def _check_out(out: Path, force: bool, data: Path | None = None) -> None:
    """Fail before any fit when the report cannot go to ``out``. ``--force``
    replaces a folder only when it holds nothing but an earlier report's
    files, never the current folder or one above it, nor the one holding
    ``data`` (the ``--csv`` file, whatever its name)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder; choose another --out")
    blocking = [p for p in out.parents if p.exists() and not p.is_dir()]
    if blocking:
        raise InputError(
            f"--out {out} goes through {blocking[0]}, which is a file, not a "
            "folder; choose another --out"
        )
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise InputError(
                f"the report folder {out} exists; pass --force to replace it, or "
                "choose another --out"
            )
        here = Path.cwd().resolve()
        if out.resolve() == here or out.resolve() in here.parents:
            raise InputError(
                f"--out {out} is the current folder (or holds it); --force does not "
                "replace it: choose another --out"
            )
        if data is not None and out.resolve() in data.resolve().parents:
            raise InputError(
                f"--out {out} holds the --csv file {data}; --force does not replace "
                "it: choose another --out"
            )
        kept = (*REPORT_FILES, *_OS_FILES)
        others = sorted(p.name for p in out.iterdir() if p.name not in kept)
        if others:
            raise InputError(
                f"--force replaces only a report folder, and {out} holds other "
                f"things too ({_listing(others, limit=3)}); choose another --out"
            )
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryDirectory(dir=parent).cleanup()
    except OSError as exc:
        raise InputError(
            f"cannot write the report in {parent}: {exc.strerror}"
        ) from None


def _write_outputs(result, out: Path, **report_args) -> list[str]:
    """Write the tables, the figures and report.md to ``out`` all at once.

    Everything goes to a fresh folder beside ``out`` first, which then takes
    ``out``'s place, so an interrupted or failed write leaves no half report
    and nothing of an older run stays beside the new one.
    """
    parent = out.resolve().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        written = _write_report_files(result, staging, **report_args)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
            out.rename(old / "report")
            staging.rename(out)
            shutil.rmtree(old)
        else:
            staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _write_report_files(result, out: Path, **report_args) -> list[str]:
    """Write the tables, the figures and report.md into the folder ``out``."""
    plt = _pyplot()
    written = ["results.csv"]
    result.table.to_csv(out / "results.csv", index=False)
    figures = [
        ("heatmap.png", plot_score_heatmap(result.table, scoring=result.scoring))
    ]
    if result._has_curves():
        result.curves.to_csv(out / "curves.csv", index=False)
        written.append("curves.csv")
        figures.append(("curves.png", plot_curves(result.curves, loss=result.loss)))
    for name, ax in figures:
        ax.figure.savefig(out / name, dpi=120)
        plt.close(ax.figure)
        written.append(name)
    written.append(_report(result, out=out, **report_args))
    return written


def _check_some_succeeded(result) -> None:
    """Every candidate failed: one line with the first reason, no report."""
    if result.table["mean_score"].notna().any():
        return
    first = next(iter(result.failures.values()), "no error was recorded")
    raise InputError(
        f"every candidate failed, so there is no report; the first: {first}"
    )


# -- the command -------------------------------------------------------------------
def _one_line(exc: Exception) -> str:
    """An error's first line, and its last one (the root cause) when different."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) == 1:
        return lines[0]
    return f"{lines[0]} Last error: {lines[-1]}"


def _check_report_extra() -> None:
    """Fail before any work, in one line, when the report extra is missing."""
    for package in REPORT_PACKAGES:
        try:
            import_optional(package, "report", "sknorm sweep")
        except ImportError as exc:
            raise InputError(str(exc)) from None


def _run(args, X, y):
    """``(result, seconds)`` of :func:`sknorm.sweep` with the command's settings.

    Errors of the input or the setup (a missing extra, a bad Dask address, a
    target no candidate can learn) become one-line InputErrors.
    """
    start = time.perf_counter()
    try:
        result = sweep(
            X,
            y,
            scalings=args.scalings,
            norms=args.norms,
            cv=args.cv,
            n_jobs=None if args.dask else args.n_jobs,
            random_state=args.seed,
            task=args.task,
            backend="dask" if args.dask else None,
            scheduler=args.dask,
            progress=not args.no_progress,
            curves=not args.no_curves,
            engine=args.engine,
            scoring=args.scoring,
            lr=args.lr,
            early_stopping=args.early_stopping,
            max_epochs=args.epochs,
            hidden_layer_sizes=args.hidden,
            batch_size=args.batch_size,
            device=args.device,
            ensemble=args.ensemble,
            refit=False,  # the command writes no model
        )
    except ImportError as exc:
        raise InputError(str(exc)) from None
    except (ValueError, OSError) as exc:
        raise InputError(_one_line(exc)) from None
    return result, time.perf_counter() - start


def _print_results(result, args, elapsed: float) -> None:
    print(
        f"\n{result.task}, {result.search.cv.get_n_splits()}-fold CV, scoring "
        f"{result.scoring}, {args.epochs} epochs, hidden {args.hidden}, "
        f"{elapsed:.1f} s\n"
    )
    print(_text_table(_display_table(result.table, result.scoring)))
    print(f"\nBest: {_best_line(result)}")
    if result.ensemble_score is not None:
        print(f"Ensemble: {_ensemble_line(result)}")


def _ensemble_line(result) -> str:
    summary = result.ensemble_score
    members = ", ".join(f"{scaling}/{norm}" for scaling, norm in summary["candidates"])
    better = result._ensemble_wins()
    return (
        f"average of {members} ({result.scoring} {summary['mean_score']:.4f} "
        f"± {summary['std_score']:.4f}, same folds; "
        + (
            "above the best candidate: sweep() would return it"
            if better
            else "not above the best candidate"
        )
        + ")"
    )


def _settings(args) -> str:
    """The network and where it ran, for the report."""
    jobs = "default" if args.n_jobs is None else args.n_jobs
    where = f"Dask scheduler {args.dask}" if args.dask else f"n_jobs={jobs}"
    return (
        f"hidden layers {args.hidden}, {args.epochs} epochs, "
        f"batch size {args.batch_size}, seed {args.seed}; {args.engine} engine"
        + ("" if args.device == "cpu" else f" on {args.device}")
        + ", "
        + ("" if args.engine == "packed" or args.dask else "fits ")
        + f"run with {where}"
    )


def _task_line(y, task: str) -> str:
    """The task :func:`sknorm.sweep` will choose, and why, in one line."""
    try:
        _check_target(y)
        chosen, reason = _resolve_task(y, task)
    except ValueError as exc:
        raise InputError(_one_line(exc)) from None
    return f"Task: {chosen} ({'--task ' + task if task != 'auto' else reason})"


def _kinds(X) -> dict[str, str]:
    """Each column's kind, as the sweep's :class:`TabularScaler` will read it."""
    if not isinstance(X, pd.DataFrame):
        return {}
    try:
        return {str(name): column_kind(str(name), X[name]) for name in X.columns}
    except (ValueError, TypeError) as exc:
        raise InputError(_one_line(exc)) from None


def _columns_line(kinds: dict[str, str], left_out) -> str:
    """How many columns of each kind the sweep will see, in one line."""
    found = list(kinds.values())
    counts = ", ".join(f"{found.count(k)} {k}" for k in COLUMN_KINDS if k in found)
    unused = f"; not used: {_listing(n for n, _ in left_out)}" if left_out else ""
    return f"Columns: {counts}{unused}"


def _scalings(args, kinds: dict[str, str]) -> list[str]:
    """``--scalings``, or the default ones, without "none" when a date column
    needs scaling (with a note saying so)."""
    if args.scalings is not None:
        return args.scalings
    dates = [name for name, kind in kinds.items() if kind == "date"]
    if not dates:
        return list(DEFAULT_SCALINGS)
    print(
        f"note: scaling 'none' left out: date column {dates[0]!r} must be scaled",
        file=sys.stderr,
    )
    return [name for name in DEFAULT_SCALINGS if name != "none"]


@contextlib.contextmanager
def _warnings_as_lines(prefix: str) -> Iterator:
    """Show each warning as one line on stderr, ``prefix: warning: ...``."""

    def show(message, category, filename, lineno, file=None, line=None):
        # scikit-learn's FitFailedWarning carries every failed fit's traceback:
        # its first line here, the reasons in the report.
        first = next((t for t in str(message).splitlines() if t.strip()), "")
        if issubclass(category, FitFailedWarning):
            first += " The report says why."
        print(f"{prefix}: warning: {first.strip()}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _run_sweep(args, command: str) -> int:
    _check_report_extra()
    _check_out(args.out, args.force, args.csv)
    X, y, description, left_out = _load_data(args)
    print(f"Data: {description.replace('`', '')}", flush=True)
    kinds = _kinds(X)
    if kinds:
        print(_columns_line(kinds, left_out), flush=True)
    args.scalings = _scalings(args, kinds)
    print(_task_line(y, args.task), flush=True)
    result, elapsed = _run(args, X, y)
    _check_some_succeeded(result)
    _print_results(result, args, elapsed)
    written = _write_outputs(
        result,
        args.out,
        description=description,
        left_out=left_out,
        command=command,
        settings=_settings(args),
        elapsed=elapsed,
        scaler=_best_scaler(result, X, y),
    )
    print(f"Wrote {', '.join(written)} to {args.out}/")
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the ``sknorm`` command; returns its exit status.

    Parameters
    ----------
    argv : sequence of str, default=None
        The arguments after the program name; None reads ``sys.argv[1:]``.
    prog : str, default=None
        The program name in messages and in the report ("sknorm").

    Returns
    -------
    status : int
        0 on success, 2 on a usage or input error or when every candidate
        failed, 130 when interrupted (Ctrl-C); each failure is one line on
        stderr.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    command = " ".join([parser.prog, shlex.join(argv)]).strip()
    try:
        with _warnings_as_lines(f"{parser.prog} {args.command}"):
            return _run_sweep(args, command)
    except InputError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"{parser.prog} {args.command}: interrupted; no report was written",
            file=sys.stderr,
        )
        return 130
