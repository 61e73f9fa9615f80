import numpy as np
import pytest

from sknorm.datasets import make_loans


def test_make_loans_checks_its_size_and_takes_a_random_state_instance():
    X, y = make_loans(50, random_state=0)
    again, _ = make_loans(50, random_state=np.random.RandomState(0))
    assert X.equals(again) and len(y) == 50
    # numpy's "negative dimensions", a silent int() of 2.7, "10" and True
    with pytest.raises(ValueError, match="n_samples must be at least 1, got -5"):
        make_loans(-5)
    for bad in (2.7, "10", True):
        with pytest.raises(TypeError, match="n_samples must be an int"):
            make_loans(bad)
