"""What the benchmarks share: the data, the network, the hand-written torch
loop they are measured against, and the report's pieces.

The benchmarks run as scripts (``python benchmarks/bench_speed.py``), so
Python finds this module beside them.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.datasets import make_classification
from torch import nn

from sknorm.nn import MLP

#: The network and optimizer of every timed fit: MLP 32-256-256-2, Adam.
HIDDEN = (256, 256)
BATCH_SIZE = 256
LR = 1e-3


def classification_data(n_samples: int, train_fraction: float = 0.8):
    """The first ``train_fraction`` of ``make_classification(n_samples,
    n_features=32, random_state=0)``, as float32 ``X`` and int64 ``y``."""
    X, y = make_classification(n_samples=n_samples, n_features=32, random_state=0)
    n_train = int(train_fraction * n_samples)
    return (
        np.ascontiguousarray(X[:n_train], dtype=np.float32),
        y[:n_train].astype(np.int64),
    )


def hand_loop(X, y, norm: str, epochs: int, *, seed: int = 0, device="cpu"):
    """The reference: a minimal torch training loop; returns per-epoch seconds.

    ``randperm`` once per epoch and a tensor index per batch, no
    ``DataLoader``, around :class:`sknorm.nn.MLP`. On a GPU every epoch's
    timing waits for the device to finish.
    """
    torch.manual_seed(seed)
    model = MLP(X.shape[1], 2, HIDDEN, norm=norm).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()
    X, y = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    sync = torch.cuda.synchronize if X.is_cuda else lambda: None
    model.train()
    durations = []
    for _ in range(epochs):
        sync()
        start = time.perf_counter()
        perm = torch.randperm(len(X), device=device)
        for lo in range(0, len(X), BATCH_SIZE):
            idx = perm[lo : lo + BATCH_SIZE]
            if idx.numel() < 2 and norm == "batch":
                continue  # batch norm cannot train on a batch of one
            optimizer.zero_grad()
            loss = criterion(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
        sync()
        durations.append(time.perf_counter() - start)
    return durations


def median(values) -> float:
    values = list(values)
    return float(statistics.median(values)) if values else float("nan")


def after_warmup(durations: Sequence[float]) -> list[float]:
    """Per-epoch times without the first (warm-up) epoch, when there are more."""
    return list(durations[1:]) if len(durations) > 1 else list(durations)


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not available
        return "n/a"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
