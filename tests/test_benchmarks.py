"""Every benchmark runs in a quick mode and prints its tables.

Benchmarks never assert timings: their numbers are for reading, not for CI.
The quick runs execute each script as ``__main__`` in the test's own process
(a fresh interpreter would spend more time importing torch and scikit-learn
than the quick run itself takes), with torch's thread count and RNG restored
after it.
"""

import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

#: script -> (quick command-line arguments, table headers it prints)
QUICK_RUNS = {
    "bench_speed.py": (
        ["--quick", "--only", "speed,latency"],
        [
            "| way | norm | s/epoch | ratio to hand loop | fit/epochs |",
            "| way | norm | 1 row ms | 10k rows ms |",
        ],
    ),
    "bench_packed.py": (
        ["--quick"],
        [
            "| way | wall s (median) | cpu s | vs packed (median) |",
            "| members | packed wall s (median) | cpu s | vs 9 candidates |",
            "| 3 x 3 sweep, two workers | median wall s | every run s |",
            "| command | wall s (whole process) | search s (printed) | wrote |",
            "| sweep(X, y) engine | wall s | best | best CV score |",
            "| way | wall s | peak RSS MB | growth MB (x data) | best CV |",
            "| set | best refit s | ensemble refit s (now) |",
            "| one torch thread, 3 x 3 sweep | wall s (median) | vs products |",
            "| norm | step ms (25 members) | extra work vs none |",
        ],
    ),
    "bench_activation_stats.py": (
        ["--quick"],
        ["| norm | callback | epoch s (dur) | callback ms/epoch |"],
    ),
    "bench_bn_lag.py": (
        ["--quick"],
        ["| input_embedding | running stats (momentum 0.1) | momentum 0.5 |"],
    ),
    "bench_imbalanced.py": (
        ["--quick"],
        ["| model | balanced accuracy | minority recall | fit s |"],
    ),
    "bench_quality.py": (
        ["--quick"],
        ["| set | sknorm_default | sknorm_sweep_model |", "**mean rank**"],
    ),
    "bench_defaults.py": (
        ["--quick"],
        ["| recipe | mean rank | mean fit s |", "| set | current | es |"],
    ),
    "bench_selection.py": (
        ["--quick"],
        ["| set | max mean | median fold | min fold | mean - sem | oracle |"],
    ),
    "bench_gpu.py": (
        ["--quick"],
        [
            "| way | norm | s/epoch | vs hand-written loop |",
            "| way | wall s (median) | vs packed on the GPU | every run s |",
        ],
    ),
}
NEEDS_CUDA = {"bench_gpu.py"}


def test_every_benchmark_is_listed():
    assert sorted(p.name for p in BENCHMARKS.glob("bench_*.py")) == sorted(QUICK_RUNS)


def _run_as_main(script: Path, args: list[str], monkeypatch) -> None:
    """``python script *args``, in this process."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_:
        assert exit_.code in (None, 0), f"{script.name} exited with {exit_.code}"
    finally:
        torch.set_num_threads(threads)
        torch.random.set_rng_state(rng)


@pytest.mark.parametrize("name", sorted(QUICK_RUNS))
def test_benchmark_quick_run_prints_its_tables(name, monkeypatch, capsys):
    if name in NEEDS_CUDA and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    args, headers = QUICK_RUNS[name]
    _run_as_main(BENCHMARKS / name, args, monkeypatch)
    out = capsys.readouterr().out
    for header in headers:
        assert header in out


def test_quality_report_joins_the_rows_of_runs_split_by_data_set(tmp_path, monkeypatch):
    """``--from-csv``: the report of two runs (one per core, each with its own
    --datasets) is the report of their rows together, with no fitting."""
    rows = {
        "breast_cancer": ("classification", {"sknorm_default": 0.95, "hgb": 0.93}),
        "diabetes": ("regression", {"sknorm_default": 0.30, "hgb": 0.40}),
    }
    parts = []
    for name, (task, scores) in rows.items():
        frame = pd.DataFrame(
            [
                (name, task, model, seed, value + seed / 100, 1.0, "ok")
                for model, value in scores.items()
                for seed in range(2)
            ],
            columns=["dataset", "task", "model", "seed", "score", "fit_s", "status"],
        )
        parts.append(tmp_path / f"{name}.csv")
        frame.to_csv(parts[-1], index=False)
    out = tmp_path / "joined.md"
    args = ["--from-csv", *map(str, parts), "--out", str(out)]
    _run_as_main(BENCHMARKS / "bench_quality.py", args, monkeypatch)
    text = out.read_text()
    assert "| breast_cancer | 0.955 (0.950-0.960) | 0.935 (0.930-0.940) |" in text
    assert "| diabetes | 0.305 (0.300-0.310) | 0.405 (0.400-0.410) |" in text
    assert "**mean rank** | **1.50** | **1.50** |" in text
    assert len(pd.read_csv(out.with_suffix(".csv"))) == 8
