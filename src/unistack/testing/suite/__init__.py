"""The unistack conformance suite: one module per operation family.

Run it on an engine with ``pytest --pyargs unistack.testing.suite --unistack-engine=<name>`` (the
``unistack.testing.plugin`` pytest plugin, installed with unistack, provides the fixtures and markers).
Every test names the docs/semantics.md rules it checks with ``@pytest.mark.semantics(...)``.
"""
