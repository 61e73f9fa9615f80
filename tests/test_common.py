"""scikit-learn's estimator checks, none waived, for every scaling and every norm."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknorm import InputScaler, NormMLPClassifier, NormMLPRegressor
from sknorm._norms import NORMS
from sknorm._scalers import SCALINGS

ESTIMATORS = [InputScaler(method) for method in SCALINGS]
ESTIMATORS += [NormMLPClassifier(norm=norm) for norm in NORMS]
ESTIMATORS += [NormMLPRegressor(norm=norm) for norm in NORMS]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
