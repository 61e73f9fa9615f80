"""Every example runs in its quick mode and writes its figures.

The examples print the numbers behind their figures; the full runs (and the
numbers they print) are described in each example's docstring.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("pandas")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: The figures each example saves.
FIGURES = {
    "batch_size.py": ["batch_size.png"],
    "covariate_shift.py": ["covariate_shift_stats.png", "covariate_shift_loss.png"],
    "grid_search.py": ["grid_search_heatmap.png", "grid_search_curves.png"],
    "input_scaling.py": ["input_scaling.png"],
    "train_vs_inference.py": ["train_vs_inference.png"],
}


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_example_runs_in_quick_mode(name, tmp_path):
    env = {
        **os.environ,
        "SKNORM_EXAMPLES_QUICK": "1",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "|---" in proc.stdout  # the numbers behind the figures are printed
    for figure in FIGURES[name]:
        path = tmp_path / figure
        assert path.is_file() and path.stat().st_size > 10_000, figure
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
