"""What every example script shares: quick mode, the figures folder, tables.

The examples run as scripts (``python examples/plot_input_scaling.py``), so
Python finds this module beside them; the documentation build (sphinx-gallery)
puts this folder on ``sys.path`` and runs them with ``SKNORM_EXAMPLES_QUICK=1``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

#: ``SKNORM_EXAMPLES_QUICK=1``: a short run (tests/test_examples.py and the
#: documentation build use it; ``--quick`` does the same on the command line).
QUICK = os.environ.get("SKNORM_EXAMPLES_QUICK") == "1"
FIGURES = Path(__file__).resolve().parent / "figures"


def _folder(text: str) -> Path:
    path = Path(text)
    path.mkdir(parents=True, exist_ok=True)
    return path


def example_parser(doc: str) -> argparse.ArgumentParser:
    """A parser titled by the docstring's first paragraph, ``--out`` and ``--quick``.

    ``--out`` is the folder for the figures (default ``examples/figures``);
    parsing creates it. ``--quick`` is the short run, also chosen by
    ``SKNORM_EXAMPLES_QUICK=1``. Under sphinx-gallery there are no arguments
    and the docstring is empty, so the defaults apply.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0].strip())
    parser.add_argument(
        "--out",
        type=_folder,
        default=str(FIGURES),
        help="directory for the figures (default: examples/figures)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=QUICK,
        help="a short run (as SKNORM_EXAMPLES_QUICK=1)",
    )
    return parser


def print_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a markdown table."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def epochs_to_reach(loss, thresholds) -> list[str]:
    """Per threshold, the first epoch (from 1) with a loss <= it, or "never"."""
    cells = []
    for threshold in thresholds:
        hits = np.flatnonzero(np.asarray(loss) <= threshold)
        cells.append(str(int(hits[0]) + 1) if hits.size else "never")
    return cells


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` and leave it open.

    Open, so that sphinx-gallery's scraper embeds it at the end of the cell
    (it closes the figures it has collected); a script's figures close when
    it exits.
    """
    fig.savefig(path, dpi=110)
    return path


def report_saved(paths: Sequence[Path], start: float) -> None:
    """The last line of every example: what it saved and how long it took."""
    names = " and ".join(_shown(path) for path in paths)
    print(f"\nsaved {names} ({time.perf_counter() - start:.1f} s)")


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
