"""The ``sknorm`` command: ``sknorm sweep`` runs the normalization sweep.

It cross-validates every input scaling x hidden norm combination on a CSV file
(or on scikit-learn's breast cancer data), prints the table and writes a report
directory: ``results.csv``, ``curves.csv``, ``heatmap.png``, ``curves.png`` and
``report.md``. Needs the ``report`` extra (``pip install 'sknorm[report]'``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch
from sklearn.datasets import load_breast_cancer

from ._norms import NORMS
from ._optional import import_optional
from ._pipeline import DEFAULT_NORMS, DEFAULT_SCALINGS
from ._plotting import plot_curves, plot_score_heatmap
from ._scalers import SCALINGS
from ._sweep import CANDIDATE_COLUMNS, TABLE_COLUMNS, TASKS, sweep
from ._version import __version__

__all__ = ["main"]

DEFAULT_OUT = "sknorm-report"
#: What the command needs beyond sknorm's own dependencies: the report extra.
REPORT_PACKAGES = ("pandas", "matplotlib", "tqdm")
#: The command's network defaults: small enough for the 3 x 3 x 5-fold sweep on
#: the breast cancer data to take well under two minutes on two cores.
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
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = commands.add_parser(
        "sweep",
        help="cross-validate every input scaling x hidden norm combination",
        description="Cross-validate every input scaling x hidden-layer norm "
        "combination of an MLP, print the scores and write a report (results.csv, "
        "heatmap.png, curves.png, report.md). Without --csv it uses scikit-learn's "
        "breast cancer data set.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_data_arguments(command.add_argument_group("data"))
    _add_sweep_arguments(command.add_argument_group("sweep"))
    _add_run_arguments(command.add_argument_group("run"))
    return parser


def _add_data_arguments(group) -> None:
    group.add_argument("--csv", metavar="PATH", type=Path, help="CSV file to load")
    group.add_argument(
        "--target",
        metavar="COLUMN",
        help="the CSV's target column; every other column is a numeric feature",
    )
    group.add_argument("--task", choices=TASKS, default="auto", help="the task")


def _add_sweep_arguments(group) -> None:
    group.add_argument(
        "--scalings",
        type=_names(SCALINGS),
        default=",".join(DEFAULT_SCALINGS),
        metavar="LIST",
        help=f"input scalings to try, from {','.join(SCALINGS)}",
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
        "--n-jobs",
        type=int,
        default=-1,
        help="parallel fits (-1: one per core; 1: in this process)",
    )
    group.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the fits on the Dask scheduler at ADDRESS (e.g. tcp://host:8786)",
    )
    group.add_argument(
        "--out", type=Path, default=Path(DEFAULT_OUT), help="report folder"
    )
    group.add_argument(
        "--no-progress", action="store_true", help="do not show the progress bar"
    )
    group.add_argument(
        "--no-curves",
        action="store_true",
        help="skip the training curves (one extra fit per candidate)",
    )


# -- data --------------------------------------------------------------------------
def _listing(names, limit: int = 8) -> str:
    names = [repr(str(n)) for n in names]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _pandas():
    return import_optional("pandas", "report", "sknorm sweep")


def _read_csv(path: Path):
    """The CSV file as a DataFrame, or an InputError that says why not."""
    pd = _pandas()
    if not path.exists():
        raise InputError(f"CSV file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a CSV file")
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"CSV file {path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc
        raise InputError(f"cannot read CSV file {path}: {reason}") from None


def _split_target(frame, target: str, path: Path):
    """``X, y``: every other column and the target column, both checked."""
    if target not in frame.columns:
        raise InputError(
            f"target column {target!r} not found in {path}; its columns are "
            f"{_listing(frame.columns)}"
        )
    if frame.empty:
        raise InputError(f"CSV file {path} has a header but no data rows")
    X = frame.drop(columns=[target])
    y = frame[target]
    if X.shape[1] == 0:
        raise InputError(f"CSV file {path} has no feature columns besides {target!r}")
    _check_features(X, path)
    if y.isna().any():
        raise InputError(
            f"target column {target!r} has {int(y.isna().sum())} missing values"
        )
    return X, y


def _check_features(X, path: Path) -> None:
    """Numeric, finite, complete feature columns, or an InputError naming them."""
    is_numeric = _pandas().api.types.is_numeric_dtype
    non_numeric = [c for c in X.columns if not is_numeric(X[c])]
    if non_numeric:
        raise InputError(
            f"feature columns must be numeric; non-numeric columns in {path}: "
            f"{_listing(non_numeric)} (encode or drop them)"
        )
    missing = X.columns[X.isna().any()].tolist()
    if missing:
        raise InputError(
            f"feature columns with missing values in {path}: {_listing(missing)}"
        )
    infinite = X.columns[np.isinf(X.to_numpy(dtype=float)).any(axis=0)].tolist()
    if infinite:
        raise InputError(
            f"feature columns with infinite values in {path}: {_listing(infinite)}"
        )


def _load_csv(path: Path, target: str):
    X, y = _split_target(_read_csv(path), target, path)
    description = (
        f"`{path}`, target column `{target}`: {X.shape[0]} samples x "
        f"{X.shape[1]} features"
    )
    return X, y, description


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
    """``X, y, description``: the ``--csv`` file or the breast cancer data."""
    if args.csv is None:
        if args.target is not None:
            raise InputError("--target needs --csv")
        return _load_default()
    if args.target is None:
        raise InputError("--csv needs --target COLUMN")
    return _load_csv(args.csv, args.target)


# -- output ------------------------------------------------------------------------
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


def _report(result, *, out: Path, description, command, settings, elapsed) -> str:
    cv = result.search.cv
    lines = [
        "# sknorm normalization sweep",
        "",
        f"- **Data set:** {description}",
        f"- **Task:** {result.task} with "
        f"`{type(result.best_estimator[-1]).__name__}`, {settings}",
        f"- **Cross-validation:** `{cv!r}`, scoring {result.scoring}",
        f"- **Command:** `{command}`",
        f"- **Version:** {_versions()}",
        f"- **Run time:** {elapsed:.1f} s",
        f"- **Best candidate:** {_best_line(result)}; refit on all the data",
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
    ]
    if result.curves is not None:
        lines += [
            "## Training curves",
            "",
            "Each candidate fit once on 80% of the data; "
            f"{result.loss} on that training part (solid) and on the held-out 20% "
            "(dashed) after every epoch, in evaluation mode. Data: `curves.csv`.",
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


def _write_outputs(result, out: Path, **report_args) -> list[str]:
    """Write the tables, the figures and report.md; the names written."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    written = ["results.csv"]
    result.table.to_csv(out / "results.csv", index=False)
    figures = [
        ("heatmap.png", plot_score_heatmap(result.table, scoring=result.scoring))
    ]
    if result.curves is not None:
        result.curves.to_csv(out / "curves.csv", index=False)
        written.append("curves.csv")
        figures.append(("curves.png", plot_curves(result.curves, loss=result.loss)))
    for name, ax in figures:
        ax.figure.savefig(out / name, dpi=120)
        plt.close(ax.figure)
        written.append(name)
    written.append(_report(result, out=out, **report_args))
    return written


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
            max_epochs=args.epochs,
            hidden_layer_sizes=args.hidden,
            batch_size=args.batch_size,
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


def _settings(args) -> str:
    """The network and where it ran, for the report."""
    where = f"Dask scheduler {args.dask}" if args.dask else f"n_jobs={args.n_jobs}"
    return (
        f"hidden layers {args.hidden}, {args.epochs} epochs, "
        f"batch size {args.batch_size}, seed {args.seed}; fits run with {where}"
    )


def _run_sweep(args, command: str) -> int:
    _check_report_extra()
    X, y, description = _load_data(args)
    print(f"Data: {description.replace('`', '')}", flush=True)
    result, elapsed = _run(args, X, y)
    _print_results(result, args, elapsed)
    written = _write_outputs(
        result,
        args.out,
        description=description,
        command=command,
        settings=_settings(args),
        elapsed=elapsed,
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
        0 on success, 2 on a usage or input error (reported as one line on
        stderr).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    command = " ".join([parser.prog, shlex.join(argv)]).strip()
    try:
        return _run_sweep(args, command)
    except InputError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
