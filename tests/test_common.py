"""scikit-learn's estimator checks, none waived, for every scaling and every norm."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknorm import NORMS, SCALINGS, InputScaler, NormMLPClassifier, NormMLPRegressor

ESTIMATORS = [InputScaler(method) for method in SCALINGS]
ESTIMATORS += [NormMLPClassifier(norm=norm) for norm in NORMS]
ESTIMATORS += [NormMLPRegressor(norm=norm) for norm in NORMS]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
