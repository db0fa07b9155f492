"""Optimizer rules: each a small pure function ``PlanNode -> PlanNode`` in its own module."""
