"""The conformance suite for unistack engines (a pytest plugin: ``pytest --pyargs unistack.testing``)."""
