"""Fake engines and profiles for the planner tests (no heavy engine is ever started here)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from unistack.backends import registry
from unistack.backends.base import Capabilities, EngineStatus
from unistack.plan import nodes as pn
from unistack.planner.profile import FEATURES, EngineProfile


def make_coef(**values: float) -> dict[str, float]:
    coef = dict.fromkeys(FEATURES, 0.0)
    coef.update(values)
    return coef


@dataclass
class FakeEngine:
    """An engine whose status, capabilities and failures the test controls; it runs plans on Polars."""

    name: str
    warm: bool = True
    cores: int | None = 2
    memory_bytes: int | None = None
    cluster: str | None = None
    unsupported: dict[str, str] = field(default_factory=dict)
    streaming: bool = False
    fail_with: BaseException | None = None
    calls: int = 0
    status_calls: int = 0

    def capabilities(self) -> Capabilities:
        from unistack.backends.polars.compile import implemented_operations

        return Capabilities.from_translator(implemented_operations(), self.unsupported, streaming=self.streaming)

    def status(self) -> EngineStatus:
        self.status_calls += 1
        return EngineStatus(installed=True, warm=self.warm, cores=self.cores, memory_bytes=self.memory_bytes,
                            cluster=self.cluster)

    def execute(self, plan: pn.PlanNode) -> pa.Table:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        return registry.get_engine("polars").execute(plan)

    def explain_native(self, plan: pn.PlanNode) -> str:
        return f"fake plan on {self.name}"


FAST = EngineProfile(make_coef(job=0.001, scan_row=1e-8, agg_row=1e-8, expr_row=1e-9, out_byte=1e-9),
                     parallelism=2, spills=False, memory_factor=2.0)
SLOW = EngineProfile(make_coef(startup=5.0, job=0.2, stage=0.1, scan_row=1e-7, agg_row=1e-7, arrow_in_byte=1e-8,
                               out_byte=1e-8, udf_row=1e-7, udf_cpu=1.0, spill_byte=1e-9),
                     parallelism=2, python_parallel=True, spills=True, memory_factor=2.0)
