"""sknorm: input scaling and hidden-layer norms as scikit-learn hyperparameters."""

from ._estimators import NormMLPClassifier, NormMLPRegressor
from ._export import export
from ._persist import load, save
from ._pipeline import make_norm_pipeline, normalization_grid
from ._scalers import InputScaler
from ._sweep import SweepResult, sweep

__version__ = "0.1.0"

__all__ = [
    "InputScaler",
    "NormMLPClassifier",
    "NormMLPRegressor",
    "SweepResult",
    "__version__",
    "export",
    "load",
    "make_norm_pipeline",
    "normalization_grid",
    "save",
    "sweep",
]
