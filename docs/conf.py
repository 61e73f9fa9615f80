"""Sphinx configuration of sknorm's documentation.

Build (from the repository root, after ``pip install -e ".[docs]"``)::

    sphinx-build -n -W --keep-going -b html docs docs/_build/html

The gallery executes every ``examples/plot_*.py`` in quick mode
(``SKNORM_EXAMPLES_QUICK=1``, set below unless already set): short runs whose
numbers differ from the full runs quoted in the user guide.
"""

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# The examples import their shared helpers as ``_common``.
sys.path.insert(0, str(EXAMPLES))
os.environ.setdefault("SKNORM_EXAMPLES_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import sknorm  # noqa: E402

project = "sknorm"
author = "the sknorm developers"
copyright = "the sknorm developers"
version = release = sknorm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
root_doc = "index"
default_role = "literal"
nitpicky = True

# -- API reference ------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
# Public modules document what their __all__ lists.
autosummary_ignore_module_all = False
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc's parameter lists carry the types
# A torch layer's forward() would show torch's own docstring.
autodoc_inherit_docstrings = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# The build runs offline (CI reaches package registries only), so there is no
# intersphinx: names from other libraries render as code, without a link, and
# nitpicky mode ignores them. Every sknorm name must resolve.
numpydoc_xref_param_type = False
nitpick_ignore = [
    # numpydoc links a documented attribute (a property) relative to the class.
    ("py:obj", "history_"),
    # InputScaler's docstring names its two private encoders.
    ("py:class", "RobustClipScaler"),
    ("py:class", "PiecewiseLinearEncoder"),
]
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|sklearn|skorch|pandas|numpy|np|matplotlib|scipy|pathlib)\..*"),
    (r"py:.*", r"(collections\.abc|typing|os)\..*"),
]


def _skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods.

    Metadata routing adds them to every estimator; their text (scikit-learn's)
    refers to scikit-learn's glossary, which an offline build cannot reach.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


_SHAPE_NAME = re.compile(r"(?<=[(\s,])([A-Za-z]\w*_)(?=[,)])")


def _quote_shape_names(app, what, name, obj, options, lines):
    """``(n_features_in_,)`` in a shape, as scikit-learn writes it, as code.

    In reST a word ending in ``_`` is a link to a target of that name; in a
    parameter's type ("ndarray of shape (n_features_in_,)") it is meant as the
    attribute's name. Runs before numpydoc.
    """
    for i, line in enumerate(lines):
        if "shape (" in line:
            lines[i] = _SHAPE_NAME.sub(r"``\1``", line)


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _quote_shape_names, priority=100)


# -- Gallery ------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(EXAMPLES),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|_common|make_loans_csv)\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "reference_url": {"sknorm": None},
    "backreferences_dir": "generated",
    "doc_module": ("sknorm",),
    "show_memory": False,
    "min_reported_time": 1,
}

# -- HTML ---------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sknorm {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = True
