"""Optimizer golden tests: a plan's text in, the expected optimized plan text out, for each rule in
``unistack.planner.rules`` on its own and for the full rule sequence.

Every case also runs the plan before and after optimization on the reference engine (Polars) and checks the
rows are the same, so a golden text can never enshrine a wrong rewrite.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pytest

import unistack as us
from unistack.backends.registry import get_engine
from unistack.frame import LazyFrame
from unistack.plan import nodes as pn
from unistack.plan.text import plan_text
from unistack.planner.optimize import RULES, Rule, optimize
from unistack.planner.rules.drop_unused_sorts import drop_unused_sorts
from unistack.planner.rules.fold_constants import fold_constants
from unistack.planner.rules.merge_filters import merge_filters
from unistack.planner.rules.prune_projections import prune_projections
from unistack.planner.rules.push_limits import push_limits
from unistack.planner.rules.push_predicates import push_predicates
from unistack.testing.compare import assert_table_equal


def _source(key: str, table: pa.Table) -> LazyFrame:
    return LazyFrame(pn.Scan(pn.InMemorySource(table, key=key)))


ORDERS = _source("orders", pa.table({
    "id": [1, 2, 3, 4, 5, 6],
    "cust": [1, 2, None, 3, 1, 2],
    "amount": [5.0, 25.0, 30.0, None, 50.0, 1.0],
    "note": ["a", "b", "a", None, "c", "a"],
}))
CUST = _source("cust", pa.table({"cust": [1, 2, 3, None], "name": ["Ann", "Bo", "Cy", "Di"],
                                 "city": ["Oslo", "Rome", "Oslo", None]}))
NULLS = _source("nulls", pa.table({"n": pa.nulls(2), "a": [1, 2]}))
NUL = "Scan arrow table nulls (2 rows)"
ORD = "Scan arrow table orders (6 rows)"
CUS = "Scan arrow table cust (4 rows)"


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], LazyFrame]
    rules: tuple[Rule, ...]
    before: str
    after: str


def _t(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


CASES = [
    # -- fold_constants ---------------------------------------------------------------------------------
    Case("fold arithmetic in a predicate", lambda: ORDERS.filter(us.col("amount") > us.lit(1) + 2), (fold_constants,),
         f"""
         Filter amount > (1 + 2)
           {ORD} [4 cols]""",
         f"""
         Filter amount > 3
           {ORD} [4 cols]"""),
    Case("fold true conjunct away", lambda: ORDERS.filter((us.lit(1) < 2) & (us.col("id") > 2)), (fold_constants,),
         f"""
         Filter (1 < 2) & (id > 2)
           {ORD} [4 cols]""",
         f"""
         Filter id > 2
           {ORD} [4 cols]"""),
    Case("fold false disjunct away", lambda: ORDERS.filter((us.col("id") > 2) | (us.lit(1) > 2)), (fold_constants,),
         f"""
         Filter (id > 2) | (1 > 2)
           {ORD} [4 cols]""",
         f"""
         Filter id > 2
           {ORD} [4 cols]"""),
    Case("always-true filter disappears", lambda: ORDERS.filter(us.lit(2) >= 1), (fold_constants,),
         f"""
         Filter 2 >= 1
           {ORD} [4 cols]""",
         f"""
         {ORD} [4 cols]"""),
    Case("fold division by zero to null and floor modulo", lambda: ORDERS.select(
        x=us.lit(1) // 0, y=us.lit(-7) % 2, z=us.lit(1.0) / 4, w=us.lit(7) / 0), (fold_constants,),
         f"""
         Select [1 // 0 AS x, -7 % 2 AS y, 1.0 / 4 AS z, 7 / 0 AS w]
           {ORD} [4 cols]""",
         f"""
         Select [null AS x, 1 AS y, 0.25 AS z, null AS w]
           {ORD} [4 cols]"""),
    Case("overflow is left to the engine", lambda: ORDERS.select(x=us.lit(2**63 - 1) + 1), (fold_constants,),
         f"""
         Select [9223372036854775807 + 1 AS x]
           {ORD} [4 cols]""",
         f"""
         Select [9223372036854775807 + 1 AS x]
           {ORD} [4 cols]"""),
    Case("NaN comparisons fold with NaN equal to NaN and above numbers",
         lambda: ORDERS.select(a=us.lit(float("nan")) == float("nan"), b=us.lit(float("nan")) > 1e300,
                               c=us.lit(float("nan")) < 0.0), (fold_constants,),
         f"""
         Select [nan == nan AS a, nan > 1e+300 AS b, nan < 0.0 AS c]
           {ORD} [4 cols]""",
         f"""
         Select [true AS a, true AS b, false AS c]
           {ORD} [4 cols]"""),
    Case("a null-typed operand is not folded out of a boolean", lambda: NULLS.select(x=us.col("n") & True,
                                                                                     y=us.col("n") | False),
         (fold_constants,),
         f"""
         Select [n & true AS x, n | false AS y]
           {NUL} [2 cols]""",
         f"""
         Select [n & true AS x, n | false AS y]
           {NUL} [2 cols]"""),
    # -- merge_filters -----------------------------------------------------------------------------------
    Case("merge two filters", lambda: ORDERS.filter(us.col("id") > 1).filter(us.col("amount") < 40), (merge_filters,),
         f"""
         Filter amount < 40
           Filter id > 1
             {ORD} [4 cols]""",
         f"""
         Filter (id > 1) & (amount < 40)
           {ORD} [4 cols]"""),
    Case("merge three filters in order", lambda: ORDERS.filter(us.col("id") > 1).filter(us.col("amount") < 40).filter(
        us.col("note") == "a"), (merge_filters,),
         f"""
         Filter note == 'a'
           Filter amount < 40
             Filter id > 1
               {ORD} [4 cols]""",
         f"""
         Filter ((id > 1) & (amount < 40)) & (note == 'a')
           {ORD} [4 cols]"""),
    # -- push_predicates ---------------------------------------------------------------------------------
    Case("push through a projection, substituting the expression",
         lambda: ORDERS.select("id", a2=us.col("amount") * 2).filter(us.col("a2") > 30), (push_predicates,),
         f"""
         Filter a2 > 30
           Select [id, amount * 2 AS a2]
             {ORD} [4 cols]""",
         f"""
         Select [id, amount * 2 AS a2]
           {ORD} [4 cols] filter (amount * 2) > 30"""),
    Case("push through a rename", lambda: ORDERS.rename({"id": "key"}).filter(us.col("key") > 4), (push_predicates,),
         f"""
         Filter key > 4
           Select [id AS key, cust, amount, note]
             {ORD} [4 cols]""",
         f"""
         Select [id AS key, cust, amount, note]
           {ORD} [4 cols] filter id > 4"""),
    Case("push below a sort", lambda: ORDERS.sort("id").filter(us.col("id") > 1), (push_predicates,),
         f"""
         Filter id > 1
           Sort [id]
             {ORD} [4 cols]""",
         f"""
         Sort [id]
           {ORD} [4 cols] filter id > 1"""),
    Case("never below a limit", lambda: ORDERS.sort("id").limit(3).filter(us.col("id") > 1), (push_predicates,),
         f"""
         Filter id > 1
           Limit 3
             Sort [id]
               {ORD} [4 cols]""",
         f"""
         Filter id > 1
           Limit 3
             Sort [id]
               {ORD} [4 cols]"""),
    Case("only group-key conditions go below an aggregate",
         lambda: ORDERS.group_by("cust").agg(us.col("amount").sum()).filter(
             (us.col("cust") > 1) & (us.col("amount") > 10)), (push_predicates,),
         f"""
         Filter (cust > 1) & (amount > 10)
           Aggregate by [cust] [sum(amount)]
             {ORD} [4 cols]""",
         f"""
         Filter amount > 10
           Aggregate by [cust] [sum(amount)]
             {ORD} [4 cols] filter cust > 1"""),
    Case("split into both sides of an inner join",
         lambda: ORDERS.join(CUST, on="cust").filter(
             (us.col("amount") > 1) & (us.col("city") == "Oslo") & (us.col("cust") < 3)), (push_predicates,),
         f"""
         Filter ((amount > 1) & (city == 'Oslo')) & (cust < 3)
           Join inner cust = cust
             {ORD} [4 cols]
             {CUS} [3 cols]""",
         f"""
         Join inner cust = cust
           {ORD} [4 cols] filter amount > 1 AND cust < 3
           {CUS} [3 cols] filter city == 'Oslo'"""),
    Case("not into the null-extended side of a left join",
         lambda: ORDERS.join(CUST, on="cust", how="left").filter(
             (us.col("amount") > 1) & us.col("city").is_null()), (push_predicates,),
         f"""
         Filter (amount > 1) & is_null(city)
           Join left cust = cust
             {ORD} [4 cols]
             {CUS} [3 cols]""",
         f"""
         Filter is_null(city)
           Join left cust = cust
             {ORD} [4 cols] filter amount > 1
             {CUS} [3 cols]"""),
    Case("into every input of a union", lambda: us.concat([ORDERS, ORDERS]).filter(us.col("id") > 4),
         (push_predicates,),
         f"""
         Filter id > 4
           Union all (2 inputs)
             {ORD} [4 cols]
             {ORD} [4 cols]""",
         f"""
         Union all (2 inputs)
           {ORD} [4 cols] filter id > 4
           {ORD} [4 cols] filter id > 4"""),
    Case("never below a window", lambda: ORDERS.with_columns(s=us.col("amount").sum().over("cust")).filter(
        us.col("id") > 1), (push_predicates,),
         f"""
         Filter id > 1
           Select [id, cust, amount, note, sum(amount) OVER (partition by cust) AS s]
             {ORD} [4 cols]""",
         f"""
         Filter id > 1
           Select [id, cust, amount, note, sum(amount) OVER (partition by cust) AS s]
             {ORD} [4 cols]"""),
    Case("never below a distinct on a subset", lambda: ORDERS.distinct("cust").filter(us.col("cust") > 1).select(
        "cust"), (push_predicates,),
         f"""
         Select [cust]
           Filter cust > 1
             Distinct on [cust]
               {ORD} [4 cols]""",
         f"""
         Select [cust]
           Filter cust > 1
             Distinct on [cust]
               {ORD} [4 cols]"""),
    # -- prune_projections -------------------------------------------------------------------------------
    Case("scan reads only used columns", lambda: ORDERS.filter(us.col("amount") > 1).select("id"),
         (prune_projections,),
         f"""
         Select [id]
           Filter amount > 1
             {ORD} [4 cols]""",
         f"""
         Select [id]
           Filter amount > 1
             {ORD} [2 of 4 cols: id, amount]"""),
    Case("both join inputs pruned, keys kept", lambda: ORDERS.join(CUST, on="cust").select("id", "name"),
         (prune_projections,),
         f"""
         Select [id, name]
           Join inner cust = cust
             {ORD} [4 cols]
             {CUS} [3 cols]""",
         f"""
         Select [id, name]
           Join inner cust = cust
             {ORD} [2 of 4 cols: id, cust]
             {CUS} [2 of 3 cols: cust, name]"""),
    Case("unused aggregates dropped",
         lambda: ORDERS.group_by("cust").agg(s=us.col("amount").sum(), n=us.count()).select("cust", "s"),
         (prune_projections,),
         f"""
         Select [cust, s]
           Aggregate by [cust] [sum(amount) AS s, count() AS n]
             {ORD} [4 cols]""",
         f"""
         Select [cust, s]
           Aggregate by [cust] [sum(amount) AS s]
             {ORD} [2 of 4 cols: cust, amount]"""),
    Case("a count still reads one column", lambda: ORDERS.select(us.count()), (prune_projections,),
         f"""
         Aggregate [count()]
           {ORD} [4 cols]""",
         f"""
         Aggregate [count()]
           {ORD} [1 of 4 cols: id]"""),
    Case("a full distinct keeps every input column", lambda: ORDERS.distinct().select("cust"), (prune_projections,),
         f"""
         Select [cust]
           Distinct
             {ORD} [4 cols]""",
         f"""
         Select [cust]
           Distinct
             {ORD} [4 cols]"""),
    Case("a user function sees its whole input", lambda: ORDERS.map_batches(lambda b: b, ORDERS.schema,
                                                                            name="ident").select("id"),
         (prune_projections,),
         f"""
         Select [id]
           MapBatches ident -> [id, cust, amount, note]
             {ORD} [4 cols]""",
         f"""
         Select [id]
           MapBatches ident -> [id, cust, amount, note]
             {ORD} [4 cols]"""),
    # -- drop_unused_sorts --------------------------------------------------------------------------------
    Case("sorts below a union go, through row-wise nodes",
         lambda: us.concat([ORDERS.sort("id"), ORDERS.sort("amount").filter(us.col("id") > 2)
                           .select("id", "cust", "amount", "note")]), (drop_unused_sorts,),
         f"""
         Union all (2 inputs)
           Sort [id]
             {ORD} [4 cols]
           Select [id, cust, amount, note]
             Filter id > 2
               Sort [amount]
                 {ORD} [4 cols]""",
         f"""
         Union all (2 inputs)
           {ORD} [4 cols]
           Select [id, cust, amount, note]
             Filter id > 2
               {ORD} [4 cols]"""),
    Case("sorts below a join and a sum go", lambda: ORDERS.sort("amount").join(CUST.sort("name"), on="cust")
         .group_by("city").agg(us.col("amount").sum()), (drop_unused_sorts,),
         f"""
         Aggregate by [city] [sum(amount)]
           Join inner cust = cust
             Sort [amount]
               {ORD} [4 cols]
             Sort [name]
               {CUS} [3 cols]""",
         f"""
         Aggregate by [city] [sum(amount)]
           Join inner cust = cust
             {ORD} [4 cols]
             {CUS} [3 cols]"""),
    Case("a sort stays below first(), a limit and a window", lambda: us.concat([
        ORDERS.sort("amount").group_by("cust").agg(us.col("note").first()).select("note"),
        ORDERS.sort("id").limit(2).select("note"),
        ORDERS.sort("id").with_columns(s=us.col("id").cum_sum().over(order_by="amount")).select("note")]),
         (drop_unused_sorts,),
         f"""
         Union all (3 inputs)
           Select [note]
             Aggregate by [cust] [first(note)]
               Sort [amount]
                 {ORD} [4 cols]
           Select [note]
             Limit 2
               Sort [id]
                 {ORD} [4 cols]
           Select [note]
             Select [id, cust, amount, note, cum_sum(id) OVER (order by amount) AS s]
               Sort [id]
                 {ORD} [4 cols]""",
         f"""
         Union all (3 inputs)
           Select [note]
             Aggregate by [cust] [first(note)]
               Sort [amount]
                 {ORD} [4 cols]
           Select [note]
             Limit 2
               Sort [id]
                 {ORD} [4 cols]
           Select [note]
             Select [id, cust, amount, note, cum_sum(id) OVER (order by amount) AS s]
               Sort [id]
                 {ORD} [4 cols]"""),
    # -- push_limits -------------------------------------------------------------------------------------
    Case("limit into the scan through a projection", lambda: ORDERS.select("id", a2=us.col("amount") * 2).limit(2),
         (push_limits,),
         f"""
         Limit 2
           Select [id, amount * 2 AS a2]
             {ORD} [4 cols]""",
         f"""
         Select [id, amount * 2 AS a2]
           {ORD} [4 cols] limit 2"""),
    Case("stacked limits merge", lambda: ORDERS.limit(10).limit(3), (push_limits,),
         f"""
         Limit 3
           Limit 10
             {ORD} [4 cols]""",
         f"""
         {ORD} [4 cols] limit 3"""),
    Case("never below a sort", lambda: ORDERS.sort("id").limit(3), (push_limits,),
         f"""
         Limit 3
           Sort [id]
             {ORD} [4 cols]""",
         f"""
         Limit 3
           Sort [id]
             {ORD} [4 cols]"""),
    Case("into each union input and kept above", lambda: us.concat([ORDERS, ORDERS]).limit(3), (push_limits,),
         f"""
         Limit 3
           Union all (2 inputs)
             {ORD} [4 cols]
             {ORD} [4 cols]""",
         f"""
         Limit 3
           Union all (2 inputs)
             {ORD} [4 cols] limit 3
             {ORD} [4 cols] limit 3"""),
    Case("never below a filter", lambda: ORDERS.filter(us.col("id") > 1).limit(3), (push_limits,),
         f"""
         Limit 3
           Filter id > 1
             {ORD} [4 cols]""",
         f"""
         Limit 3
           Filter id > 1
             {ORD} [4 cols]"""),
    # -- every rule together -----------------------------------------------------------------------------
    Case("join, filters, projection and limit", lambda: ORDERS.join(CUST, on="cust").filter(
        us.col("city") == "Oslo").filter(us.col("amount") > us.lit(10) * 2).select("id", "name").limit(5), RULES,
         f"""
         Limit 5
           Select [id, name]
             Filter amount > (10 * 2)
               Filter city == 'Oslo'
                 Join inner cust = cust
                   {ORD} [4 cols]
                   {CUS} [3 cols]""",
         f"""
         Select [id, name]
           Limit 5
             Join inner cust = cust
               {ORD} [3 of 4 cols: id, cust, amount] filter amount > 20
               {CUS} [3 cols] filter city == 'Oslo'"""),
    Case("filters merged into the scan, limit stays above it", lambda: ORDERS.filter(us.col("id") > 0).select(
        "id", "amount").filter(us.col("amount") > 1).limit(3), RULES,
         f"""
         Limit 3
           Filter amount > 1
             Select [id, amount]
               Filter id > 0
                 {ORD} [4 cols]""",
         f"""
         Select [id, amount]
           Limit 3
             {ORD} [2 of 4 cols: id, amount] filter id > 0 AND amount > 1"""),
    Case("aggregate over a filtered join, sorted", lambda: ORDERS.join(CUST, on="cust", how="left").filter(
        us.col("note") != "c").group_by("city").agg(total=us.col("amount").sum()).filter(
        us.col("city").is_not_null()).sort("city"), RULES,
         f"""
         Sort [city]
           Filter is_not_null(city)
             Aggregate by [city] [sum(amount) AS total]
               Filter note != 'c'
                 Join left cust = cust
                   {ORD} [4 cols]
                   {CUS} [3 cols]""",
         f"""
         Sort [city]
           Aggregate by [city] [sum(amount) AS total]
             Filter is_not_null(city)
               Join left cust = cust
                 {ORD} [3 of 4 cols: cust, amount, note] filter note != 'c'
                 {CUS} [2 of 3 cols: cust, city]"""),
    Case("always-true filter removed before pruning", lambda: ORDERS.filter(us.lit(1) == 1).select("note").limit(1),
         RULES,
         f"""
         Limit 1
           Select [note]
             Filter 1 == 1
               {ORD} [4 cols]""",
         f"""
         Select [note]
           {ORD} [1 of 4 cols: note] limit 1"""),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case) -> None:
    frame = case.build()
    assert plan_text(frame.plan) == _t(case.before)
    optimized = optimize(frame.plan, case.rules)
    assert plan_text(optimized) == _t(case.after)
    assert optimized.schema.equals(frame.plan.schema)
    engine = get_engine("polars")
    before, after = engine.execute(frame.plan), engine.execute(optimized)
    # ordered only when the plan ends in a sort; a limit without a sort may pick other rows
    if not any(isinstance(n, pn.Limit) for n in frame.plan.walk()) or isinstance(frame.plan, pn.Sort):
        assert_table_equal(after, before, ordered=isinstance(frame.plan, pn.Sort))
    else:
        assert after.num_rows == before.num_rows


def test_every_rule_has_a_golden_case() -> None:
    covered = {rule for case in CASES for rule in case.rules if len(case.rules) == 1}
    assert covered == set(RULES)


def test_optimize_is_idempotent_on_the_golden_plans() -> None:
    for case in CASES:
        once = optimize(case.build().plan)
        assert plan_text(optimize(once)) == plan_text(once), case.name
