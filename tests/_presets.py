"""Settings shared by the test modules: ``from _presets import FAST, fast``.

``conftest.py`` puts this folder on ``sys.path``, so the import works under
every pytest import mode and in every xdist worker.
"""

from types import MappingProxyType

#: A small net trained briefly, seeded: enough to check behaviour, not accuracy.
#: Batch norm and no dropout, the estimators' defaults when these tests were
#: written (the default is now no norm with dropout 0.3, which test_common's
#: scikit-learn checks and test_estimators' default tests cover): the tests'
#: cases (one sample under batch norm, batch size 1, ...) are about batch norm.
#: Read-only, so that no test can change it for the others.
FAST = MappingProxyType(
    {
        "hidden_layer_sizes": (16,),
        "max_epochs": 3,
        "batch_size": 32,
        "random_state": 0,
        "norm": "batch",
        "dropout": 0.0,
    }
)


def fast(**params) -> dict:
    """FAST with some settings changed or added.

    ``NormMLPClassifier(**fast(norm="layer", max_epochs=5))``
    """
    return {**FAST, **params}


#: A small, quick sweep with an ensemble of its two best candidates (as
#: ``result.model`` is when the ensemble wins): ``sweep(X, y, scalings=[...],
#: **SMALL_SWEEP)``.
SMALL_SWEEP = MappingProxyType(
    {
        "cv": 2,
        "norms": ("batch", "layer"),
        "ensemble": 2,
        "curves": False,
        "hidden_layer_sizes": (16,),
        "max_epochs": 3,
        "dropout": 0.0,
    }
)
