"""Exceptions and warnings sknorm raises, importable without the estimators.

Layer 0: nothing here imports torch, skorch or scikit-learn.
"""

from __future__ import annotations

__all__ = ["TrainingDivergedError"]


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite.

    Inside ``GridSearchCV`` the candidate gets ``error_score`` (NaN by default)
    with a ``FitFailedWarning``, and the rest of the search goes on.

    Examples
    --------
    >>> from sknorm.exceptions import TrainingDivergedError
    >>> issubclass(TrainingDivergedError, FloatingPointError)
    True
    """
