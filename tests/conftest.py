"""Shared pytest configuration: fixture modules live in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.redis",
    "tests.fixtures.gateway",
    "tests.fixtures.budgets",
]
