"""Integration tests: the server fixtures live in tests/server_fixtures.py (a plugin for all tests)."""
