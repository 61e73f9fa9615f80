"""The one way sknorm imports an optional dependency.

Every extra (``report``, ``dask``, ``onnx``) is imported through
:func:`import_optional` at the point of use, so ``import sknorm`` never pulls
it in and a missing package gives one message naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["import_optional"]


def import_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says how to install it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"matplotlib.pyplot"``.
    extra : str
        The sknorm extra that installs it, e.g. ``"report"``.
    purpose : str
        What needs it, for the message, e.g. ``"sweep()'s result table"``.

    Returns
    -------
    module : module

    Examples
    --------
    >>> from sknorm._optional import import_optional
    >>> import_optional("json", "report", "a doctest").__name__
    'json'
    >>> import_optional("no_such_module_x", "report", "the report")
    Traceback (most recent call last):
    ...
    ImportError: the report needs no_such_module_x, which is not installed; \
install it with `pip install 'sknorm[report]'`.
    """
    package = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # only the module itself (or a package above it) missing is "not
        # installed"; a missing module inside it is a broken install or a
        # local file shadowing one of its dependencies, as below
        if exc.name is None or not (
            module == exc.name or module.startswith(exc.name + ".")
        ):
            raise _broken(purpose, package, exc) from exc
        raise ImportError(
            f"{purpose} needs {package}, which is not installed; install it with "
            f"`pip install 'sknorm[{extra}]'`."
        ) from exc
    except ImportError as exc:
        raise _broken(purpose, package, exc) from exc


def _broken(purpose: str, package: str, exc: ImportError) -> ImportError:
    """An installed optional dependency that fails to import."""
    return ImportError(
        f"{purpose} needs {package}, which is installed but failed to import: "
        f"{exc} (a file or folder of the same name as one of its modules in "
        "the working directory can shadow it)."
    )
