"""Smoke test of the speed benchmark: it runs and prints its tables.

Benchmarks never assert timings; this only checks that the script works.
"""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_speed.py"


def test_bench_speed_quick_runs():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "speed,latency"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| way | norm | s/epoch | ratio to hand loop |" in proc.stdout
    assert "| way | norm | 1 row ms | 10k rows ms |" in proc.stdout
