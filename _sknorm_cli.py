"""The ``sknorm`` command's entry point.

It lives outside the package so that it runs before ``import sknorm`` (torch,
scikit-learn and pandas: about two seconds), and a Ctrl-C during those
imports ends the command as a Ctrl-C later does (one line, status 130,
nothing written) instead of with Python's traceback. ``python -m sknorm``
imports the package first, so there a Ctrl-C in the first seconds still
prints one.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``sknorm`` (:func:`sknorm.cli.main`) with ``argv``."""
    try:
        from sknorm.cli import main as run
    except KeyboardInterrupt:
        message = "sknorm: interrupted while starting; nothing was written"
        print(message, file=sys.stderr)
        return 130
    return run(argv)
