"""The built documentation site: every local link, image and anchor resolves.

``.ci/run`` builds the site before pytest, with warnings as errors and
nitpicky mode (``sphinx-build -n -W --keep-going -b html docs
docs/_build/html``), so an unresolved cross-reference already fails the build;
these tests check what the build wrote. They read the site at
``SKNORM_DOCS_HTML`` (default ``docs/_build/html``) and skip when it has not
been built (the build runs every gallery example, a minute or more, so the
tests do not start it themselves).
"""

import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import sknorm

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("SKNORM_DOCS_HTML", ROOT / "docs" / "_build" / "html"))
MODULES = ["sknorm.nn", "sknorm.callbacks", "sknorm.diagnostics", "sknorm.datasets"]
MODULES = [*MODULES, "sknorm.exceptions"]
USER_GUIDE = ["why_normalize", "sweeping", "own_data", "from_keras", "saving"]
USER_GUIDE = [f"user_guide/{name}" for name in [*USER_GUIDE, "performance"]]
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))

pytestmark = pytest.mark.skipif(
    not (SITE / "index.html").is_file(),
    reason=f"the site is not built at {SITE}: run "
    "sphinx-build -n -W --keep-going -b html docs docs/_build/html",
)


class _Page(HTMLParser):
    """The ``id`` attributes and the ``href``/``src`` links of one page."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.images = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append((tag, attrs[key]))
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def pages():
    # _static holds the theme's own template fragments, not pages.
    paths = sorted(p for p in SITE.rglob("*.html") if "_static" not in p.parts)
    return {path: _parse(path) for path in paths}


def _local_target(page_path, url):
    """(file, fragment) of a link to this site, or None for external links."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:")):
        return None
    target = page_path if not parts.path else page_path.parent / unquote(parts.path)
    return target.resolve(), unquote(parts.fragment)


def test_every_local_link_and_image_exists(pages):
    missing = []
    for path, page in pages.items():
        for tag, url in page.links:
            target = _local_target(path, url)
            if target is None:
                continue
            file, _ = target
            if file.is_dir():
                file = file / "index.html"
            if not file.is_file():
                missing.append(f"{path.relative_to(SITE)}: <{tag}> {url}")
    assert not missing, "\n".join(missing)


def test_every_anchor_exists(pages):
    """Links to a place in a page (API cross-references included) find it."""
    by_file = {path.resolve(): page for path, page in pages.items()}
    missing = []
    for path, page in pages.items():
        for tag, url in page.links:
            target = _local_target(path, url)
            if target is None or tag != "a":
                continue
            file, fragment = target
            if fragment and file in by_file and fragment not in by_file[file].ids:
                missing.append(f"{path.relative_to(SITE)}: {url}")
    assert not missing, "\n".join(missing)


def test_every_public_name_has_an_api_page():
    names = [f"sknorm.{name}" for name in sknorm.__all__]
    for module in MODULES:
        names += [
            f"{module}.{name}" for name in __import__(module, fromlist=["_"]).__all__
        ]
    missing = [
        name
        for name in names
        if name not in MODULES and not (SITE / "generated" / f"{name}.html").is_file()
    ]
    missing += [m for m in MODULES if not (SITE / "modules" / f"{m}.html").is_file()]
    assert not missing


def test_api_pages_link_to_each_other(pages):
    """The estimator's page links to the MLP it builds, by cross-reference."""
    page = pages[SITE / "generated" / "sknorm.NormMLPClassifier.html"]
    assert any("sknorm.nn.MLP.html#sknorm.nn.MLP" in url for _, url in page.links)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_is_a_gallery_page_with_its_figures(pages, name):
    page = pages.get(SITE / "auto_examples" / f"{name}.html")
    assert page is not None, f"no gallery page for examples/{name}.py"
    figures = [src for src in page.images if f"sphx_glr_{name}_0" in src]
    assert figures, f"no figure embedded in the gallery page of {name}.py"


@pytest.mark.parametrize(
    "page_name",
    USER_GUIDE,
)
def test_user_guide_pages_are_built(pages, page_name):
    page = pages.get(SITE / f"{page_name}.html")
    assert page is not None and page.ids, page_name
