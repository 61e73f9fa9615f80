"""Per-epoch time on a CUDA GPU: NormMLPClassifier(device="cuda") against a
hand-written torch loop on the same GPU, same data and network as the CPU
speed benchmark (make_classification 100k x 32, 80k training rows,
MLP 32-256-256-2, Adam lr 1e-3, batch 256).

    python benchmarks/bench_gpu.py [--epochs 4] [--n-samples 100000]

Prints a markdown table: way, norm, median seconds per epoch (first epoch
dropped as warm-up), ratio to the hand-written loop.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import make_classification

from sknorm import NormMLPClassifier
from sknorm.nn import MLP


def hand_loop(X, y, norm, epochs, device):
    torch.manual_seed(0)
    model = MLP(X.shape[1], 2, (256, 256), norm=norm).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt = torch.from_numpy(X).to(device)
    yt = torch.from_numpy(y).to(device)
    times = []
    for _ in range(epochs):
        torch.cuda.synchronize()
        start = time.perf_counter()
        model.train()
        perm = torch.randperm(len(Xt), device=device)
        for s in range(0, len(Xt), 256):
            idx = perm[s : s + 256]
            opt.zero_grad()
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def sknorm_fit(X, y, norm, epochs, device):
    clf = NormMLPClassifier(
        (256, 256),
        norm=norm,
        batch_size=256,
        max_epochs=epochs,
        random_state=0,
        device=device,
    ).fit(X, y)
    return float(np.median(clf.history_[1:, "dur"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n-samples", type=int, default=100_000)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name(0)}")
    X, y = make_classification(args.n_samples, 32, n_informative=16, random_state=0)
    n_train = int(0.8 * args.n_samples)
    X, y = X[:n_train].astype(np.float32), y[:n_train]
    print("| way | norm | s/epoch | vs hand-written loop |\n|---|---|---|---|")
    for norm in ("batch", "layer", "none"):
        hand = hand_loop(X, y, norm, args.epochs, args.device)
        ours = sknorm_fit(X, y, norm, args.epochs, args.device)
        print(f"| hand-written loop | {norm} | {hand:.3f} | 1.00 |")
        print(f"| NormMLPClassifier | {norm} | {ours:.3f} | {ours / hand:.2f} |")


if __name__ == "__main__":
    main()
