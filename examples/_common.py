"""What every example script shares: quick mode, the figures folder, tables.

The examples run as scripts (``python examples/input_scaling.py``), so Python
finds this module beside them.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

#: ``SKNORM_EXAMPLES_QUICK=1``: a short run (tests/test_examples.py uses it).
QUICK = os.environ.get("SKNORM_EXAMPLES_QUICK") == "1"
FIGURES = Path(__file__).resolve().parent / "figures"


def _folder(text: str) -> Path:
    path = Path(text)
    path.mkdir(parents=True, exist_ok=True)
    return path


def example_parser(doc: str) -> argparse.ArgumentParser:
    """A parser titled by the docstring's first paragraph, with ``--out``.

    ``--out`` is the folder for the figures (default ``examples/figures``);
    parsing creates it.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0].strip())
    parser.add_argument(
        "--out",
        type=_folder,
        default=str(FIGURES),
        help="directory for the figures (default: examples/figures)",
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


def save_figure(fig, path: Path) -> None:
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report_saved(paths: Sequence[Path], start: float) -> None:
    """The last line of every example: what it saved and how long it took."""
    names = " and ".join(str(path) for path in paths)
    print(f"\nsaved {names} ({time.perf_counter() - start:.1f} s)")
