"""The planner: optimizer rules, statistics, cost model and engine choice."""
