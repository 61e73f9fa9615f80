"""The package's layers, checked on the source: who may import whom.

Every module of ``sknorm/`` has a layer in ``LAYERS``; a module imports only
modules of its own layer or below. Imports are read from the syntax tree, so
an import inside a function counts as much as one at the top, and so does a
string handed to ``importlib.import_module`` or ``import_optional``. Layers
1-3 (what a fitted estimator needs) import no optional extra at all; the
layers above import extras only inside functions, so ``import sknorm`` works
without them.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sknorm"

#: module -> layer. A new module gets a row here before its first import.
LAYERS = {
    # 1. foundations, and the pieces a net is made of
    "_version": 1,
    "exceptions": 1,
    "_optional": 1,
    "_scalers": 1,  # scikit-learn only
    "_tabular": 1,  # scikit-learn and pandas only
    "datasets": 1,  # numpy and pandas only
    "_norms": 1,  # torch only
    "nn": 1,  # torch only
    # 2. the estimators and what trains them
    "_training": 2,
    "_estimators": 2,
    "callbacks": 2,
    "_packed": 2,  # torch only: the packed engine
    # 3. the estimators in a pipeline and a grid
    "_pipeline": 3,
    "_search": 3,  # PackedSearchCV, which drives _packed
    # 4. tools built on fitted estimators: sweep, plots, persistence, export
    "_sweep": 4,
    "_plotting": 4,
    "diagnostics": 4,
    "_persist": 4,
    "_export": 4,
    # 5. the command, and the package that re-exports everything
    "cli": 5,
    "__main__": 5,
    "__init__": 5,
}
#: Highest layer an estimator needs: nothing here imports an optional extra.
CORE = 3

#: Optional extras (pyproject's extras): never at module level, never in CORE.
EXTRAS = {
    "matplotlib",
    "tqdm",
    "dask",
    "distributed",
    "onnx",
    "onnxscript",
    "skl2onnx",
    "onnxruntime",
}

#: Third-party packages a module must not import at all.
FORBIDDEN = {
    "_norms": {"sklearn", "skorch"},  # torch only
    "nn": {"sklearn", "skorch"},  # torch only
    "_scalers": {"torch", "skorch"},  # scikit-learn only
    "_tabular": {"torch", "skorch"},  # scikit-learn and pandas only
    "_packed": {"sklearn", "skorch"},  # torch only
}

#: Calls that import the module named by their first (string) argument.
IMPORTING_CALLS = {"import_module", "import_optional", "__import__"}


def _imports(module: str, package: Path = PACKAGE) -> list[tuple[str, bool]]:
    """``(imported module, at module level)`` for every import in ``module``.

    Modules of this package are named as in ``LAYERS`` (``from . import x``
    names ``x`` when ``x.py`` exists, else the package, ``__init__``); other
    modules by their top-level package (``sklearn``, ``torch``...).
    """
    tree = ast.parse((package / f"{module}.py").read_text(encoding="utf-8"))
    found = []

    def own(dotted: str, names=()) -> list[str]:
        if dotted:
            return [dotted.split(".")[0]]
        return [n if (package / f"{n}.py").exists() else "__init__" for n in names]

    def visit(node, top_level):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "sknorm":
                    found.append(
                        (parts[1] if len(parts) > 1 else "__init__", top_level)
                    )
                else:
                    found.append((parts[0], top_level))
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level:  # relative: inside the package
                found.extend((m, top_level) for m in own(node.module or "", names))
            elif node.module.split(".")[0] == "sknorm":
                found.extend(
                    (m, top_level) for m in own(node.module.partition(".")[2], names)
                )
            else:
                found.append((node.module.split(".")[0], top_level))
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else getattr(func, "id", "")
            )
            first = node.args[0] if node.args else None
            if name in IMPORTING_CALLS and isinstance(first, ast.Constant):
                target = str(first.value)
                if target.startswith("sknorm."):
                    target = target.partition(".")[2]
                found.append((target.lstrip(".").split(".")[0], top_level))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            top_level = False
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top_level = False  # never runs
        for child in ast.iter_child_nodes(node):
            visit(child, top_level)

    visit(tree, True)
    return found


def _package_imports(module: str) -> set[str]:
    return {name for name, _ in _imports(module) if name in LAYERS}


def test_every_module_has_a_layer():
    assert sorted(p.stem for p in PACKAGE.glob("*.py")) == sorted(LAYERS)


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_module_imports_only_its_layer_and_below(module):
    above = {m for m in _package_imports(module) if LAYERS[m] > LAYERS[module]}
    assert not above, f"layer {LAYERS[module]} imports {above}"


@pytest.mark.parametrize("module", sorted(m for m in LAYERS if m != "__init__"))
def test_no_module_imports_the_package_itself(module):
    # The package re-exports every layer: importing it (``from . import
    # __version__``) would make any module depend on all of them.
    assert "__init__" not in _package_imports(module)


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_optional_extras_are_imported_lazily_and_never_by_the_core(module):
    extras = {(name, top) for name, top in _imports(module) if name in EXTRAS}
    assert not {name for name, top in extras if top}, "imported at module level"
    if LAYERS[module] <= CORE:
        assert not extras, f"layer {LAYERS[module]} imports optional extras"


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_single_framework_modules(module):
    imported = {name for name, _ in _imports(module)}
    assert not imported & FORBIDDEN[module]


def test_the_parser_sees_every_kind_of_import(tmp_path):
    source = (
        "from typing import TYPE_CHECKING\n"
        "import sknorm.nn\n"
        "from . import _norms, __version__\n"
        "from ._scalers import InputScaler\n"
        "if TYPE_CHECKING:\n"
        "    import dask\n"
        "def f():\n"
        "    import matplotlib.pyplot as plt\n"
        "    from sklearn.base import clone\n"
        "    pd = import_optional('pandas', 'report', 'tables')\n"
        "    return importlib.import_module('sknorm._sweep')\n"
    )
    (tmp_path / "probe.py").write_text(source, encoding="utf-8")
    for name in ("nn", "_norms", "_scalers"):
        (tmp_path / f"{name}.py").touch()
    assert sorted(_imports("probe", tmp_path)) == [
        ("__init__", True),
        ("_norms", True),
        ("_scalers", True),
        ("_sweep", False),
        ("dask", False),
        ("matplotlib", False),
        ("nn", True),
        ("pandas", False),
        ("sklearn", False),
        ("typing", True),
    ]


def test_no_module_imports_version_from_the_package():
    pattern = re.compile(r"from\s+(\.|sknorm)\s+import\s+[^\n]*\b__version__\b")
    offenders = [
        p.name for p in PACKAGE.glob("*.py") if pattern.search(p.read_text("utf-8"))
    ]
    assert not offenders


def test_import_sknorm_loads_no_optional_extra(run_python):
    # scikit-learn loads pandas when it is installed and skorch loads tqdm, so
    # what counts is what ``import sknorm`` adds to what its dependencies load.
    script = (
        "import sys, numpy, torch, sklearn.base, skorch\n"
        "before = set(sys.modules)\n"
        "import sknorm\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        f"print(sorted(new & set({sorted(EXTRAS)!r})))\n"
    )
    assert run_python("-c", script, timeout=120).stdout.strip() == "[]"
