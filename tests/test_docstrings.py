"""Every public class and function documents exactly the parameters of its
signature, in order (numpydoc's parser, as imbalanced-learn's test does)."""

import dataclasses
import inspect

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc

import sknorm
import sknorm.callbacks
import sknorm.diagnostics
import sknorm.exceptions
import sknorm.nn

PUBLIC_MODULES = [sknorm, sknorm.nn, sknorm.callbacks, sknorm.diagnostics]


def _public_objects():
    seen = set()
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and id(
                obj
            ) not in seen:
                seen.add(id(obj))
                yield pytest.param(obj, id=f"{module.__name__}.{name}")


def _documented(doc, section: str) -> list[str]:
    names = []
    for entry in doc[section]:
        names += [n.strip().lstrip("*") for n in entry.name.split(",")]
    return names


@pytest.mark.parametrize("obj", list(_public_objects()))
def test_docstring_documents_the_signature(obj):
    if inspect.isclass(obj):
        doc = ClassDoc(obj)
        if dataclasses.is_dataclass(obj):  # fields are documented as Attributes
            fields = [f.name for f in dataclasses.fields(obj)]
            assert _documented(doc, "Attributes")[: len(fields)] == fields
            return
        signature = inspect.signature(obj.__init__)
    else:
        doc = FunctionDoc(obj)
        signature = inspect.signature(obj)
    params = [p for p in signature.parameters if p != "self"]
    assert _documented(doc, "Parameters") == params


@pytest.mark.parametrize(
    "estimator", [sknorm.NormMLPClassifier, sknorm.NormMLPRegressor]
)
def test_the_estimators_share_their_parameters_and_defaults(estimator):
    # Each estimator's signature is the shared one, same defaults, then its own.
    from sknorm._estimators import _BaseNormMLP

    shared = inspect.signature(_BaseNormMLP).parameters
    own = inspect.signature(estimator).parameters
    assert list(own)[: len(shared)] == list(shared)
    for name, param in shared.items():
        assert (own[name].default, own[name].kind) == (param.default, param.kind)
