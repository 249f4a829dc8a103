"""Shared pytest configuration: fixture modules live in tests/fixtures/."""

import importlib.util

# TEMPORARY during parallel development: plugins are listed once their module exists.
pytest_plugins = [
    name
    for name in ("tests.fixtures.emulator", "tests.fixtures.redis", "tests.fixtures.gateway")
    if importlib.util.find_spec(name) is not None
]
