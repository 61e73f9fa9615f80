"""How well the sweep picks its best candidate: every candidate refit and scored.

    OMP_NUM_THREADS=1 python benchmarks/bench_selection.py --max-train 1000
    python benchmarks/bench_selection.py --quick      # smoke run, seconds

For each set of ``bench_quality.py`` (its split, its ``--max-train``) and each
seed, the sweep as ``bench_quality.py``'s ``sknorm_sweep_best`` runs it
(``sweep(X, y, cv=3, random_state=seed)``, the default 4 x 3 grid), then
every candidate refit on all the training rows (as the sweep refits its best)
and scored on the held-out rows. From the same fits, the held-out score of the
candidate each rule picks from the CV results:

* ``max mean``: the sweep's own rule (``GridSearchCV``'s: the best mean over
  the folds);
* ``median fold``, ``min fold``: the best median / worst fold;
* ``mean - sem``: the best mean less its standard error over the folds;
* ``oracle``: the candidate with the best held-out score, a bound no rule
  that looks only at the training rows can beat;

and, in the same run, scikit-learn's ``MLPClassifier/Regressor()`` behind
``StandardScaler`` (``bench_quality.py``'s ``sklearn_mlp_standard``). Each
cell is the mean over the seeds (min-max). Nothing is asserted: it says
whether a better rule of choice would lift the sweep's best candidate, and
how far the best choice there is could.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import markdown_table
from _datasets import QUICK, select, split
from bench_quality import fit_model, score

import sknorm

RESULTS = Path(__file__).resolve().parent / "results"
FOLDS = 3
#: Each rule: the candidates' CV results (one row each) -> a score to maximize.
RULES = {
    "max mean": lambda cv: cv["mean"],
    "median fold": lambda cv: cv[[f"split{k}" for k in range(FOLDS)]].median(axis=1),
    "min fold": lambda cv: cv[[f"split{k}" for k in range(FOLDS)]].min(axis=1),
    "mean - sem": lambda cv: cv["mean"] - cv["std"] / np.sqrt(FOLDS),
    "oracle": lambda cv: cv["test"],
}


def candidates(dataset, X, y, X_test, y_test, seed: int, quick: bool) -> pd.DataFrame:
    """One row per candidate: its CV results and its refit's held-out score."""
    options = {"max_epochs": 5, "norms": ("none", "layer")} if quick else {}
    result = sknorm.sweep(
        X,
        y,
        cv=FOLDS,
        curves=False,
        ensemble=0,
        refit=False,
        random_state=seed,
        task=dataset.task,
        **options,
    )
    search = result.search
    cv = search.cv_results_
    params = list(cv["params"])
    # every candidate as the sweep refits its best (each as its own fit would
    # train it), in one packed run: the engine's refit of an ensemble
    fitted = search._packed_refits(X, y, params)
    rows = []
    for i, (p, model) in enumerate(zip(params, fitted, strict=True)):
        row = {
            "set": dataset.name,
            "seed": seed,
            "candidate": f"{p['scale__method']}/{p['net__norm']}",
            "mean": cv["mean_test_score"][i],
            "std": cv["std_test_score"][i],
            "test": score(dataset.task, model, X_test, y_test),
        }
        row |= {f"split{k}": cv[f"split{k}_test_score"][i] for k in range(FOLDS)}
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(values: pd.Series) -> str:
    return f"{values.mean():.3f} ({values.min():.3f}-{values.max():.3f})"


def report(frame: pd.DataFrame, mlp: pd.DataFrame) -> list[list]:
    """Per set: each rule's pick's held-out score, and scikit-learn's MLP."""
    picks = {
        name: frame.groupby(["set", "seed"], sort=False).apply(
            lambda cv, rule=rule: cv.loc[rule(cv).idxmax(), "test"],
            include_groups=False,
        )
        for name, rule in RULES.items()
    }
    rows = []
    for name in frame["set"].unique():
        row = [name] + [_cell(picks[rule].loc[name]) for rule in RULES]
        row.append(_cell(mlp.loc[mlp["set"] == name, "score"]))
        rows.append(row)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 tiny sets, 1 seed")
    parser.add_argument("--datasets", help="comma-separated names from _datasets.py")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..k-1")
    parser.add_argument("--max-train", type=int, default=1000)
    parser.add_argument(
        "--out", type=Path, default=None, help="markdown report (a .csv beside it)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.max_train = 1, 200
        datasets = select(args.datasets, QUICK)
    else:
        datasets = select(args.datasets)
        if args.out is None and not args.datasets:
            args.out = RESULTS / "selection.md"
    frames, mlp = [], []
    for dataset in datasets:
        X, X_test, y, y_test = split(dataset, max_train=args.max_train)
        for seed in range(args.seeds):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frames.append(
                    candidates(dataset, X, y, X_test, y_test, seed, args.quick)
                )
                model = fit_model(
                    "sklearn_mlp_standard", dataset.task, X, y, seed, args.quick
                )
            mlp.append(
                {
                    "set": dataset.name,
                    "score": score(dataset.task, model, X_test, y_test),
                }
            )
            print(f"# {dataset.name} seed {seed}", flush=True)
    frame = pd.concat(frames, ignore_index=True)
    header = ["set", *RULES, "sklearn_mlp_standard"]
    table = markdown_table(header, report(frame, pd.DataFrame(mlp)))
    command = "python " + shlex.join(["benchmarks/bench_selection.py", *sys.argv[1:]])
    if os.environ.get("OMP_NUM_THREADS"):
        command = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " + command
    text = (
        "# Which candidate the sweep keeps: held-out score of each rule's pick\n\n"
        f"Command: `{command}`\n\nSeeds 0..{args.seeds - 1}, cv={FOLDS}, at most "
        f"{args.max_train} training rows; accuracy or R^2 on the held-out rows, "
        "mean over seeds (min-max). Rules: see the script's docstring.\n\n"
        f"{table}\n"
    )
    print(text)
    if args.out is not None:
        args.out.write_text(text)
        frame.to_csv(args.out.with_suffix(".csv"), index=False)


if __name__ == "__main__":
    main()
