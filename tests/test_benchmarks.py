"""Every benchmark runs in a quick mode and prints its tables.

Benchmarks never assert timings: their numbers are for reading, not for CI.
"""

from pathlib import Path

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
            "| way | wall s | cpu s (this process) | vs packed | best CV score |",
            "| members | packed wall s | cpu s | vs 9 candidates |",
            "| command | wall s (whole process) | search s (printed) | wrote |",
            "| sweep(X, y) engine | wall s | best | best CV score |",
            "| way | wall s | peak RSS MB | growth MB (x data) | best CV |",
        ],
    ),
    "bench_activation_stats.py": (
        ["--quick"],
        ["| norm | callback | epoch s (dur) | callback ms/epoch |"],
    ),
    "bench_imbalanced.py": (
        ["--quick"],
        ["| model | balanced accuracy | minority recall | fit s |"],
    ),
    "bench_quality.py": (
        ["--quick"],
        ["| set | sknorm_default | sknorm_sweep_best |", "**mean rank**"],
    ),
    "bench_defaults.py": (
        ["--quick"],
        ["| recipe | mean rank | mean fit s |", "| set | current | es |"],
    ),
    "bench_gpu.py": (
        ["--epochs", "2", "--n-samples", "4000"],
        ["| way | norm | s/epoch | vs hand-written loop |"],
    ),
}
NEEDS_CUDA = {"bench_gpu.py"}


def test_every_benchmark_is_listed():
    assert sorted(p.name for p in BENCHMARKS.glob("bench_*.py")) == sorted(QUICK_RUNS)


@pytest.mark.parametrize("name", sorted(QUICK_RUNS))
def test_benchmark_quick_run_prints_its_tables(name, run_python):
    if name in NEEDS_CUDA and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    args, headers = QUICK_RUNS[name]
    out = run_python(BENCHMARKS / name, *args, timeout=180).stdout
    for header in headers:
        assert header in out
