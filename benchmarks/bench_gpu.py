"""Per-epoch time on a CUDA GPU: NormMLPClassifier(device="cuda") against a
hand-written torch loop on the same GPU, same data, network and loop as the CPU
speed benchmark (make_classification 100k x 32, 80k training rows,
MLP 32-256-256-2, Adam lr 1e-3, batch 256; benchmarks/_common.py).

    python benchmarks/bench_gpu.py [--epochs 4] [--n-samples 100000]

Prints a markdown table: way, norm, median seconds per epoch (first epoch
dropped as warm-up), ratio to the hand-written loop.
"""

from __future__ import annotations

import argparse

import torch
from _common import (
    BATCH_SIZE,
    HIDDEN,
    LR,
    after_warmup,
    classification_data,
    hand_loop,
    markdown_table,
    median,
)

from sknorm import NormMLPClassifier


def sknorm_fit(X, y, norm, epochs, device):
    clf = NormMLPClassifier(
        HIDDEN,
        norm=norm,
        dropout=0.0,
        batch_size=BATCH_SIZE,
        lr=LR,
        max_epochs=epochs,
        random_state=0,
        device=device,
    ).fit(X, y)
    return median(after_warmup(clf.history_[:, "dur"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n-samples", type=int, default=100_000)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name(0)}")
    X, y = classification_data(args.n_samples)
    rows = []
    for norm in ("batch", "layer", "none"):
        hand = median(
            after_warmup(hand_loop(X, y, norm, args.epochs, device=args.device))
        )
        ours = sknorm_fit(X, y, norm, args.epochs, args.device)
        rows.append(["hand-written loop", norm, f"{hand:.3f}", "1.00"])
        rows.append(["NormMLPClassifier", norm, f"{ours:.3f}", f"{ours / hand:.2f}"])
    header = ["way", "norm", "s/epoch", "vs hand-written loop"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
