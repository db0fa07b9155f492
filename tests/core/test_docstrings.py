"""The examples in the docstrings run and are right; every public name documents itself with an example."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import unistack as us
import unistack.plan
import unistack.planner.rules

MODULES = [
    "unistack",
    "unistack.expr",
    "unistack.frame",
    "unistack.io",
    "unistack.config",
    "unistack.errors",
    "unistack.explain",
    *sorted(f"unistack.plan.{m.name}" for m in pkgutil.iter_modules(unistack.plan.__path__)),
    "unistack.planner.optimize",
    "unistack.planner.cost",
    "unistack.execution",
    "unistack.backends.persist",
    "unistack.backends.base",
    *sorted(f"unistack.planner.rules.{m.name}" for m in pkgutil.iter_modules(unistack.planner.rules.__path__)),
    "unistack.testing.compare",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {name}"


def test_core_modules_are_all_listed() -> None:
    assert {"unistack.plan.exprs", "unistack.plan.nodes", "unistack.plan.types", "unistack.plan.typecheck",
            "unistack.planner.rules.push_predicates", "unistack.planner.rules.fold_constants"} <= set(MODULES)


PUBLIC = [name for name in us.__all__ if inspect.isclass(getattr(us, name)) or inspect.isfunction(getattr(us, name))]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_has_a_docstring_with_an_example(name: str) -> None:
    obj = getattr(us, name)
    doc = inspect.getdoc(obj) or ""
    if inspect.isclass(obj) and issubclass(obj, BaseException) and obj is not us.UnistackError:
        # error classes document when they are raised; UnistackError carries the example for all of them
        doc = doc + (inspect.getdoc(us.UnistackError) or "")
    assert ">>>" in doc, f"us.{name} has no docstring example"


def test_public_api_is_complete() -> None:
    for name in ["read_parquet", "read_csv", "read_json", "from_arrow", "from_pandas", "from_polars", "from_dict",
                 "col", "lit", "when", "count", "concat_str", "row_number", "rank", "concat", "explain", "LazyFrame",
                 "Expr"]:
        assert name in us.__all__, name
