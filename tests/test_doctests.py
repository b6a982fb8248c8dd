"""The numpydoc Examples of every logitrank.theory module run as written."""

import doctest
import importlib
import pkgutil

import pytest

import logitrank.theory as theory

MODULES = sorted(m.name for m in pkgutil.iter_modules(theory.__path__, "logitrank.theory."))


@pytest.mark.parametrize("name", MODULES)
def test_theory_doctests(name):
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
