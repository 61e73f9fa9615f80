"""sknorm: input scaling and hidden-layer norms as scikit-learn hyperparameters."""

from . import datasets, exceptions
from ._estimators import NormMLPClassifier, NormMLPRegressor
from ._export import export, to_torch_module
from ._norms import NORMS
from ._persist import load, save
from ._pipeline import (
    LEARNED_SCALINGS,
    SWEEP_SCALINGS,
    make_norm_pipeline,
    normalization_grid,
)
from ._scalers import SCALINGS, InputScaler
from ._search import PackedSearchCV
from ._sweep import SweepResult, sweep
from ._tabular import TabularScaler
from ._version import __version__

__all__ = [
    "LEARNED_SCALINGS",
    "NORMS",
    "SCALINGS",
    "SWEEP_SCALINGS",
    "InputScaler",
    "NormMLPClassifier",
    "NormMLPRegressor",
    "PackedSearchCV",
    "SweepResult",
    "TabularScaler",
    "__version__",
    "datasets",
    "exceptions",
    "export",
    "load",
    "make_norm_pipeline",
    "normalization_grid",
    "save",
    "sweep",
    "to_torch_module",
]
