"""Every example runs from the command line in its quick mode and writes its figures.

The examples are sphinx-gallery scripts (``plot_*.py``, a titled docstring and
``# %%`` cells) that also run as plain scripts; they print the numbers behind
their figures. The full runs (and the numbers they print) are described in
each example's docstring. The documentation build runs them once more, through
sphinx-gallery (``tests/test_docs.py`` checks the built pages).
"""

import os
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("pandas")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: The figures each example saves.
FIGURES = {
    "plot_batch_size.py": ["batch_size.png"],
    "plot_covariate_shift.py": [
        "covariate_shift_stats.png",
        "covariate_shift_loss.png",
    ],
    "plot_grid_search.py": ["grid_search_heatmap.png", "grid_search_curves.png"],
    "plot_input_scaling.py": ["input_scaling.png"],
    "plot_keras.py": ["keras_axis.png"],
    "plot_train_vs_inference.py": ["train_vs_inference.png"],
}


def test_every_example_is_listed():
    scripts = [p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")]
    assert sorted(scripts) == sorted(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_example_is_a_gallery_script(name):
    """A title underlined in the docstring, then ``# %%`` cells."""
    text = (EXAMPLES / name).read_text()
    assert name.startswith("plot_")
    title, underline = text.split('"""')[1].strip().splitlines()[:2]
    assert title and set(underline) == {"="} and len(underline) >= len(title)
    assert text.count("\n# %%\n") >= 2


def _run_by_the_docs_build(name: str) -> bool:
    """The built gallery page of ``name`` is newer than the script and holds
    its figures: sphinx-gallery ran it in quick mode (as CI's docs build does,
    before the tests), so running it again here repeats that work."""
    html = os.environ.get("SKNORM_DOCS_HTML", str(EXAMPLES.parent / "docs/_build/html"))
    page = Path(html) / "auto_examples" / name.replace(".py", ".html")
    script = EXAMPLES / name
    if not page.is_file() or page.stat().st_mtime < script.stat().st_mtime:
        return False
    images = Path(html) / "_images"
    stem = name.replace(".py", "")
    return any(images.glob(f"sphx_glr_{stem}_0*.png"))


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_example_runs_in_quick_mode(name, tmp_path, run_python):
    if _run_by_the_docs_build(name):
        pytest.skip("the documentation build ran it and embedded its figures")
    env = {
        "SKNORM_EXAMPLES_QUICK": "1",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    proc = run_python(EXAMPLES / name, "--out", tmp_path, env=env)
    assert "|---" in proc.stdout  # the numbers behind the figures are printed
    for figure in FIGURES[name]:
        path = tmp_path / figure
        assert path.is_file() and path.stat().st_size > 10_000, figure
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
