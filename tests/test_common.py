"""scikit-learn's estimator checks for every scaling and every norm; the few
waived checks are in ``WAIVED``, each with its reason."""

from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknorm import NORMS, SCALINGS, InputScaler, NormMLPClassifier, NormMLPRegressor

ESTIMATORS = [InputScaler(method) for method in SCALINGS]
# The default recipe (early stopping on a held-out 10%, on the checks' tiny
# data too); the epochs are set per check below, to keep the checks quick.
# Every norm behind the classifier; the regressor shares the network, the
# training loop and the norms with it (only the loss and the output differ), so
# it is checked with the default norm and with ghost batch norm, the one whose
# statistics depend on how a batch splits (the whole run stays within the test
# suite's time budget).
ESTIMATORS += [NormMLPClassifier(norm=norm) for norm in NORMS]
ESTIMATORS += [NormMLPRegressor(norm=norm) for norm in ("batch", "ghost")]
# The learned input normalizations (the sweep's "learned_scale" and "plr").
ESTIMATORS += [
    cls(input_embedding=embedding)
    for cls in (NormMLPClassifier, NormMLPRegressor)
    for embedding in ("scale", "periodic")
]

_SAMPLE_WEIGHT_EQUIVALENCE = (
    "weights of 2 equal duplicated rows in the loss, but float32 training "
    "rounds the two sums differently (~1e-6 relative; the check asks 1e-7) and "
    "batch norm's statistics count rows, not weights. scikit-learn's own MLPs "
    "pass it only with their deterministic float64 full-batch solver (lbfgs), "
    "which a mini-batch skorch net has no counterpart of; tests/test_weights.py "
    "checks the equivalence at float32 tolerance."
)

#: Checks the neural-network estimators are expected to fail, with the reason.
WAIVED = {
    "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_EQUIVALENCE,
    "check_sample_weight_equivalence_on_sparse_data": _SAMPLE_WEIGHT_EQUIVALENCE,
}


#: ... and the periodic (PLR) embedding, in addition.
WAIVED_PERIODIC = {
    **WAIVED,
    "check_class_weight_classifiers": (
        "weights of 1000 for class 0 and 1e-4 for the others on 50 noisy, "
        "unscaled blob rows should make nearly every prediction 0 (the check asks "
        "87%); the periodic embedding gives each feature a flexible function of "
        "its own, so the net also fits the other classes' rows, whose loss is "
        "small but not zero, and predicts 0 on 76% of the 3-class test rows "
        "(the plain net: 88%). Class weights are applied as for every other "
        "setting (tests/test_weights.py)."
    ),
}


def _waived(estimator) -> dict:
    if isinstance(estimator, (NormMLPClassifier, NormMLPRegressor)):
        if estimator.input_embedding == "periodic":
            return WAIVED_PERIODIC
        return WAIVED
    return {}


#: The checks that score what the network learned (accuracy, R^2, which
#: classes it predicts) train with ``LEARNING``: at most 40 epochs at a
#: learning rate of 3e-3 instead of 300 at 1e-3 (every norm and embedding
#: passed them 3 times in 3 with unseeded nets, about 1 s a check; at 100
#: epochs and the default rate, 3-5 s). The rest check the API (shapes,
#: dtypes, pickling, sparse input, parameters, fitted state), which a few
#: epochs exercise as well.
LEARNING_CHECKS = {
    "check_classifiers_train",
    "check_regressors_train",
    "check_classifiers_classes",
    "check_class_weight_classifiers",
    "check_class_weight_balanced_classifiers",
}
LEARNING = {"max_epochs": 40, "lr": 3e-3}
API_EPOCHS = 2


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_waived)
def test_sklearn_compatible(estimator, check):
    learning = getattr(check, "func", check).__name__ in LEARNING_CHECKS
    if isinstance(estimator, NormMLPClassifier | NormMLPRegressor):
        params = LEARNING if learning else {"max_epochs": API_EPOCHS}
        estimator = clone(estimator).set_params(**params)
    check(estimator)
