"""Write ``loans.csv``: the loan table of :func:`sknorm.datasets.make_loans`.

600 rows, seed 0, written the way pandas writes a CSV by default: with its
index as a leading nameless column (the ``sknorm`` command recognises and drops
it), dates as ISO strings (``2013-05-04``), blanks as empty fields, booleans as
``True``/``False`` with blanks. Every column kind a real table has::

    python examples/data/make_loans_csv.py
    sknorm sweep --csv examples/data/loans.csv --target default
"""

from __future__ import annotations

from pathlib import Path

from sknorm.datasets import make_loans

#: The committed file; the tests check it matches this script's output.
CSV = Path(__file__).resolve().parent / "loans.csv"


def write_loans_csv(path: Path = CSV) -> Path:
    """Write the table and its target column ``default`` to ``path``."""
    X, y = make_loans(600, random_state=0)
    X.assign(default=y).to_csv(
        path, date_format="%Y-%m-%d", float_format="%.2f", lineterminator="\n"
    )
    return path


if __name__ == "__main__":
    print(f"Wrote {write_loans_csv()}")
