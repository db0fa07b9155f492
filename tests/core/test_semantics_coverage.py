"""docs/semantics.md is the contract: every rule id in it is checked by at least one test, and every id a
test cites exists in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "semantics.md"
TESTS = [p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_semantics_coverage.py"]
ID = re.compile(r"\bS-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*\b(?!-\*)")  # "S-CAST-*" in a docstring is a family, not an id


def _rule_ids() -> list[str]:
    return re.findall(r"^- \*\*(S-[A-Z0-9-]+)\*\*", DOC.read_text(encoding="utf-8"), flags=re.M)


def _cited() -> dict[str, set[str]]:
    cited: dict[str, set[str]] = {}
    for path in TESTS:
        for rule in ID.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(rule, set()).add(path.name)
    return cited


def test_rule_ids_are_unique_and_well_formed() -> None:
    ids = _rule_ids()
    assert len(ids) >= 40
    assert len(ids) == len(set(ids))


def test_every_rule_is_tested() -> None:
    cited = _cited()
    missing = [rule for rule in _rule_ids() if rule not in cited]
    assert missing == [], f"rules of docs/semantics.md no test references: {missing}"


def test_every_cited_rule_exists() -> None:
    unknown = sorted(set(_cited()) - set(_rule_ids()))
    assert unknown == [], f"tests cite rules docs/semantics.md does not define: {unknown}"
