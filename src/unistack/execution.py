"""Running a plan: optimize, choose an engine, execute, check the result's schema."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from unistack.backends.base import require_supported
from unistack.backends.registry import get_engine
from unistack.errors import EngineError, UnistackError
from unistack.plan.nodes import PlanNode
from unistack.planner.choose import choose
from unistack.planner.optimize import optimize


def execute(plan: PlanNode, engine: str | None = None) -> pa.Table:
    """Optimize ``plan``, run it on the chosen engine and return its result as Arrow."""
    optimized = optimize(plan)
    choice = choose(optimized, engine)
    eng = get_engine(choice.engine)
    require_supported(eng, optimized)
    try:
        table = eng.execute(optimized)
    except UnistackError:
        raise
    except Exception as e:  # an engine bug or crash: never a raw traceback
        raise EngineError(eng.name, f"{type(e).__name__}: {e}") from e
    if not table.schema.equals(plan.schema):
        raise EngineError(
            eng.name, f"returned schema {table.schema} instead of the plan's {plan.schema} (a bug in the engine)"
        )
    return table


def execute_batches(plan: PlanNode, engine: str | None = None, max_chunksize: int | None = None
                    ) -> Iterator[pa.RecordBatch]:
    """Run ``plan`` and yield its result as record batches."""
    table = execute(plan, engine)
    yield from table.to_batches(max_chunksize=max_chunksize)
